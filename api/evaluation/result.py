"""The result as bytes, its SHA-256, and the record of every computed result.

:func:`digest` is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the
evaluation without the fields that say when and where it was computed (``computed_at``,
``sha256``, ``record``, ``previous_sha256``, ``changed``): the same data, period, scope and
rubric give the same digest on every run; any change to an interval or task that a figure
depends on gives another. The sums behind the figures are whole milliseconds, so the
digest does not depend on the order the database adds rows in.

:func:`record` keeps each result (digest and gzip of the JSON) in ``evaluation_record`` and
says whether it differs from the previous record of the same year, scope and rubric.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection

from collector.models_ops import EvaluationRecord

if TYPE_CHECKING:
    from api.evaluation.schema import Evaluation

RECORD: Table = EvaluationRecord.__table__  # type: ignore[attr-defined]
VOLATILE = {"computed_at", "sha256", "record", "previous_sha256", "changed"}


def to_dict(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation as JSON-ready data (field names as published)."""
    return evaluation.model_dump(mode="json", by_alias=True)


def canonical(data: dict[str, Any]) -> bytes:
    """Canonical JSON bytes of ``data`` without its volatile fields."""
    body = {k: v for k, v in data.items() if k not in VOLATILE}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(evaluation: Evaluation) -> str:
    """SHA-256 (hex) of the evaluation's canonical JSON."""
    return hashlib.sha256(canonical(to_dict(evaluation))).hexdigest()


def to_json(evaluation: Evaluation, indent: int | None = 2) -> bytes:
    """The evaluation as published (UTF-8 JSON)."""
    return json.dumps(to_dict(evaluation), ensure_ascii=False, indent=indent).encode() + b"\n"


def record(
    conn: Connection, evaluation: Evaluation, source: str = "cli", *, only_if_changed: bool = False
) -> Evaluation:
    """Store ``evaluation`` in ``evaluation_record``; fill ``record``/``previous``/``changed``.

    ``only_if_changed``: keep no new row when the digest equals the last record's (the API
    computing the same figures again), but still name that record.
    """
    r = RECORD.c
    rubric = f"{evaluation.rubric.name}@{evaluation.rubric.version}"
    last = conn.execute(
        select(r.id, r.sha256)
        .where(r.year == evaluation.period.year, r.scope == evaluation.scope, r.rubric == rubric)
        .order_by(r.id.desc())
        .limit(1)
    ).first()
    evaluation.previous_sha256 = last.sha256 if last else None
    evaluation.changed = None if last is None else last.sha256 != evaluation.sha256
    if only_if_changed and last is not None and not evaluation.changed:
        evaluation.record = last.id
        return evaluation
    row = {
        "year": evaluation.period.year,
        "scope": evaluation.scope[:200],
        "rubric": rubric[:200],
        "period_start": evaluation.period.start,
        "period_end": evaluation.period.end,
        "data_until": evaluation.period.data_until,
        "sha256": evaluation.sha256,
        "communes": len(evaluation.communes),
        "computed_at": evaluation.computed_at or datetime.now(UTC),
        "source": source,
        "document": b"",
    }
    evaluation.record = conn.execute(insert(RECORD).values(row).returning(r.id)).scalar_one()
    doc = gzip.compress(to_json(evaluation, indent=None), mtime=0)
    conn.execute(RECORD.update().where(r.id == evaluation.record).values(document=doc))
    return evaluation


def records(conn: Connection, year: int) -> list[dict[str, Any]]:
    """Every recorded result of ``year``, newest first (without the documents)."""
    r = RECORD.c
    rows = conn.execute(
        select(
            r.id, r.year, r.scope, r.rubric, r.sha256, r.communes, r.computed_at, r.data_until,
            r.source,
        ).where(r.year == year).order_by(r.id.desc())
    )  # fmt: skip
    return [dict(row._mapping) for row in rows]


def stored(conn: Connection, record_id: int) -> dict[str, Any] | None:
    """The JSON document of a recorded result, as it was computed."""
    doc = conn.execute(select(RECORD.c.document).where(RECORD.c.id == record_id)).scalar()
    return None if doc is None else json.loads(gzip.decompress(doc))
