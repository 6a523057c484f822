"""The rows behind an evaluation, exported so that anyone can check and recompute it.

:func:`write_evidence` writes, for the communes of the evaluation (merged old communes
included), the database rows its figures were computed from:

* ``communes.csv`` — the communes read (old ones too) and the code each is reported under;
* ``cameras.csv`` — the cameras registered in those communes;
* ``intervals.csv`` — their status intervals overlapping ``[period start, data_until)``;
* ``tasks.csv`` — the repair tasks that touch the period (as the evaluation selects them);
* ``key_areas.csv`` — the key areas (GeoJSON) the coverage was measured on;
* ``evaluation.json`` — the result; ``manifest.json`` — SHA-256, rows (data rows; for
  ``evaluation.json`` its communes) and bytes of each file, and how to recompute.

Rows are sorted (by id; intervals by camera and start) and streamed from the database, so
a province-year with millions of intervals never sits in memory. Times are ISO 8601 UTC;
an empty cell is NULL (an open interval, a task not fixed).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, Table, and_, or_, select
from sqlalchemy.engine import Connection

from api.evaluation import figures
from api.evaluation.period import EvalPeriod
from api.evaluation.result import to_json
from api.evaluation.schema import Evaluation
from collector.models import Camera, KeyArea, StatusInterval
from collector.models_ops import RepairTask

CAMERA: Table = Camera.__table__  # type: ignore[attr-defined]
INTERVAL: Table = StatusInterval.__table__  # type: ignore[attr-defined]
KEY_AREA: Table = KeyArea.__table__  # type: ignore[attr-defined]
TASK: Table = RepairTask.__table__  # type: ignore[attr-defined]
BATCH = 10_000  # rows fetched from the database at a time
HOW = (
    "Cách tính lại: mỗi khoảng trạng thái (intervals.csv) chỉ tính phần nằm trong "
    "[period_start, data_until) và trong thời gian lắp đặt camera (cameras.csv, ngày giờ "
    "Việt Nam UTC+7); camera của xã cũ tính cho xã mới (communes.csv, reported_code). "
    "Hoặc nạp các tệp vào CSDL camnet trống, chạy `camnet evaluate --year {year}` với cùng "
    "thang điểm, phạm vi ({scope}) và data_until: result_sha256 phải trùng. "
    "How to recompute: each status interval counts only inside [period_start, data_until) "
    "and the camera's installation (local dates, UTC+7); cameras of an old commune count "
    "for the commune it merged into (communes.csv, reported_code). Or load the files into "
    "an empty camnet database and run `camnet evaluate --year {year}` with the same rubric, "
    "scope ({scope}) and data_until: result_sha256 must match. Check a file: sha256sum FILE."
)


def _cell(value: Any) -> str:
    """CSV text of a database value: ISO UTC times, empty for NULL."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _write_rows(path: Path, header: list[str], rows: Iterable[Iterable[Any]]) -> int:
    """Write a UTF-8 CSV with ``header``; returns the number of data rows."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(v) for v in row])
            count += 1
    return count


def _stream(conn: Connection, query: Select[Any]) -> Iterable[Any]:
    """The rows of ``query``, fetched :data:`BATCH` at a time (server-side on PostgreSQL)."""
    with conn.execution_options(yield_per=BATCH).execute(query) as result:
        yield from result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _communes(conn: Connection, final: dict[str, str]) -> Iterable[list[Any]]:
    c = figures.COMMUNE.c
    query = (
        select(
            c.code, c.name, c.province_code, c.district_code, c.valid_from, c.valid_to,
            c.merged_into,
        )
        .where(c.code.in_(list(final)))
        .order_by(c.code)
    )  # fmt: skip
    for row in _stream(conn, query):
        yield [*row, final[row.code]]


def _cameras(conn: Connection, final: dict[str, str]) -> Iterable[list[Any]]:
    c = CAMERA.c
    query = (
        select(
            c.id, c.commune_code, c.installed_on, c.removed_on, c.lat, c.lon, c.heading,
            c.fov, c.range_m, c.priority,
        )
        .where(c.commune_code.in_(list(final)))
        .order_by(c.id)
    )  # fmt: skip
    for row in _stream(conn, query):
        yield [row.id, row.commune_code, final[row.commune_code], *row[2:]]


def _intervals(period: EvalPeriod, until: datetime, final: dict[str, str]) -> Select[Any]:
    c, i = CAMERA.c, INTERVAL.c
    return (
        select(i.id, i.camera_id, i.status, i.faults, i.cause, i.start, i.end)
        .select_from(INTERVAL.join(CAMERA, c.id == i.camera_id))
        .where(
            c.commune_code.in_(list(final)),
            i.start < until,
            or_(i.end.is_(None), i.end > period.start),
        )
        .order_by(i.camera_id, i.start)
    )


def _tasks(period: EvalPeriod, until: datetime, final: dict[str, str]) -> Select[Any]:
    """The tasks :func:`api.evaluation.figures.tasks` reads, every column that matters."""
    t = TASK.c
    return (
        select(
            t.id, t.kind, t.camera_id, t.site_id, t.commune_code, t.state, t.problem,
            t.priority, t.failed_at, t.opened_at, t.deadline, t.fixed_at, t.closed_at,
        )
        .where(
            t.commune_code.in_(list(final)),
            t.opened_at < until,
            or_(
                t.closed_at.is_(None),
                t.closed_at >= period.start,
                t.deadline >= period.start,
                and_(t.fixed_at.is_not(None), t.fixed_at >= period.start),
            ),
        )
        .order_by(t.id)
    )  # fmt: skip


def _key_areas(final: dict[str, str]) -> Select[Any]:
    k = KEY_AREA.c
    return (
        select(k.id, k.commune_code, k.kind, k.name, k.weight, k.geometry)
        .where(k.commune_code.in_(list(final)))
        .order_by(k.id)
    )


def write_evidence(conn: Connection, evaluation: Evaluation, directory: Path) -> Path:
    """Write the rows behind ``evaluation`` and a manifest of them into ``directory``.

    Args:
        conn: The database the evaluation was computed from.
        evaluation: The computed evaluation (its communes, period and ``data_until``).
        directory: Where to write; created when missing, files in it replaced.

    Returns:
        The path of ``manifest.json``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    p = evaluation.period
    period = EvalPeriod(p.year, p.first_day, p.last_day)
    until = p.data_until
    _, final = figures.communes(conn, period, {c.code for c in evaluation.communes})
    tables: list[tuple[str, list[str], Callable[[], Iterable[Iterable[Any]]]]] = [
        (
            "communes.csv",
            ["code", "name", "province_code", "district_code", "valid_from", "valid_to",
             "merged_into", "reported_code"],
            lambda: _communes(conn, final),
        ),
        (
            "cameras.csv",
            ["id", "commune_code", "reported_commune", "installed_on", "removed_on", "lat",
             "lon", "heading", "fov", "range_m", "priority"],
            lambda: _cameras(conn, final),
        ),
        (
            "intervals.csv",
            ["id", "camera_id", "status", "faults", "cause", "start", "end"],
            lambda: _stream(conn, _intervals(period, until, final)),
        ),
        (
            "tasks.csv",
            ["id", "kind", "camera_id", "site_id", "commune_code", "state", "problem",
             "priority", "failed_at", "opened_at", "deadline", "fixed_at", "closed_at"],
            lambda: _stream(conn, _tasks(period, until, final)),
        ),
        (
            "key_areas.csv",
            ["id", "commune_code", "kind", "name", "weight", "geometry"],
            lambda: _stream(conn, _key_areas(final)),
        ),
    ]  # fmt: skip
    files: dict[str, dict[str, Any]] = {}
    for name, header, rows in tables:
        path = directory / name
        count = _write_rows(path, header, rows())
        files[name] = {"sha256": _sha256(path), "rows": count, "bytes": path.stat().st_size}
    result = directory / "evaluation.json"
    result.write_bytes(to_json(evaluation))
    files[result.name] = {
        "sha256": _sha256(result),
        "rows": len(evaluation.communes),
        "bytes": result.stat().st_size,
    }
    manifest = {
        "year": p.year,
        "scope": evaluation.scope,
        "period_start": _cell(p.start),
        "data_until": _cell(until),
        "result_sha256": evaluation.sha256,
        "files": files,
        "how": HOW.format(year=p.year, scope=evaluation.scope),
    }
    path = directory / "manifest.json"
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    return path
