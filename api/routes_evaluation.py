"""``/api/v1/evaluations``: the yearly evaluation for the caller's communes.

``GET /api/v1/evaluations/{year}`` computes the figures of the communes in the caller's
scope (narrowed with ``district`` or ``commune``) and records the result's SHA-256 when it
differs from the last record of that scope (``record``, ``previous_sha256``, ``changed``
in the answer). Read-only tokens (the scoring system) may call every route here. Exports
(CSV, XLSX, PDF) are the same figures as files; ``/records`` lists what was recorded and
``/records/{id}`` gives a recorded document exactly as it was computed.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.engine import Connection

from api.auth import Principal
from api.deps import Caller, ReadConn, RowId, Settings, WriteConn
from api.errors import ApiError, BadRequest, NotFound
from api.evaluation.compute import evaluate
from api.evaluation.figures import COMMUNE
from api.evaluation.period import PeriodError, period_for
from api.evaluation.result import record, records, stored
from api.evaluation.rubric import Rubric
from api.evaluation.schema import Evaluation, json_schema
from api.settings import ApiSettings
from collector.yaml_rules import RulesError

router = APIRouter(prefix="/api/v1", tags=["evaluations"])
Year = Annotated[int, Path(ge=2000, le=2100, description="The year the period ends in.")]
District = Annotated[str | None, Query(pattern=r"^[0-9]{3}$", description="3-digit code.")]
Communes = Annotated[
    list[str] | None, Query(description="5-digit codes (repeat the parameter).", max_length=500)
]
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


class RubricError(ApiError):
    """500: the configured rubric file cannot be used."""

    status = 500
    code = "rubric_invalid"


def _scope(
    conn: Connection, caller: Principal, district: str | None, communes: list[str] | None
) -> tuple[list[str] | None, str]:
    """The communes to evaluate (None: all) and the scope's name for the record."""
    asked: set[str] | None = None
    name = "all"
    if communes:
        bad = [c for c in communes if len(c) != 5 or not c.isdigit()]
        if bad:
            raise BadRequest(
                f"Mã xã sai: {bad[0]}", f"Bad commune code: {bad[0]}", "5 chữ số / 5 digits"
            )
        asked, name = set(communes), "communes:" + ",".join(sorted(set(communes)))
    if district:
        codes = set(conn.scalars(select(COMMUNE.c.code).where(COMMUNE.c.district_code == district)))
        asked, name = (codes if asked is None else asked & codes), f"district:{district}"
    if caller.communes is not None:
        asked = set(caller.communes) if asked is None else asked & caller.communes
        if name == "all" or not asked <= set(caller.communes):
            name = "communes:" + ",".join(sorted(asked))
    if len(name) > 200:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = f"communes:{len(asked or ())}:{digest}"
    return (None if asked is None else sorted(asked)), name


def compute(
    conn: Connection,
    settings: ApiSettings,
    caller: Principal,
    year: int,
    district: str | None = None,
    communes: list[str] | None = None,
) -> Evaluation:
    """Compute (and record) the evaluation of ``year`` for the caller's scope."""
    try:
        period = period_for(year, settings.evaluation_period_start)
    except PeriodError as exc:
        raise BadRequest(
            "Kỳ đánh giá sai.", str(exc), "CAMNET_API_EVALUATION_PERIOD_START"
        ) from exc
    try:
        rubric = Rubric.load(settings.evaluation_rubric)
    except RulesError as exc:
        raise RubricError(
            "Tệp thang điểm có lỗi.", str(exc), "camnet evaluate --check-config --rubric FILE"
        ) from exc
    scope, name = _scope(conn, caller, district, communes)
    if scope == []:
        raise NotFound("commune", ",".join(communes or [district or ""]))
    result = evaluate(conn, period, rubric, scope=scope, scope_name=name)
    return record(conn, result, "api", only_if_changed=True)


@router.get("/evaluations/schema.json")
def evaluation_schema() -> dict[str, Any]:
    """The JSON Schema of the evaluation (also published as docs/evaluation.schema.json)."""
    return json_schema()


@router.get("/evaluations/records/{record_id}")
def get_record(caller: Caller, conn: ReadConn, record_id: RowId) -> Any:
    """A recorded evaluation exactly as it was computed (its sha256 can be checked)."""
    doc = stored(conn, record_id)
    if doc is None or not _visible(caller, doc.get("communes", [])):
        raise NotFound("evaluation record", record_id)
    return doc


@router.get("/evaluations/{year}/records")
def list_records(caller: Caller, conn: ReadConn, year: Year) -> list[dict[str, Any]]:
    """Results recorded for ``year``, newest first (ids, scopes, digests)."""
    rows = records(conn, year)
    if caller.communes is None:
        return rows
    out = []
    for row in rows:
        doc = stored(conn, row["id"])
        if doc is not None and _visible(caller, doc.get("communes", [])):
            out.append(row)
    return out


def _visible(caller: Principal, communes: list[dict[str, Any]]) -> bool:
    return all(caller.sees(c["code"]) for c in communes)


@router.get("/evaluations/{year}", response_model=Evaluation)
def get_evaluation(
    caller: Caller,
    conn: WriteConn,
    settings: Settings,
    year: Year,
    district: District = None,
    commune: Communes = None,
) -> Evaluation:
    """Per-commune figures of the evaluation period ending in ``year``, scored."""
    return compute(conn, settings, caller, year, district, commune)


@router.get("/evaluations/{year}/export.{fmt}")
def export(
    caller: Caller,
    conn: WriteConn,
    settings: Settings,
    year: Year,
    fmt: Literal["csv", "xlsx", "pdf", "json"],
    district: District = None,
    commune: Communes = None,
) -> Response:
    """The same figures as a file: CSV, XLSX, PDF (printable report) or JSON."""
    result = compute(conn, settings, caller, year, district, commune)
    name = f"danh-gia-camera-{year}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "X-SHA256": result.sha256}
    if fmt == "json":
        body = json.dumps(result.model_dump(mode="json", by_alias=True), ensure_ascii=False)
        return Response(body.encode(), media_type="application/json", headers=headers)
    if fmt == "csv":
        import io

        from api.evaluation.tables import write_csv

        buf = io.StringIO()
        write_csv(result, buf)
        return Response(buf.getvalue().encode(), media_type=MEDIA[fmt], headers=headers)
    with tempfile.TemporaryDirectory(prefix="camnet-eval-") as tmp:
        path = FilePath(tmp) / name
        if fmt == "xlsx":
            from api.evaluation.tables import write_xlsx

            write_xlsx(result, path)
        else:
            from api.evaluation.pdf import write_pdf
            from api.evaluation.pdf_map import load_maps

            write_pdf(result, path, load_maps(conn, result))
        return Response(path.read_bytes(), media_type=MEDIA[fmt], headers=headers)
