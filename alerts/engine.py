"""From what happened to notifications: task events, working ratios, daily digests.

:func:`collect` reads the ``task_event`` rows past the ``task_event`` cursor and turns

* ``raised`` / ``reopened`` camera tasks into ``camera_down`` — one notice per commune
  for the cameras raised in the same pass (a street losing power is one message),
* ``raised`` / ``reopened`` site tasks into ``site_offline`` (one notice listing the
  site's cameras, never one per camera),
* system ``verified`` events into ``camera_recovered`` / ``site_recovered``,
* ``escalated`` events into ``task_overdue`` (level 1 commune officer, 2 district),

then into one row per recipient and channel (``alerts.outbox``), in the transaction that
moves the cursor. Debounce comes from upstream: the collector's hysteresis confirms a
state, the task engine waits the grace of the problem; a camera flapping faster than its
grace raises no task and so no message. :func:`check_ratios` and :func:`digests` are the
two time-driven rules.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from alerts.config import AlertRules
from alerts.notice import CameraItem, Notice
from alerts.outbox import Draft, enqueue
from alerts.recipients import Directory
from alerts.render import render
from collector.models import Camera, CameraState, Site, as_utc
from collector.models_alerts import AlertCursor, AlertRatio
from collector.models_ops import TASK_OPEN_STATES, RepairTask, TaskEvent
from collector.ratio import VN, ratio_now

log = logging.getLogger(__name__)

EVENT: Table = TaskEvent.__table__  # type: ignore[attr-defined]
TASK: Table = RepairTask.__table__  # type: ignore[attr-defined]
CAMERA: Table = Camera.__table__  # type: ignore[attr-defined]
STATE: Table = CameraState.__table__  # type: ignore[attr-defined]
SITE: Table = Site.__table__  # type: ignore[attr-defined]
CURSOR: Table = AlertCursor.__table__  # type: ignore[attr-defined]
RATIO: Table = AlertRatio.__table__  # type: ignore[attr-defined]
BATCH = 500


def collect(engine: Engine, rules: AlertRules, now: datetime) -> int:
    """Turn new task events into stored notifications; return how many rows were added."""
    added = 0
    while True:
        with engine.begin() as conn:
            cursor = _cursor(conn, "task_event")
            e, t = EVENT.c, TASK.c
            rows: Any = conn.execute(
                select(
                    e.id.label("event_id"),
                    e.kind.label("event"),
                    e.to_state,
                    e.user_id,
                    e.level,
                    TASK,
                    CAMERA.c.lat,
                    CAMERA.c.lon,
                    SITE.c.name.label("site_name"),
                )
                .select_from(
                    EVENT.join(TASK, t.id == e.task_id)
                    .outerjoin(CAMERA, CAMERA.c.id == t.camera_id)
                    .outerjoin(SITE, SITE.c.id == t.site_id)
                )
                .where(e.id > cursor)
                .order_by(e.id)
                .limit(BATCH)
            ).all()
            if not rows:
                return added
            added += _notify(conn, rules, now, [_notice_of(r) for r in rows], list(rows))
            _set_cursor(conn, "task_event", int(rows[-1].event_id), now)
        if len(rows) < BATCH:
            return added


def _notice_of(row: Any) -> tuple[str, int | None] | None:
    """The kind of notice one event makes (and the escalation level), or None."""
    site = row.kind == "site"
    if row.event in ("raised", "reopened"):
        return ("site_offline" if site else "camera_down"), None
    if row.event == "state" and row.to_state == "verified" and row.user_id is None:
        return ("site_recovered" if site else "camera_recovered"), None
    if row.event == "escalated" and row.level in (1, 2):
        return "task_overdue", int(row.level)
    return None


def _item(row: Any, recovered: bool = False) -> CameraItem:
    return CameraItem(
        camera_id=row.camera_id or row.site_id or row.agent_id or "?",
        problem="" if recovered else row.problem,
        diagnosis=row.diagnosis,
        diagnosis_en=row.diagnosis_en,
        since=as_utc(row.failed_at),
        priority=row.priority,
        lat=row.lat,
        lon=row.lon,
        task_id=row.id,
        repair_seconds=row.repair_seconds if recovered else None,
    )


def _notify(
    conn: Connection,
    rules: AlertRules,
    now: datetime,
    kinds: list[tuple[str, int | None] | None],
    rows: list[Any],
) -> int:
    people = Directory(conn)
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    notices: list[tuple[Notice, str, list[int | None]]] = []
    for found, row in zip(kinds, rows, strict=True):
        if found is None or found[0] not in rules.kinds:
            continue
        kind, level = found
        if kind in ("camera_down", "camera_recovered"):
            grouped[(kind, row.commune_code)].append(row)
            continue
        name = people.commune_name(row.commune_code)
        items = _site_items(conn, row) if kind.startswith("site") else (_item(row),)
        notice = Notice(
            kind=kind,
            commune_code=row.commune_code,
            commune_name=name,
            at=now,
            items=items,
            site_name=row.site_name or row.site_id,
            task_id=row.id,
            level=level,
            deadline=as_utc(row.deadline),
        )
        notices.append((notice, f"{kind}:e{row.event_id}", [row.assignee_id]))
    for (kind, commune), group in grouped.items():
        recovered = kind == "camera_recovered"
        notice = Notice(
            kind=kind,
            commune_code=commune,
            commune_name=people.commune_name(commune),
            at=now,
            items=tuple(_item(r, recovered) for r in group),
            task_id=group[0].id if len(group) == 1 else None,
        )
        notices.append((notice, f"{kind}:e{group[0].event_id}", [r.assignee_id for r in group]))
    drafts = [d for n, key, who in notices for d in _drafts(people, rules, n, key, who)]
    return enqueue(conn, drafts, now, rules)


def _site_items(conn: Connection, row: Any) -> tuple[CameraItem, ...]:
    ids = [c for c in (row.cameras or "").split(",") if c]
    cams = {
        c.id: c
        for c in conn.execute(
            select(CAMERA.c.id, CAMERA.c.priority, CAMERA.c.lat, CAMERA.c.lon).where(
                CAMERA.c.id.in_(ids)
            )
        )
    }
    recovered = row.to_state == "verified"
    return tuple(
        CameraItem(
            camera_id=cam,
            problem="" if recovered else row.problem,
            since=as_utc(row.failed_at),
            priority=cams[cam].priority if cam in cams else row.priority,
            lat=cams[cam].lat if cam in cams else None,
            lon=cams[cam].lon if cam in cams else None,
            task_id=row.id,
            repair_seconds=row.repair_seconds if recovered else None,
        )
        for cam in ids
    )


def _drafts(
    people: Directory,
    rules: AlertRules,
    notice: Notice,
    key: str,
    assignees: list[int | None],
) -> list[Draft]:
    """One draft per recipient contact on a configured channel, and per matching webhook."""
    roles = rules.routes.roles(notice.kind, notice.level)
    rendered: dict[str, Any] = {}

    def words(language: str) -> Any:
        language = language if language in ("vi", "en") else rules.language
        if language not in rendered:
            rendered[language] = render(notice, language, rules.dashboard_url)
        return rendered[language]

    configured = {
        name for name in ("email", "telegram", "zalo") if getattr(rules.channels, name) is not None
    }
    drafts = []
    common: dict[str, Any] = {
        "key": key,
        "kind": notice.kind,
        "commune_code": notice.commune_code,
        "task_id": notice.task_id or (notice.items[0].task_id if notice.items else None),
        "priority": notice.priority,
    }
    for person in people.recipients(roles, notice.commune_code, assignees):
        text = words(person.language)
        for channel, address in person.contacts:
            if channel not in configured:
                log.debug("%s: channel %s is off; skipped", person.username, channel)
                continue
            drafts.append(
                Draft(
                    **common,
                    user_id=person.user_id,
                    channel=channel,
                    address=address,
                    subject=text.subject,
                    body=text.text,
                    payload=text.payload,
                )
            )
    for hook in rules.channels.webhooks:
        if hook.communes and notice.commune_code not in hook.communes:
            continue
        if hook.kinds and notice.kind not in hook.kinds:
            continue
        text = words(rules.language)
        drafts.append(
            Draft(
                **common,
                user_id=None,
                channel="webhook",
                address=hook.name,
                subject=text.subject,
                body=text.text,
                payload=text.payload,
            )
        )
    return drafts


# ------------------------------------------------------------------ time-driven rules


def check_ratios(engine: Engine, rules: AlertRules, now: datetime) -> int:
    """``ratio_low`` after ``for_minutes`` below ``below``; ``ratio_recovered`` above."""
    rule = rules.ratio
    if not rule.enabled:
        return 0
    added = 0
    with engine.begin() as conn:
        seen = {r.commune_code: r for r in conn.execute(select(RATIO))}
        people = Directory(conn)
        notices = []
        for code, figures in ratio_now(conn, at=now).items():
            ratio = figures.ratio
            if ratio is None or figures.installed < rule.min_installed:
                continue
            row = seen.get(code)
            below_since = as_utc(row.below_since) if row and row.below_since else None
            alerted = bool(row and row.alerted)
            kind = None
            if ratio < rule.below:
                below_since = below_since or now
                if not alerted and now - below_since >= timedelta(minutes=rule.for_minutes):
                    kind, alerted = "ratio_low", True
            elif ratio >= rule.recover_above:
                kind = "ratio_recovered" if alerted else None
                below_since, alerted = None, False
            _save_ratio(conn, code, below_since, alerted, now)
            if kind is None or kind not in rules.kinds:
                continue
            notice = Notice(
                kind=kind,
                commune_code=code,
                commune_name=people.commune_name(code),
                at=now,
                ratio=ratio,
                working=int(figures.working),
                installed=int(figures.installed),
                threshold=rule.below if kind == "ratio_low" else rule.recover_above,
            )
            stamp = now.strftime("%Y%m%dT%H%M%S")
            notices.extend(_drafts(people, rules, notice, f"{kind}:{code}:{stamp}", []))
        added += enqueue(conn, notices, now, rules)
    return added


def _save_ratio(
    conn: Connection, code: str, below_since: datetime | None, alerted: bool, now: datetime
) -> None:
    values = {"commune_code": code, "below_since": below_since, "alerted": alerted}
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(RATIO).values(**values, updated_at=now)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["commune_code"],
            set_={"below_since": below_since, "alerted": alerted, "updated_at": now},
        )
    )


def digests(engine: Engine, rules: AlertRules, now: datetime) -> int:
    """Once a day after ``digest.at`` (local): a summary per commune for its officers."""
    if not rules.digest.enabled or "digest" not in rules.kinds:
        return 0
    local = now.astimezone(VN)
    today = int(local.strftime("%Y%m%d"))
    if local.time() < rules.digest.at:
        return 0
    with engine.begin() as conn:
        if _cursor(conn, "digest") >= today:
            return 0
        people = Directory(conn)
        t, s = TASK.c, STATE.c
        open_rows = conn.execute(
            select(t.commune_code, func.count(), func.sum(func.cast(t.deadline < now, Integer)))
            .where(t.state.in_(TASK_OPEN_STATES))
            .group_by(t.commune_code)
        ).all()
        tasks = {r[0]: (int(r[1]), int(r[2] or 0)) for r in open_rows}
        drafts: list[Draft] = []
        for code, figures in sorted(ratio_now(conn, at=now).items()):
            down = conn.execute(
                select(CAMERA.c.id, CAMERA.c.priority, s.status, s.since, s.faults)
                .select_from(CAMERA.join(STATE, s.camera_id == CAMERA.c.id))
                .where(CAMERA.c.commune_code == code, s.status.in_(("down", "degraded")))
                .order_by(s.since)
            ).all()
            items = tuple(
                CameraItem(
                    camera_id=d.id,
                    problem=d.faults or d.status,
                    priority=d.priority,
                    since=as_utc(d.since),
                )
                for d in down
            )
            opened, overdue = tasks.get(code, (0, 0))
            notice = Notice(
                kind="digest",
                commune_code=code,
                commune_name=people.commune_name(code),
                at=now,
                items=items,
                ratio=figures.ratio,
                working=int(figures.working),
                installed=int(figures.installed),
                open_tasks=opened,
                overdue_tasks=overdue,
            )
            drafts.extend(_drafts(people, rules, notice, f"digest:{code}:{today}", []))
        added = enqueue(conn, drafts, now, rules)
        _set_cursor(conn, "digest", today, now)
    return added


# ------------------------------------------------------------------------------ cursor


def _cursor(conn: Connection, name: str) -> int:
    value = conn.scalar(select(CURSOR.c.value).where(CURSOR.c.name == name))
    return int(value or 0)


def _set_cursor(conn: Connection, name: str, value: int, now: datetime) -> None:
    moved = conn.execute(
        update(CURSOR).where(CURSOR.c.name == name).values(value=value, updated_at=now)
    ).rowcount
    if not moved:
        conn.execute(CURSOR.insert().values(name=name, value=value, updated_at=now))
