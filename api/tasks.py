"""Repair tasks: raised, verified, closed and escalated by the system (``tick``).

``camnet jobs`` calls :func:`tick` every ``tick_seconds``; in one transaction it

a. raises a task for each installed camera ``down`` or ``degraded`` for longer than the
   grace of its problem (``api.diagnosis``), one task per camera at a time — or reopens
   the camera's task closed less than ``reopen_days`` ago;
b. raises one ``site`` task for an agent (its NVR box) offline longer than ``site_grace``,
   not one per camera (its cameras are ``unknown`` then, so they raise nothing);
c. verifies and closes a camera task once its latest ``verify_probes`` reports are ok, and
   a site task once the agent is back and every camera of the site has reported since;
d. escalates tasks past their deadline: level 1 (commune officer), then level 2 (district)
   ``escalate_district_after_hours`` later (``api.tasks_flow.escalate``);
e. says when the next grace period or deadline ends (``TickResult.next_due``).

What people do (move, assign, notes) is in :mod:`api.tasks_flow`, re-exported here.
The rules are :class:`api.task_rules.TaskRules`; the lifecycle is drawn in docs/tasks.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, false, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection, Engine

from api.diagnosis import diagnose, diagnose_site
from api.task_rules import TaskRules
from api.tasks_flow import TASK, AnyRow, People, add_event, add_note, assign, escalate, move_task
from collector.models import (
    AgentPresence,
    AgentRecord,
    Camera,
    CameraState,
    HealthRow,
    Site,
    StatusInterval,
    as_utc,
)
from collector.models_ops import TASK_OPEN_STATES
from collector.ratio import VN

__all__ = ["TickResult", "add_note", "assign", "move_task", "tick"]

log = logging.getLogger(__name__)

CAMERA: Table = Camera.__table__  # type: ignore[attr-defined]
STATE: Table = CameraState.__table__  # type: ignore[attr-defined]
HEALTH: Table = HealthRow.__table__  # type: ignore[attr-defined]
INTERVAL: Table = StatusInterval.__table__  # type: ignore[attr-defined]
PRESENCE: Table = AgentPresence.__table__  # type: ignore[attr-defined]
AGENT: Table = AgentRecord.__table__  # type: ignore[attr-defined]
SITE: Table = Site.__table__  # type: ignore[attr-defined]

#: Camera statuses that need a technician.
RAISING = ("down", "degraded")
#: Most urgent first: a site task takes the most urgent priority of its cameras.
PRIORITIES = ("hotspot", "main_road", "border", "normal")
#: PostgreSQL advisory lock held by a tick, so two job processes never raise twice.
LOCK_KEY = 0x63616D6E6574  # "camnet"


@dataclass
class TickResult:
    """What one tick did."""

    raised: int = 0
    reopened: int = 0
    verified: int = 0
    closed: int = 0
    escalated: int = 0
    #: The next moment something falls due by time alone (a grace period or a deadline
    #: ends); ``camnet jobs`` runs a tick then instead of waiting for its periodic one.
    next_due: datetime | None = None

    def due(self, when: datetime) -> None:
        """Remember ``when`` if it comes before the next moment known so far."""
        if self.next_due is None or when < self.next_due:
            self.next_due = when

    def summary(self) -> str:
        """One line, Vietnamese / English."""
        return (
            f"nhiệm vụ / tasks: mới / raised {self.raised}, mở lại / reopened {self.reopened}, "
            f"xác minh / verified {self.verified}, đóng / closed {self.closed}, "
            f"báo cấp trên / escalated {self.escalated}"
        )


def tick(engine: Engine, now: datetime, rules: TaskRules) -> TickResult:
    """Raise, reopen, verify, close and escalate tasks as of ``now``, in one transaction."""
    now = as_utc(now)
    result = TickResult()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        people = People(conn)
        _raise_cameras(conn, now, rules, people, result)
        _raise_sites(conn, now, rules, people, result)
        _verify_cameras(conn, now, rules, result)
        _verify_sites(conn, now, result)
        result.escalated = escalate(conn, now, rules.escalate_district_after_hours, people)
        _next_escalation(conn, rules, result)
    return result


def _next_escalation(conn: Connection, rules: TaskRules, result: TickResult) -> None:
    t, later = TASK.c, timedelta(hours=rules.escalate_district_after_hours)
    for level, offset in ((0, timedelta(0)), (1, later)):
        query = select(func.min(t.deadline)).where(
            t.state.in_(TASK_OPEN_STATES), t.escalation == level
        )
        if (deadline := conn.scalar(query)) is not None:
            result.due(as_utc(deadline) + offset)


# --------------------------------------------------------------------------------- raise


def _installed(today: date) -> Any:
    c = CAMERA.c
    return and_(
        or_(c.installed_on.is_(None), c.installed_on <= today),
        or_(c.removed_on.is_(None), c.removed_on > today),
    )


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _raise_cameras(
    conn: Connection, now: datetime, rules: TaskRules, people: People, result: TickResult
) -> None:
    c, s = CAMERA.c, STATE.c
    fields = (c.id, c.commune_code, c.site_id, c.agent_id, c.priority)
    rows = conn.execute(
        select(*fields, s.status, s.faults, s.cause, s.since)
        .select_from(CAMERA.join(STATE, s.camera_id == c.id))
        .where(s.status.in_(RAISING), _installed(now.astimezone(VN).date()))
    ).all()
    busy = _open_keys(conn, "camera")
    due = []
    for row in rows:
        found = diagnose(row.status, _split(row.faults), row.cause)
        since = as_utc(row.since)
        if row.id in busy:
            continue
        grace = rules.grace.seconds(found.problem)
        if (now - since).total_seconds() < grace:
            result.due(since + timedelta(seconds=grace))
            continue
        due.append(
            {
                "kind": "camera", "camera_id": row.id, "site_id": row.site_id,
                "agent_id": row.agent_id, "commune_code": row.commune_code,
                "problem": found.problem, "status_seen": row.status,
                "faults": row.faults or "", "cause": row.cause, "diagnosis": found.vi,
                "diagnosis_en": found.en, "priority": row.priority, "failed_at": since,
            }
        )  # fmt: skip
    _raise_due(conn, now, rules, people, "camera_id", due, result)


def _raise_sites(
    conn: Connection, now: datetime, rules: TaskRules, people: People, result: TickResult
) -> None:
    p, a, c = PRESENCE.c, AGENT.c, CAMERA.c
    since = now - timedelta(seconds=rules.site_grace)
    query = select(p.agent_id, p.commune_code, p.since)
    later = conn.scalar(select(func.min(p.since)).where(p.state == "offline", p.since > since))
    if later is not None:
        result.due(as_utc(later) + timedelta(seconds=rules.site_grace))
    offline = conn.execute(query.where(p.state == "offline", p.since <= since)).all()
    busy = _open_keys(conn, "site")
    offline = [row for row in offline if row.agent_id not in busy]
    if not offline:
        return
    sites = AGENT.outerjoin(SITE, SITE.c.id == a.site_id)
    query = select(a.id, a.site_id, a.commune_code, SITE.c.name).select_from(sites)
    records = {r.id: r for r in conn.execute(query)}
    today = now.astimezone(VN).date()
    due = []
    for row in offline:
        record = records.get(row.agent_id)
        site_id = record.site_id if record is not None else None
        of_site = and_(c.agent_id.is_(None), c.site_id == site_id) if site_id else false()
        query = select(c.id, c.priority, c.site_id, c.commune_code)
        cams = conn.execute(
            query.where(_installed(today), or_(c.agent_id == row.agent_id, of_site))
        ).all()
        if not cams:  # an agent serving no installed camera: nothing to watch, no task
            continue
        site_id = site_id or cams[0].site_id
        ids = sorted(cam.id for cam in cams)
        found = diagnose_site(ids, (record.name if record is not None else "") or site_id or "")
        ranks = [PRIORITIES.index(k.priority) if k.priority in PRIORITIES else 3 for k in cams]
        commune = record.commune_code if record is not None else row.commune_code
        due.append(
            {
                "kind": "site", "camera_id": None, "site_id": site_id,
                "agent_id": row.agent_id, "commune_code": commune or cams[0].commune_code,
                "cameras": ",".join(ids), "problem": found.problem, "status_seen": "offline",
                "faults": "", "cause": None, "diagnosis": found.vi, "diagnosis_en": found.en,
                "priority": PRIORITIES[min(ranks)], "failed_at": as_utc(row.since),
            }
        )  # fmt: skip
    _raise_due(conn, now, rules, people, "agent_id", due, result)


def _raise_due(
    conn: Connection,
    now: datetime,
    rules: TaskRules,
    people: People,
    key: str,
    due: list[dict[str, Any]],
    result: TickResult,
) -> None:
    """Raise a task for each of ``due``, or reopen the one of its key closed lately."""
    cutoff = now - timedelta(days=rules.reopen_days)
    previous = _recently_closed(conn, key, [v[key] for v in due], cutoff)
    for values in due:
        _raise_or_reopen(conn, now, rules, people, values, previous.get(values[key]))
        result.reopened += values[key] in previous
        result.raised += values[key] not in previous


def _open_keys(conn: Connection, kind: str) -> set[str]:
    t = TASK.c
    key = t.camera_id if kind == "camera" else t.agent_id
    rows = conn.execute(select(key).where(t.kind == kind, t.state.in_(TASK_OPEN_STATES)))
    return {k for (k,) in rows if k is not None}


def _recently_closed(
    conn: Connection, column: str, keys: list[str], cutoff: datetime
) -> dict[str, AnyRow]:
    """The latest task of each key (camera or agent) closed at or after ``cutoff``."""
    if not keys:
        return {}
    t = TASK.c
    kind, key = ("camera" if column == "camera_id" else "site"), t[column]
    rows = conn.execute(
        select(t.id, key.label("key"), t.assignee_id)
        .where(t.kind == kind, t.state == "closed", t.closed_at >= cutoff, key.in_(keys))
        .order_by(t.closed_at)
    )
    return {row.key: row for row in rows}  # later rows win: the latest closed


def _raise_or_reopen(
    conn: Connection,
    now: datetime,
    rules: TaskRules,
    people: People,
    values: dict[str, Any],
    previous: AnyRow | None,
) -> None:
    deadline = now + timedelta(hours=rules.sla_hours.hours(values["priority"]))
    tech = people.technician(values["commune_code"])
    assignee = previous.assignee_id if previous is not None else None
    assignee = assignee or (tech[0] if tech else None)
    state = "assigned" if assignee is not None else "open"
    common = {"state": state, "assignee_id": assignee, "deadline": deadline, "updated_at": now}
    who = values["camera_id"] or f"site {values['site_id']} (agent {values['agent_id']})"
    if previous is not None:
        conn.execute(
            update(TASK)
            .where(TASK.c.id == previous.id)
            .values(
                **values,
                **common,
                reopened=TASK.c.reopened + 1,
                escalation=0,
                escalated_at=None,
                reported_fixed_at=None,
                fixed_at=None,
                closed_at=None,
                repair_seconds=None,
            )
        )
        note = f"Hỏng lại trong vòng {rules.reopen_days:g} ngày / failed again within "
        note += f"{rules.reopen_days:g} days: {values['problem']}"
        add_event(
            conn, previous.id, now, "reopened", from_state="closed", to_state=state, note=note
        )
        log.info("task %s reopened: %s %s", previous.id, who, values["problem"])
        return
    insert_task = insert(TASK).values(**values, **common, opened_at=now).returning(TASK.c.id)
    task_id = int(conn.execute(insert_task).scalar_one())
    if tech is not None and assignee == tech[0]:
        note = f"Giao cho kỹ thuật viên / assigned to technician {tech[1]}"
    else:
        note = (
            "Xã chưa có kỹ thuật viên: cần giao người / the commune has no technician: assign one"
        )
    add_event(conn, task_id, now, "raised", to_state=state, note=note)
    log.info("task %s raised: %s %s", task_id, who, values["problem"])


# ------------------------------------------------------------------------- verify, close


def _verify_cameras(conn: Connection, now: datetime, rules: TaskRules, result: TickResult) -> None:
    t, s, h = TASK.c, STATE.c, HEALTH.c
    rows = conn.execute(
        select(t.id, t.camera_id, t.state, t.failed_at, t.reported_fixed_at)
        .select_from(TASK.join(STATE, s.camera_id == t.camera_id))
        .where(t.kind == "camera", t.state.in_(TASK_OPEN_STATES), s.status == "ok")
    ).all()
    m = rules.verify_probes
    for row in rows:
        failed_at = as_utc(row.failed_at)
        reports = conn.execute(
            select(h.status, h.probed_at)
            .where(h.camera_id == row.camera_id, h.probed_at > failed_at)
            .order_by(h.probed_at.desc())
            .limit(m)
        ).all()
        if len(reports) < m or any(r.status != "ok" for r in reports):
            continue
        fixed_at = _ok_since(conn, row.camera_id)
        if fixed_at is None or fixed_at < failed_at:
            fixed_at = as_utc(reports[-1].probed_at)
        note = f"{m} lần kiểm tra liên tiếp tốt / {m} ok probes in a row"
        if row.reported_fixed_at is None:
            note += "; tự phục hồi, không ai báo đã sửa / recovered without a report"
        _close(conn, row, now, fixed_at, note, result)


def _ok_since(conn: Connection, camera_id: str) -> datetime | None:
    """The start of the camera's current (open) ok interval."""
    i = INTERVAL.c
    start = conn.scalar(
        select(i.start)
        .where(i.camera_id == camera_id, i.end.is_(None), i.status == "ok")
        .order_by(i.start.desc())
        .limit(1)
    )
    return None if start is None else as_utc(start)


def _verify_sites(conn: Connection, now: datetime, result: TickResult) -> None:
    t, p, h = TASK.c, PRESENCE.c, HEALTH.c
    rows = conn.execute(
        select(t.id, t.state, t.cameras, t.failed_at, t.reported_fixed_at, p.since)
        .select_from(TASK.join(PRESENCE, p.agent_id == t.agent_id))
        .where(t.kind == "site", t.state.in_(TASK_OPEN_STATES), p.state == "online")
    ).all()
    if not rows:
        return
    installed = set(conn.scalars(select(CAMERA.c.id).where(_installed(now.astimezone(VN).date()))))
    for row in rows:
        back = as_utc(row.since)
        cams = [cam for cam in _split(row.cameras) if cam in installed]
        latest: dict[str, datetime] = {}
        if cams:
            query = select(h.camera_id, func.max(h.probed_at)).where(h.camera_id.in_(cams))
            latest = {k: as_utc(v) for k, v in conn.execute(query.group_by(h.camera_id))}
        if any(cam not in latest or latest[cam] < back for cam in cams):
            continue
        note = (
            f"Agent trực tuyến lại, {len(cams)} camera đã báo / agent back online, "
            f"{len(cams)} cameras reported"
        )
        _close(conn, row, now, max(back, as_utc(row.failed_at)), note, result)


def _close(
    conn: Connection,
    row: AnyRow,
    now: datetime,
    fixed_at: datetime,
    note: str,
    result: TickResult,
) -> None:
    repair = (fixed_at - as_utc(row.failed_at)).total_seconds()
    conn.execute(
        update(TASK)
        .where(TASK.c.id == row.id)
        .values(
            state="closed", fixed_at=fixed_at, closed_at=now, repair_seconds=repair, updated_at=now
        )
    )
    add_event(conn, row.id, now, "state", from_state=row.state, to_state="verified", note=note)
    done = "Hệ thống đóng / closed by the system"
    add_event(conn, row.id, now, "state", from_state="verified", to_state="closed", note=done)
    result.verified += 1
    result.closed += 1
    log.info("task %s verified and closed after %.0f s", row.id, repair)
