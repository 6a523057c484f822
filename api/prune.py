"""Raw health reports older than the kept days, deleted by ``camnet jobs`` once a day.

``health_report`` holds every accepted report once (the collector's deduplication key); a
province adds about 51 GB of it a day (docs/benchmarks.md, Storage). What the ratio, the
tasks and the yearly evaluation use is kept in ``status_interval``; tasks read only the
last few reports of a camera. Deleted in batches of ``batch`` rows, one transaction each,
so the collector's inserts never wait long. At a province's scale, partition the table by
day and drop whole days instead (docs/scale.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from collector.store import HEALTH

BATCH = 50_000


def prune_reports(engine: Engine, before: datetime, batch: int = BATCH) -> int:
    """Delete the reports probed before ``before``; return how many were deleted."""
    h = HEALTH.c
    total = 0
    while True:
        oldest = select(h.report_id).where(h.probed_at < before).limit(batch)
        with engine.begin() as conn:
            deleted = conn.execute(delete(HEALTH).where(h.report_id.in_(oldest))).rowcount
        total += deleted
        if deleted < batch:
            return total
