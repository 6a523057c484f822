"""The flow of a repair task: what people do to it, and escalation when it is late.

``move_task``, ``assign`` and ``add_note`` are what people do (through the API);
``escalate`` is the system telling the commune officer, then the district, about a task
past its deadline (called by ``api.tasks.tick``, which also raises, verifies and closes).

Lifecycle (``collector.models_ops.TASK_STATES``; docs/tasks.md draws it): ``open``,
``assigned``, ``in_progress``, ``reported_fixed`` need work; ``verified`` and ``closed``
are the system's.

People move ``open → assigned | in_progress``, ``assigned → in_progress | reported_fixed``,
``in_progress → reported_fixed`` and back ``reported_fixed → in_progress``. Only the
system (``api.tasks.tick``) verifies and closes, once the agent's probes prove the camera
works; an admin may close a task by hand with a reason (``allow_close``: camera removed,
duplicate...). Every change is a :class:`~collector.models_ops.TaskEvent`.

Each function takes a connection inside the caller's transaction
(``with engine.begin() as conn``) and raises ``api.errors`` domain errors.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Table, and_, insert, select, update
from sqlalchemy.engine import Connection

from api.errors import BadRequest, Conflict, Forbidden, InvalidTransition, NotFound
from collector.models import Commune, as_utc
from collector.models_ops import TASK_OPEN_STATES, RepairTask, TaskEvent, User, UserCommune
from collector.ratio import VN

AnyRow = Row[*tuple[Any, ...]]
log = logging.getLogger(__name__)

TASK: Table = RepairTask.__table__  # type: ignore[attr-defined]
EVENT: Table = TaskEvent.__table__  # type: ignore[attr-defined]
USER: Table = User.__table__  # type: ignore[attr-defined]
USER_COMMUNE: Table = UserCommune.__table__  # type: ignore[attr-defined]
COMMUNE: Table = Commune.__table__  # type: ignore[attr-defined]

#: The moves people may make, from each state.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("assigned", "in_progress"),
    "assigned": ("in_progress", "reported_fixed"),
    "in_progress": ("reported_fixed",),
    "reported_fixed": ("in_progress",),
    "verified": (),
    "closed": (),
}
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
MAX_PHOTO = 5 * 1024 * 1024
MAX_NOTE = 4000


def add_event(
    conn: Connection,
    task_id: int,
    at: datetime,
    kind: str,
    *,
    user_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    note: str = "",
    photo: bytes | None = None,
    photo_type: str | None = None,
    level: int | None = None,
) -> int:
    """Append a line to a task's history; return its id."""
    event_id = conn.execute(
        insert(EVENT)
        .returning(EVENT.c.id)
        .values(
            task_id=task_id,
            at=at,
            user_id=user_id,
            kind=kind,
            from_state=from_state,
            to_state=to_state,
            note=note[:MAX_NOTE],
            photo=photo,
            photo_type=photo_type,
            level=level,
        )
    ).scalar_one()
    return int(event_id)


def load_task(conn: Connection, task_id: int) -> AnyRow:
    """The task row, locked for update (PostgreSQL); NotFound when there is none."""
    row = conn.execute(select(TASK).where(TASK.c.id == task_id).with_for_update()).first()
    if row is None:
        raise NotFound("task", task_id)
    return row


def _user(conn: Connection, user_id: int) -> AnyRow:
    u = USER.c
    row = conn.execute(select(u.id, u.role, u.active, u.username).where(u.id == user_id)).first()
    if row is None:
        raise NotFound("user", user_id)
    return row


def move_task(
    conn: Connection,
    task_id: int,
    to_state: str,
    user_id: int,
    now: datetime,
    note: str = "",
    *,
    allow_close: bool = False,
) -> None:
    """Move a task to ``to_state`` on behalf of ``user_id``.

    Moving to ``assigned`` or ``in_progress`` an unassigned task assigns it to the user
    (a technician taking it). ``reported_fixed`` stamps ``reported_fixed_at``; going back
    to ``in_progress`` clears it. With ``allow_close`` (admins only) any task not closed
    yet may be closed, with a ``note`` saying why.

    Raises:
        NotFound: No such task or user.
        InvalidTransition: The move is not allowed from the task's state.
        Forbidden: ``allow_close`` by someone who is not an admin.
        BadRequest: Closing without a note.
    """
    task = load_task(conn, task_id)
    user = _user(conn, user_id)
    current = str(task.state)
    values: dict[str, Any] = {"state": to_state, "updated_at": now}
    if allow_close and to_state == "closed" and current != "closed":
        if user.role != "admin":
            raise Forbidden(
                "Chỉ quản trị viên được đóng nhiệm vụ bằng tay.",
                "Only an admin may close a task by hand.",
                "Báo đã sửa; hệ thống sẽ tự đóng khi camera hoạt động lại / report it fixed; "
                "the system closes it once the camera works",
            )
        if not note.strip():
            raise BadRequest(
                "Cần ghi lý do đóng nhiệm vụ.",
                "A reason is needed to close a task by hand.",
                "Ví dụ: 'camera đã tháo dỡ' / e.g. 'camera removed'",
            )
        values["closed_at"] = now
    else:
        allowed = TRANSITIONS.get(current, ())
        if to_state not in allowed:
            options = [*allowed, "closed"] if allow_close and current != "closed" else allowed
            raise InvalidTransition(task_id, current, to_state, list(options))
        if to_state in ("assigned", "in_progress") and task.assignee_id is None:
            values["assignee_id"] = user_id
        if to_state == "reported_fixed":
            values["reported_fixed_at"] = now
        elif current == "reported_fixed":
            values["reported_fixed_at"] = None
    conn.execute(update(TASK).where(TASK.c.id == task_id).values(**values))
    add_event(
        conn,
        task_id,
        now,
        "state",
        user_id=user_id,
        from_state=current,
        to_state=to_state,
        note=note,
    )


def assign(
    conn: Connection, task_id: int, assignee_id: int, by_user_id: int, now: datetime
) -> None:
    """Give a task still needing work to ``assignee_id``; an ``open`` one becomes ``assigned``.

    Raises:
        NotFound: No such task, assignee or assigning user.
        Conflict: The task is verified or closed already.
        BadRequest: The assignee is inactive or a read-only machine client.
    """
    task = load_task(conn, task_id)
    _user(conn, by_user_id)
    assignee = _user(conn, assignee_id)
    if task.state not in TASK_OPEN_STATES:
        raise Conflict(
            f"Nhiệm vụ {task_id} đã '{task.state}', không giao lại được.",
            f"Task {task_id} is '{task.state}'; it cannot be assigned.",
            "Chỉ giao nhiệm vụ còn mở / only tasks still open can be assigned",
        )
    if not assignee.active or assignee.role == "reader":
        raise BadRequest(
            f"Không giao được cho {assignee.username}: tài khoản bị khoá hoặc chỉ đọc.",
            f"Cannot assign to {assignee.username}: inactive or a read-only client.",
            "Chọn một kỹ thuật viên đang hoạt động / choose an active technician",
        )
    values: dict[str, Any] = {"assignee_id": assignee_id, "updated_at": now}
    to_state = "assigned" if task.state == "open" else task.state
    values["state"] = to_state
    conn.execute(update(TASK).where(TASK.c.id == task_id).values(**values))
    add_event(
        conn,
        task_id,
        now,
        "assigned",
        user_id=by_user_id,
        from_state=task.state,
        to_state=to_state,
        note=f"Giao cho / assigned to {assignee.username}",
    )


def add_note(
    conn: Connection,
    task_id: int,
    user_id: int,
    now: datetime,
    note: str,
    photo: bytes | None = None,
    photo_type: str | None = None,
) -> int:
    """Add a note (and a JPEG/PNG/WebP photo) to a task in any state; return the event id.

    Raises:
        NotFound: No such task or user.
        BadRequest: Nothing to add, a note too long, or a photo too big or of another type.
    """
    load_task(conn, task_id)
    _user(conn, user_id)
    if not note.strip() and not photo:
        raise BadRequest(
            "Ghi chú trống.", "The note is empty.", "Viết ghi chú hoặc gửi ảnh / write or attach"
        )
    if len(note) > MAX_NOTE:
        raise BadRequest(
            f"Ghi chú dài quá {MAX_NOTE} ký tự.",
            f"The note is longer than {MAX_NOTE} characters.",
            "Viết ngắn lại / shorten it",
        )
    if photo and (photo_type not in PHOTO_TYPES or len(photo) > MAX_PHOTO):
        raise BadRequest(
            "Ảnh phải là JPEG, PNG hoặc WebP, tối đa 5 MB.",
            "The photo must be a JPEG, PNG or WebP of at most 5 MB.",
            "Chụp lại với độ phân giải thấp hơn / take it again at a lower resolution",
        )
    conn.execute(update(TASK).where(TASK.c.id == task_id).values(updated_at=now))
    return add_event(
        conn,
        task_id,
        now,
        "note",
        user_id=user_id,
        note=note,
        photo=photo or None,
        photo_type=photo_type if photo else None,
    )


# ------------------------------------------------------------------------------ escalate


def escalate(conn: Connection, now: datetime, district_after_hours: float, people: People) -> int:
    """Escalate tasks still needing work past their deadline; return how many moved up.

    Level 1 (the commune officer) from the deadline, level 2 (the district) from
    ``district_after_hours`` after it; a task late for both goes straight to 2. Each step
    is an ``escalated`` event naming who is told.
    """
    t = TASK.c
    rows = conn.execute(
        select(t.id, t.commune_code, t.deadline, t.escalation).where(
            t.state.in_(TASK_OPEN_STATES), t.deadline <= now, t.escalation < 2
        )
    ).all()
    after = timedelta(hours=district_after_hours)
    moved = 0
    for row in rows:
        deadline = as_utc(row.deadline)
        level = 2 if now >= deadline + after else 1
        if level <= row.escalation:
            continue
        conn.execute(
            update(TASK)
            .where(t.id == row.id)
            .values(escalation=level, escalated_at=now, updated_at=now)
        )
        note = people.escalation_note(level, row.commune_code, deadline)
        add_event(conn, row.id, now, "escalated", note=note, level=level)
        moved += 1
        log.info("task %s escalated to level %d", row.id, level)
    return moved


class People:
    """Who works on a commune's tasks, looked up once per tick."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._tech: dict[str, tuple[int, str] | None] = {}

    def _linked(self, commune: str, role: str) -> list[AnyRow]:
        u, uc = USER.c, USER_COMMUNE.c
        return list(
            self.conn.execute(
                select(u.id, u.username, u.full_name)
                .select_from(USER.join(USER_COMMUNE, uc.user_id == u.id))
                .where(uc.commune_code == commune, u.role == role, u.active)
                .order_by(u.id)
            )
        )

    def technician(self, commune: str) -> tuple[int, str] | None:
        """The commune's technician (lowest id) as (user id, name), or None."""
        if commune not in self._tech:
            rows = self._linked(commune, "technician")
            self._tech[commune] = (
                (rows[0].id, rows[0].full_name or rows[0].username) if rows else None
            )
        return self._tech[commune]

    def _district(self, commune: str) -> list[AnyRow]:
        u, k = USER.c, COMMUNE.c
        place = self.conn.execute(
            select(k.district_code, k.province_code).where(k.code == commune)
        ).first()
        if place is None:
            return []
        scope = (
            u.district_code == place.district_code
            if place.district_code
            else and_(u.district_code.is_(None), u.province_code == place.province_code)
        )
        query = select(u.id, u.username, u.full_name).where(u.role == "district", u.active, scope)
        return list(self.conn.execute(query.order_by(u.id)))

    def escalation_note(self, level: int, commune: str, deadline: datetime) -> str:
        """Say who is told now, Vietnamese / English."""
        local = deadline.astimezone(VN).strftime("%H:%M %d/%m/%Y")
        if level == 1:
            people = self._linked(commune, "commune")
            vi, en = "cán bộ xã (vai trò commune)", "commune officer (role commune)"
        else:
            people = self._district(commune)
            vi, en = "cấp huyện (vai trò district)", "district (role district)"
        names = ", ".join(p.full_name or p.username for p in people) or "chưa có tài khoản / none"
        return f"Quá hạn {local}: báo {vi} / overdue since {local} (ICT): tell the {en}: {names}"
