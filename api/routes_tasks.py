"""``/api/v1/tasks``: repair tasks, their state changes, notes and photos."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.engine import Connection

from api import queries, tasks
from api.auth import Principal
from api.deps import MAX_ID, Caller, ReadConn, RowId, WriteConn
from api.errors import BadRequest, NotFound
from api.schemas import TaskOut
from collector.models_ops import TASK_STATES, TaskEvent

TaskState = Literal["open", "assigned", "in_progress", "reported_fixed", "verified", "closed"]
router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
EVENT = TaskEvent.__table__  # type: ignore[attr-defined]
MAX_PHOTO = 5 * 1024 * 1024
#: Who may move a task by hand: the technicians doing the work and the officers over them.
WORKERS = ("admin", "district", "commune", "technician")


class StateIn(BaseModel):
    """Move a task to ``state`` (``in_progress``, ``reported_fixed``, ...)."""

    state: str = Field(description=f"One of: {', '.join(TASK_STATES)}.")
    note: str = Field("", max_length=4000)


class NoteIn(BaseModel):
    """A note on a task."""

    note: str = Field(min_length=1, max_length=4000)


class AssignIn(BaseModel):
    """Give the task to a user (a technician of the commune)."""

    assignee_id: int = Field(ge=1, le=MAX_ID)


def _task_in_scope(conn: Connection, caller: Principal, task_id: int) -> TaskOut:
    task = queries.task_detail(conn, task_id, datetime.now(UTC))
    caller.check_commune(task.commune_code if task else None, "task", task_id)
    assert task is not None  # check_commune raised otherwise
    return task


def _writer(caller: Principal) -> None:
    caller.require(*WORKERS)
    caller.require_write()


@router.get("", response_model=list[TaskOut])
def list_tasks(
    caller: Caller,
    conn: ReadConn,
    state: TaskState | None = None,
    mine: bool = False,
    open_only: Annotated[bool, Query(alias="open")] = False,
    commune: str | None = None,
) -> list[TaskOut]:
    """Tasks in scope, newest first; ``mine``: assigned to the caller."""
    scope = caller.communes
    if commune is not None:
        caller.check_commune(commune, "commune", commune)
        scope = frozenset({commune})
    return queries.tasks(
        conn,
        scope,
        datetime.now(UTC),
        state=state,
        assignee_id=caller.user_id if mine else None,
        open_only=open_only,
    )


@router.get("/{task_id}", response_model=TaskOut)
def get_task(task_id: RowId, caller: Caller, conn: ReadConn) -> TaskOut:
    """A task with its history."""
    return _task_in_scope(conn, caller, task_id)


@router.post("/{task_id}/state", response_model=TaskOut)
def move(task_id: RowId, body: StateIn, caller: Caller, conn: WriteConn) -> TaskOut:
    """Move a task along its lifecycle (open → assigned → in progress → reported fixed)."""
    _task_in_scope(conn, caller, task_id)  # out of scope: 404 before any role check
    _writer(caller)
    tasks.move_task(
        conn,
        task_id,
        body.state,
        caller.user_id,
        datetime.now(UTC),
        note=body.note,
        allow_close=caller.role == "admin",
    )
    return _task_in_scope(conn, caller, task_id)


@router.post("/{task_id}/assign", response_model=TaskOut)
def assign(task_id: RowId, body: AssignIn, caller: Caller, conn: WriteConn) -> TaskOut:
    """Assign a task (officers and admins)."""
    _task_in_scope(conn, caller, task_id)
    caller.require("admin", "district", "commune")
    caller.require_write()
    tasks.assign(conn, task_id, body.assignee_id, caller.user_id, datetime.now(UTC))
    return _task_in_scope(conn, caller, task_id)


@router.post("/{task_id}/notes", response_model=TaskOut, status_code=201)
async def add_note(
    task_id: RowId,
    caller: Caller,
    conn: WriteConn,
    note: Annotated[str, Form(min_length=1, max_length=4000)],
    photo: Annotated[UploadFile | None, File()] = None,
) -> TaskOut:
    """Add a note, optionally with a photo (JPEG or PNG, up to 5 MB), as a form."""
    _task_in_scope(conn, caller, task_id)
    _writer(caller)
    data, kind = None, None
    if photo is not None and photo.filename:
        data = await photo.read(MAX_PHOTO + 1)
        kind = photo.content_type or ""
        if len(data) > MAX_PHOTO or kind not in ("image/jpeg", "image/png"):
            raise BadRequest(
                "Ảnh phải là JPEG hoặc PNG, tối đa 5 MB.",
                "The photo must be a JPEG or PNG of at most 5 MB.",
                "Chụp lại với độ phân giải thấp hơn / take it again at a lower resolution",
            )
    tasks.add_note(conn, task_id, caller.user_id, datetime.now(UTC), note, data, kind)
    return _task_in_scope(conn, caller, task_id)


@router.get(
    "/{task_id}/photos/{event_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
def photo(task_id: RowId, event_id: RowId, caller: Caller, conn: ReadConn) -> Response:
    """A photo attached to a task note."""
    _task_in_scope(conn, caller, task_id)
    e = EVENT.c
    row = conn.execute(
        select(e.photo, e.photo_type).where(e.id == event_id, e.task_id == task_id)
    ).first()
    if row is None or row.photo is None:
        raise NotFound("photo", event_id)
    return Response(row.photo, media_type=row.photo_type or "image/jpeg")
