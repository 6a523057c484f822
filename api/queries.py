"""What the API reads: the commune table, cameras, a camera's detail, snapshots.

SQLAlchemy Core on SQLite and PostgreSQL. Each function runs a handful of grouped
queries whatever the number of communes or cameras asked for, never one per row. Scope
(which communes the caller may see) is decided by the caller and passed as ``communes``
(None: all). Tasks are in :mod:`api.queries_tasks` (``tasks`` and ``task_detail`` are
re-exported here).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, and_, case, func, literal, or_, select
from sqlalchemy.engine import Connection

from api import rollup
from api.queries_tasks import COMMUNE, TASK, camera_tasks, split_list
from api.queries_tasks import task_detail as task_detail  # the API reads tasks from here too
from api.queries_tasks import tasks as tasks
from api.schemas import CameraDetail, CameraRow, CommuneRow, IntervalOut, SnapshotRef
from collector.models import CAMERA_STATES, SnapshotRow, as_utc
from collector.models_ops import TASK_OPEN_STATES
from collector.ratio import CAMERA, INTERVAL, STATE, VN, WORKING, local_midnight
from collector.store import newest_report_at

SNAPSHOT: Table = SnapshotRow.__table__  # type: ignore[attr-defined]


def installed_on(day: date) -> Any:
    """Cameras of the official list on local ``day`` (installed, not yet removed)."""
    c = CAMERA.c
    return and_(
        or_(c.installed_on.is_(None), c.installed_on <= day),
        or_(c.removed_on.is_(None), c.removed_on > day),
    )


def commune_table(
    conn: Connection,
    communes: Collection[str] | None,
    now: datetime,
    window_days: int = 30,
    coverage: Mapping[str, float] | None = None,
) -> list[CommuneRow]:
    """One row per commune valid today (None: all communes), ordered by code.

    Counts are now (latest states against today's inventory, as
    :func:`collector.ratio.ratio_now` counts them); uptime and the unknown
    share are over the last ``window_days`` local days, today included so far
    (``rollup.uptime``); ``coverage`` comes
    from the caller (the coverage engine lives in another process).
    """
    today = now.astimezone(VN).date()
    m = COMMUNE.c
    listed = select(m.code, m.name, m.district_code, m.province_code).where(
        or_(m.valid_to.is_(None), m.valid_to > today)
    )
    if communes is not None:
        listed = listed.where(m.code.in_(list(communes)))
    rows = conn.execute(listed.order_by(m.code)).all()
    if not rows:
        return []
    codes = [row.code for row in rows]
    scope = None if communes is None else codes
    c, s, t = CAMERA.c, STATE.c, TASK.c
    # ratio_now's query (installed today, no state: never_reported) for these communes
    # only, with the start of the oldest outage of each status in the same pass.
    status = func.coalesce(s.status, literal("never_reported")).label("status")
    now_q = (
        select(c.commune_code, status, func.count(), func.min(s.since))
        .select_from(CAMERA.outerjoin(STATE, s.camera_id == c.id))
        .where(installed_on(today))
        .group_by(c.commune_code, status)
    )
    task_q = (
        select(t.commune_code, func.count(), func.sum(case((t.deadline < now, 1), else_=0)))
        .where(t.state.in_(TASK_OPEN_STATES))
        .group_by(t.commune_code)
    )
    if scope is not None:
        now_q = now_q.where(c.commune_code.in_(scope))
        task_q = task_q.where(t.commune_code.in_(scope))
    counts: dict[str, dict[str, int]] = {}
    down: dict[str, datetime] = {}
    for code, state, n, since in conn.execute(now_q).all():
        counts.setdefault(code, dict.fromkeys(CAMERA_STATES, 0))[state] = n
        if state == "down" and since is not None:
            down[code] = as_utc(since)
    open_tasks = {code: (n, int(late or 0)) for code, n, late in conn.execute(task_q).all()}
    # the last ``window_days`` local days, today so far included: whole days come from the
    # roll-up, only today is computed from the intervals
    start = local_midnight(today - timedelta(days=window_days - 1))
    shares = rollup.uptime(conn, scope, start, now, now)
    out = []
    for row in rows:
        by_status = counts.get(row.code, dict.fromkeys(CAMERA_STATES, 0))
        installed = sum(by_status.values())
        working = sum(by_status.get(k, 0) for k in WORKING)
        n_open, n_late = open_tasks.get(row.code, (0, 0))
        share, unknown = shares.get(row.code, (None, None))
        since = down.get(row.code)
        out.append(
            CommuneRow(
                code=row.code,
                name=row.name,
                district_code=row.district_code,
                province_code=row.province_code,
                installed=installed,
                working=working,
                ratio=working / installed if installed else None,
                by_status=by_status,
                uptime=share,
                unknown_share=unknown,
                window_days=window_days,
                cameras_down=by_status.get("down", 0),
                longest_down_seconds=None if since is None else (now - since).total_seconds(),
                open_tasks=n_open,
                overdue_tasks=n_late,
                coverage=None if coverage is None else coverage.get(row.code),
            )
        )
    return out


def _camera_query() -> Select[Any]:
    """Cameras with their state and the id of their open task (the newest, if several)."""
    c, s, t = CAMERA.c, STATE.c, TASK.c
    open_task = (  # correlated: one probe of ix_repair_task_camera_id per camera
        select(func.max(t.id))
        .where(t.camera_id == c.id, t.state.in_(TASK_OPEN_STATES))
        .scalar_subquery()
    )
    last_report = newest_report_at(c.id)
    status = func.coalesce(s.status, literal("never_reported"))
    return select(
        c.id, c.name, c.commune_code, c.site_id, c.agent_id, c.lat, c.lon, c.heading, c.fov,
        c.range_m, c.camera_type, c.priority, status.label("status"), s.faults, s.cause,
        s.since, last_report.label("last_report_at"), open_task.label("task_id"),
    ).select_from(CAMERA.outerjoin(STATE, s.camera_id == c.id))  # fmt: skip


def _camera_fields(row: Any) -> dict[str, Any]:
    """The :class:`CameraRow` fields of a row of :func:`_camera_query`."""
    return {
        "id": row.id,
        "name": row.name,
        "commune_code": row.commune_code,
        "site_id": row.site_id,
        "agent_id": row.agent_id,
        "lat": row.lat,
        "lon": row.lon,
        "heading": row.heading,
        "fov": row.fov,
        "range_m": row.range_m,
        "camera_type": row.camera_type,
        "priority": row.priority,
        "status": row.status,
        "faults": split_list(row.faults),
        "cause": row.cause,
        "since": row.since,
        "last_report_at": row.last_report_at,
        "open_task_id": row.task_id,
    }


def cameras(
    conn: Connection,
    communes: Collection[str] | None,
    commune: str | None = None,
    status: str | None = None,
    *,
    now: datetime | None = None,
) -> list[CameraRow]:
    """Cameras installed today (or on ``now``'s local day) in scope, by commune and id.

    ``commune`` narrows to one commune (outside ``communes``: nothing); ``status`` to one
    status (``never_reported`` for cameras without a state).
    """
    today = (now or datetime.now(UTC)).astimezone(VN).date()
    c = CAMERA.c
    query = _camera_query().where(installed_on(today))
    if communes is not None:
        query = query.where(c.commune_code.in_(list(communes)))
    if commune is not None:
        query = query.where(c.commune_code == commune)
    if status is not None:
        query = query.where(func.coalesce(STATE.c.status, literal("never_reported")) == status)
    rows = conn.execute(query.order_by(c.commune_code, c.id)).all()
    return [CameraRow(**_camera_fields(row)) for row in rows]


def _snapshot_query(camera_id: str) -> Select[Any]:
    """A camera's snapshots without the JPEG, newest first."""
    n = SNAPSHOT.c
    return (
        select(n.id, n.taken_at, n.reason, n.width, n.height)
        .where(n.camera_id == camera_id)
        .order_by(n.taken_at.desc(), n.id.desc())
        .limit(1)
    )


def _snapshot(conn: Connection, query: Select[Any]) -> SnapshotRef | None:
    row = conn.execute(query).first()
    if row is None:
        return None
    return SnapshotRef(
        id=row.id, taken_at=row.taken_at, reason=row.reason, width=row.width, height=row.height
    )


def camera_detail(
    conn: Connection, camera_id: str, now: datetime, window_days: int = 30
) -> CameraDetail | None:
    """One camera (installed or not) with its timeline, snapshots and tasks, or None.

    The timeline holds the intervals overlapping the last ``window_days`` days, oldest
    first, with their true start and end (the first may begin before the window). The
    reference snapshot is the newest taken while an ``ok`` interval of the camera ran.
    The caller checks the camera's commune is in scope.
    """
    row = conn.execute(_camera_query().where(CAMERA.c.id == camera_id)).first()
    if row is None:
        return None
    i, n = INTERVAL.c, SNAPSHOT.c
    since = now - timedelta(days=window_days)
    timeline = [
        IntervalOut(status=status, faults=split_list(faults), cause=cause, start=start, end=end)
        for status, faults, cause, start, end in conn.execute(
            select(i.status, i.faults, i.cause, i.start, i.end)
            .where(i.camera_id == camera_id, i.start < now, or_(i.end.is_(None), i.end > since))
            .order_by(i.start)
        )
    ]
    while_ok = _snapshot_query(camera_id).join(
        INTERVAL,
        and_(
            i.camera_id == n.camera_id,
            i.status == "ok",
            i.start <= n.taken_at,
            or_(i.end.is_(None), i.end > n.taken_at),
        ),
    )
    return CameraDetail(
        **_camera_fields(row),
        timeline=timeline,
        last_snapshot=_snapshot(conn, _snapshot_query(camera_id)),
        reference_snapshot=_snapshot(conn, while_ok),
        tasks=camera_tasks(conn, camera_id, row.site_id, now),
    )


def snapshot_jpeg(conn: Connection, snapshot_id: int) -> tuple[str, bytes] | None:
    """``(camera_id, jpeg)`` of a snapshot, or None. The caller checks the camera's scope."""
    n = SNAPSHOT.c
    row = conn.execute(select(n.camera_id, n.jpeg).where(n.id == snapshot_id)).first()
    return None if row is None else (row.camera_id, bytes(row.jpeg))
