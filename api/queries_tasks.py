"""Repair tasks as the API shows them: names, a map link, the overdue flag, the history.

One query per list (the task joined to its camera, site, commune and assignee) and one
for the events of all the tasks shown, never a query per task.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import FromClause, Select, Table, func, or_, select
from sqlalchemy.engine import Connection

from api.schemas import TaskEventOut, TaskOut
from collector.models import Commune, Site, as_utc
from collector.models_ops import TASK_OPEN_STATES, RepairTask, TaskEvent, User
from collector.ratio import CAMERA

TASK: Table = RepairTask.__table__  # type: ignore[attr-defined]
EVENT: Table = TaskEvent.__table__  # type: ignore[attr-defined]
USER: Table = User.__table__  # type: ignore[attr-defined]
COMMUNE: Table = Commune.__table__  # type: ignore[attr-defined]
SITE: Table = Site.__table__  # type: ignore[attr-defined]


def split_list(text: str | None) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``: faults and camera lists are stored comma-separated."""
    return [part for part in (text or "").split(",") if part]


def map_url(lat: float | None, lon: float | None) -> str | None:
    """An OpenStreetMap link centred on the point, or None without coordinates."""
    if lat is None or lon is None:
        return None
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"


def _user_name(user: FromClause) -> Any:
    """The full name, or the username when no full name was entered."""
    return func.coalesce(func.nullif(user.c.full_name, ""), user.c.username)


def _task_query() -> Select[Any]:
    """Every task column with its camera, site (the task's, else the camera's), names."""
    t, c = TASK.c, CAMERA.c
    site, assignee = SITE.alias("task_site"), USER.alias("assignee")
    return select(
        TASK,
        c.name.label("camera_name"),
        c.lat.label("camera_lat"),
        c.lon.label("camera_lon"),
        site.c.lat.label("site_lat"),
        site.c.lon.label("site_lon"),
        COMMUNE.c.name.label("commune_name"),
        _user_name(assignee).label("assignee_name"),
    ).select_from(
        TASK.outerjoin(CAMERA, c.id == t.camera_id)
        .outerjoin(site, site.c.id == func.coalesce(t.site_id, c.site_id))
        .outerjoin(COMMUNE, COMMUNE.c.code == t.commune_code)
        .outerjoin(assignee, assignee.c.id == t.assignee_id)
    )


def events_of(conn: Connection, task_ids: Collection[int]) -> dict[int, list[TaskEventOut]]:
    """The history of each task, oldest first, with the names of who did what."""
    out: dict[int, list[TaskEventOut]] = {}
    if not task_ids:
        return out
    e = EVENT.c
    query = (
        select(
            e.id,
            e.task_id,
            e.at,
            _user_name(USER).label("user_name"),
            e.kind,
            e.from_state,
            e.to_state,
            e.note,
            e.photo.is_not(None).label("has_photo"),
        )
        .select_from(EVENT.outerjoin(USER, USER.c.id == e.user_id))
        .where(e.task_id.in_(list(task_ids)))
        .order_by(e.at, e.id)
    )
    for row in conn.execute(query):
        out.setdefault(row.task_id, []).append(
            TaskEventOut(
                id=row.id,
                at=as_utc(row.at),
                user=row.user_name,
                kind=row.kind,
                from_state=row.from_state,
                to_state=row.to_state,
                note=row.note,
                has_photo=bool(row.has_photo),
            )
        )
    return out


def _task_out(row: Any, now: datetime, events: list[TaskEventOut]) -> TaskOut:
    """A joined task row as the API shows it."""
    lat, lon = row.camera_lat, row.camera_lon
    if row.kind == "site" or lat is None or lon is None:
        lat, lon = row.site_lat, row.site_lon
    deadline = as_utc(row.deadline)
    return TaskOut(
        id=row.id,
        kind=row.kind,
        camera_id=row.camera_id,
        camera_name=row.camera_name,
        site_id=row.site_id,
        commune_code=row.commune_code,
        commune_name=row.commune_name,
        cameras=split_list(row.cameras),
        state=row.state,
        problem=row.problem,
        status_seen=row.status_seen,
        faults=split_list(row.faults),
        cause=row.cause,
        diagnosis=row.diagnosis,
        diagnosis_en=row.diagnosis_en,
        priority=row.priority,
        failed_at=row.failed_at,
        opened_at=row.opened_at,
        deadline=deadline,
        overdue=row.state in TASK_OPEN_STATES and deadline < now,
        assignee=row.assignee_name,
        escalation=row.escalation,
        location_url=map_url(lat, lon),
        reported_fixed_at=row.reported_fixed_at,
        fixed_at=row.fixed_at,
        closed_at=row.closed_at,
        repair_seconds=row.repair_seconds,
        reopened=row.reopened,
        events=events,
    )


def _build(conn: Connection, rows: Sequence[Any], now: datetime, events: bool) -> list[TaskOut]:
    history = events_of(conn, [row.id for row in rows]) if events else {}
    return [_task_out(row, now, history.get(row.id, [])) for row in rows]


def tasks(
    conn: Connection,
    communes: Collection[str] | None,
    now: datetime,
    state: str | None = None,
    assignee_id: int | None = None,
    open_only: bool = False,
    limit: int = 500,
    *,
    with_events: bool = False,
) -> list[TaskOut]:
    """Tasks of the communes (None: all), newest first; events only ``with_events``."""
    t = TASK.c
    query = _task_query()
    if communes is not None:
        query = query.where(t.commune_code.in_(list(communes)))
    if state is not None:
        query = query.where(t.state == state)
    if assignee_id is not None:
        query = query.where(t.assignee_id == assignee_id)
    if open_only:
        query = query.where(t.state.in_(TASK_OPEN_STATES))
    rows = conn.execute(query.order_by(t.opened_at.desc(), t.id.desc()).limit(limit)).all()
    return _build(conn, rows, now, with_events)


def task_detail(conn: Connection, task_id: int, now: datetime) -> TaskOut | None:
    """One task with its history, or None. The caller checks its commune is in scope."""
    row = conn.execute(_task_query().where(TASK.c.id == task_id)).first()
    return None if row is None else _build(conn, [row], now, events=True)[0]


def camera_tasks(
    conn: Connection, camera_id: str, site_id: str | None, now: datetime
) -> list[TaskOut]:
    """Tasks of one camera, newest first with their history.

    Site tasks (the NVR's agent offline) of the camera's site that list this camera are
    included: they are why the camera shows no picture.
    """
    t = TASK.c
    which = t.camera_id == camera_id
    if site_id is not None:
        which = or_(which, (t.kind == "site") & (t.site_id == site_id))
    query = _task_query().where(which).order_by(t.opened_at.desc(), t.id.desc())
    rows = [
        row
        for row in conn.execute(query)
        if row.camera_id == camera_id or camera_id in split_list(row.cameras)
    ]
    return _build(conn, rows, now, events=True)
