"""Repair-task pages: ``/my-tasks`` (a phone list), ``/tasks/{id}`` and its two forms.

The forms post to ``/tasks/{id}/state`` and ``/tasks/{id}/notes`` and come back to the
task page (303); a refused change (a transition the lifecycle does not allow, a photo too
large, a read-only account) is shown there in the caller's language. Tasks outside the
caller's communes answer 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from api import queries, tasks
from api.auth import Principal
from api.deps import ReadConn, get_engine
from api.errors import ApiError, NotFound
from api.pages_common import Page, PageRoute, SignedIn, check_csrf, flash, redirect
from api.routes_tasks import WORKERS
from api.schemas import TaskOut
from api.tasks_flow import MAX_PHOTO, TRANSITIONS
from collector.models_ops import TASK_OPEN_STATES

router = APIRouter(route_class=PageRoute, include_in_schema=False)
EngineDep = Annotated[Engine, Depends(get_engine)]
#: The state buttons: the moves of the lifecycle (``api.tasks_flow.TRANSITIONS``) except
#: ``assigned``, which needs an assignee (``POST /api/v1/tasks/{id}/assign``).
NEXT_STATES = {
    state: tuple(s for s in moves if s != "assigned") for state, moves in TRANSITIONS.items()
}
PRIORITY_RANK = {priority: rank for rank, priority in enumerate(tasks.PRIORITIES)}


def next_states(task: TaskOut, me: Principal) -> tuple[str, ...]:
    """The state buttons ``me`` gets on ``task`` (none for read-only callers)."""
    if me.read_only or me.role not in WORKERS:
        return ()
    states = NEXT_STATES.get(task.state, ())
    if me.role == "admin" and task.state in TASK_OPEN_STATES:  # with a reason in the note
        states = (*states, "closed")
    return states


def urgency(task: TaskOut) -> tuple[bool, int, datetime]:
    """Sort key: overdue first, then by priority, then the nearest deadline."""
    return (not task.overdue, PRIORITY_RANK.get(task.priority, 9), task.deadline)


def task_in_scope(conn: Connection, me: Principal, task_id: int) -> TaskOut:
    """The task with its history, or 404 when absent or outside the caller's communes."""
    task = queries.task_detail(conn, task_id, datetime.now(UTC))
    if task is None:
        raise NotFound("task", task_id)
    me.check_commune(task.commune_code, "task", task_id)
    return task


@router.get("/my-tasks")
def my_tasks(page: SignedIn, conn: ReadConn) -> Response:
    """Open tasks: a technician's own first, then the rest of their communes."""
    me, now = page.principal, datetime.now(UTC)
    rows = sorted(queries.tasks(conn, me.communes, now, open_only=True), key=urgency)
    if me.role == "technician":
        own = queries.tasks(conn, me.communes, now, assignee_id=me.user_id, open_only=True)
        ids = {t.id for t in own}
        sections = [
            ("tasks.mine", [t for t in rows if t.id in ids]),
            ("tasks.others", [t for t in rows if t.id not in ids]),
        ]
    else:
        sections = [("tasks.in_scope", rows)]
    return page.render("my_tasks.html", sections=sections, count=len(rows))


@router.get("/tasks/{task_id}")
def task_page(task_id: int, page: SignedIn, conn: ReadConn) -> Response:
    """A task with its history, the state buttons and the note form."""
    me = page.principal
    task = task_in_scope(conn, me, task_id)
    may_write = not me.read_only and me.role in WORKERS
    return page.render(
        "task.html", task=task, next_states=next_states(task, me), may_write=may_write
    )


Change = Callable[[Connection, Principal, datetime], str]


def _apply(page: Page, engine: Engine, task_id: int, change: Change) -> None:
    """Run ``change`` in one transaction and keep its message (or the refusal) for the page."""
    me = page.principal
    try:
        with engine.begin() as conn:
            task_in_scope(conn, me, task_id)
            me.require(*WORKERS)
            me.require_write()
            done = change(conn, me, datetime.now(UTC))
    except NotFound:
        raise  # outside the caller's communes: the 404 page, not a message
    except ApiError as exc:
        flash(page.request, "error", page.t.message(exc.message, exc.message_en))
    else:
        flash(page.request, "ok", done)


@router.post("/tasks/{task_id}/state")
def task_state(
    task_id: int,
    page: SignedIn,
    engine: EngineDep,
    state: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=4000)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """The state buttons: move the task, then back to its page."""
    check_csrf(page.request, csrf)
    t = page.t

    def move(conn: Connection, me: Principal, now: datetime) -> str:
        tasks.move_task(
            conn, task_id, state, me.user_id, now, note=note.strip(), allow_close=me.role == "admin"
        )
        return t("flash.moved", state=t.label("state", state))

    _apply(page, engine, task_id, move)
    return redirect(f"/tasks/{task_id}")


@router.post("/tasks/{task_id}/notes")
async def task_note(
    task_id: int,
    page: SignedIn,
    engine: EngineDep,
    note: Annotated[str, Form(max_length=4000)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """The note form (text and an optional photo from the phone's camera)."""
    check_csrf(page.request, csrf)
    back = redirect(f"/tasks/{task_id}")
    data, kind = None, None
    if photo is not None and photo.filename:
        data = await photo.read(MAX_PHOTO + 1)  # add_note refuses more than MAX_PHOTO
        kind = photo.content_type or ""

    def add(conn: Connection, me: Principal, now: datetime) -> str:
        tasks.add_note(conn, task_id, me.user_id, now, note.strip(), photo=data, photo_type=kind)
        return page.t("flash.noted")

    await run_in_threadpool(_apply, page, engine, task_id, add)
    return back
