"""SQL writes of the collector, on one connection inside the batch's transaction.

Core statements (not ORM objects) keep a batch of thousands of reports cheap. Upserts use
each dialect's ``INSERT ... ON CONFLICT`` (SQLite and PostgreSQL both have it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, ScalarSelect, Table, and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from collector.models import (
    AgentPresence,
    CameraState,
    HealthRow,
    Quarantine,
    SnapshotRow,
    StatusInterval,
    UTCDateTime,
    as_utc,
)
from collector.state import State

HEALTH: Table = HealthRow.__table__  # type: ignore[attr-defined]
STATE: Table = CameraState.__table__  # type: ignore[attr-defined]
INTERVAL: Table = StatusInterval.__table__  # type: ignore[attr-defined]
PRESENCE: Table = AgentPresence.__table__  # type: ignore[attr-defined]
SNAPSHOT: Table = SnapshotRow.__table__  # type: ignore[attr-defined]
QUARANTINE: Table = Quarantine.__table__  # type: ignore[attr-defined]
_CHUNK = 900  # SQLite's bound-parameter limit is generous now, but stay portable
_JSON = msgspec.json.Encoder()  # rows to JSON: 0.23 µs a health row, pydantic-core's 1.4


def _dialect_insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], key: str) -> None:
    """Insert ``rows`` into ``table``, updating every other column on a ``key`` conflict."""
    if not rows:
        return
    stmt = _dialect_insert(conn, table)
    columns = [c for c in rows[0] if c != key]
    stmt = stmt.on_conflict_do_update(
        index_elements=[key], set_={c: getattr(stmt.excluded, c) for c in columns}
    )
    conn.execute(stmt, list(rows))


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping any that conflicts with a unique key (idempotent replays)."""
    if rows:
        conn.execute(_dialect_insert(conn, table).on_conflict_do_nothing(), list(rows))


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain bulk insert."""
    if rows:
        conn.execute(insert(table), list(rows))


def _sql_time(conn: Connection) -> Callable[[datetime | None], object]:
    """How a UTC datetime goes to the driver: SQLAlchemy's SQLite text format, or as is."""
    if conn.dialect.name == "sqlite":
        return lambda v: None if v is None else as_utc(v).strftime("%Y-%m-%d %H:%M:%S.%f")
    return lambda v: v


def bulk_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: str | None = None,
) -> None:
    """Insert (or with ``key``, upsert) ``rows`` in one statement per batch.

    The hot path of ingest, so SQLAlchemy's per-row parameter processing is skipped:
    PostgreSQL gets one ``INSERT ... SELECT FROM json_populate_recordset(...)`` (one round
    trip; the rows serialised to JSON by msgspec: about 0.2 µs a row of client CPU
    (pydantic-core took 1.4, most of it on the datetimes), where psycopg's binary arrays,
    dumped in Python, took about 4 µs and saved PostgreSQL 1.5-2.5 ms per 1,000 rows: the
    collector is bound by its own CPU),
    SQLite the driver's ``executemany``. Timestamp columns are converted the way
    ``UTCDateTime`` would (aware datetimes go to JSON with their offset). ``rows`` must
    not repeat a ``key``.
    """
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    conflict = ""
    if key is not None:
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != key)
        conflict = f' ON CONFLICT ("{key}") DO UPDATE SET {updates}'
    if conn.dialect.name == "postgresql":
        source = f"json_populate_recordset(NULL::{table.name}, %s::json)"
        sql = f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {source}{conflict}"  # noqa: S608 - names from our metadata
        conn.exec_driver_sql(sql, (_JSON.encode(rows).decode(),))
        return
    to_sql = _sql_time(conn)
    timed = [isinstance(table.c[c].type, UTCDateTime) for c in columns]
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join([mark] * len(columns))})"  # noqa: S608 - names from our metadata
    params = [
        tuple(to_sql(row[c]) if t else row[c] for c, t in zip(columns, timed, strict=True))
        for row in rows
    ]
    conn.exec_driver_sql(sql + conflict, params)


def existing_report_ids(conn: Connection, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are stored already (the dedup check)."""
    wanted = list(ids)
    if not wanted:
        return set()
    if conn.dialect.name == "postgresql":  # one array parameter, one round trip
        sql = "SELECT report_id FROM health_report WHERE report_id = ANY(%b::varchar[])"
        return {row[0] for row in conn.exec_driver_sql(sql, (wanted,))}
    found: set[str] = set()
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        found.update(conn.scalars(select(HEALTH.c.report_id).where(HEALTH.c.report_id.in_(chunk))))
    return found


def last_reports(conn: Connection) -> dict[str, datetime]:
    """The newest stored report's time of each camera with a state.

    Not kept in ``camera_state``: rewriting a camera's row for every report only to move
    that time doubled the database's work per report. One backward probe of
    ``ix_health_report_camera_probed`` per camera (PostgreSQL and SQLite alike).
    """
    s = STATE.c
    rows = conn.execute(select(s.camera_id, newest_report_at(s.camera_id).label("at")))
    return {r.camera_id: as_utc(r.at) for r in rows if r.at is not None}


def newest_report_at(camera_id: ColumnElement[str]) -> ScalarSelect[datetime]:
    """The newest stored report's time of the camera ``camera_id`` names.

    ``camera_id`` is a column of the outer query: one backward probe of
    ``ix_health_report_camera_probed`` per row (PostgreSQL and SQLite alike).
    """
    h = HEALTH.c
    query = select(h.probed_at).where(h.camera_id == camera_id)
    return query.order_by(h.probed_at.desc()).limit(1).scalar_subquery()


def set_status_from(
    conn: Connection, camera_id: str, at: datetime, status: str, faults: str, cause: str | None
) -> None:
    """Record that ``camera_id`` is ``status`` from ``at`` on, rewriting later history.

    Intervals starting at or after ``at`` are superseded (a late report proved the camera
    was not ``unknown`` after all); the interval covering ``at`` is cut there. If that
    interval had the same status it is reopened instead of starting a new one.
    """
    c = INTERVAL.c
    conn.execute(delete(INTERVAL).where(and_(c.camera_id == camera_id, c.start >= at)))
    before = conn.execute(
        select(c.id, c.status)
        .where(and_(c.camera_id == camera_id, c.start < at, or_(c.end.is_(None), c.end >= at)))
        .order_by(c.start.desc())
        .limit(1)
    ).first()
    if before is not None and before.status == status:
        conn.execute(
            update(INTERVAL).where(c.id == before.id).values(end=None, faults=faults, cause=cause)
        )
        return
    if before is not None:
        conn.execute(update(INTERVAL).where(c.id == before.id).values(end=at))
    values = {"camera_id": camera_id, "status": status, "faults": faults, "cause": cause}
    conn.execute(insert(INTERVAL).values(start=at, end=None, **values))


def update_open_faults(conn: Connection, camera_id: str, faults: str, cause: str | None) -> None:
    """Keep the open interval's faults and cause up to date with the latest report."""
    c = INTERVAL.c
    conn.execute(
        update(INTERVAL)
        .where(and_(c.camera_id == camera_id, c.end.is_(None)))
        .values(faults=faults, cause=cause)
    )


def state_row(camera_id: str, state: State, agent_id: str | None) -> dict[str, Any]:
    """The ``camera_state`` row for ``state`` (all but ``last_report_at``: not stored)."""
    return {
        "camera_id": camera_id,
        "status": state.status,
        "faults": state.faults,
        "cause": state.cause,
        "since": state.since,
        "pending_status": state.pending_status,
        "pending_count": state.pending_count,
        "pending_since": state.pending_since,
        "pending_faults": state.pending_faults,
        "pending_cause": state.pending_cause,
        "agent_id": agent_id,
    }
