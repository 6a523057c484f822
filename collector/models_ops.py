"""Tables of the operations side: users and tokens, repair tasks, daily roll-ups.

Written by the API (users, tokens, task updates from people) and by ``camnet jobs``
(tasks raised, verified, closed, escalated; the daily roll-up). They live beside the
collector's tables so that one Alembic history (``collector/migrations``) builds the whole
database; ``collector.models`` imports this module so ``SQLModel.metadata`` has them all.

Roles (``User.role``): ``admin`` (everything), ``district`` (every commune of
``district_code``, or of ``province_code`` when the district is not used), ``commune``
(the commune officer: the communes in ``user_commune``, normally one), ``technician``
(the communes in ``user_commune``: tasks there), ``reader`` (machine clients such as the
ANTT scoring system: read-only, scoped like ``district`` or to everything).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from collector.models import utc_column

ROLES = ("admin", "district", "commune", "technician", "reader")
#: Repair-task lifecycle, in order; ``closed`` is the end (a reopened task goes back to open).
TASK_STATES = ("open", "assigned", "in_progress", "reported_fixed", "verified", "closed")
#: Task states in which the task still needs work (not yet verified by the agent).
TASK_OPEN_STATES = ("open", "assigned", "in_progress", "reported_fixed")


class User(SQLModel, table=True):
    """A person or a machine client that can log in or hold tokens."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    full_name: str = ""
    role: str = Field(max_length=16)  # one of ROLES
    password_hash: str = ""  # argon2; empty: cannot log in with a password (token only)
    province_code: str | None = Field(default=None, max_length=2)
    district_code: str | None = Field(default=None, max_length=3)
    phone: str = ""
    email: str = ""
    language: str = "vi"
    active: bool = True
    created_at: datetime = Field(sa_column=utc_column())


class UserCommune(SQLModel, table=True):
    """A commune a ``commune`` officer or a ``technician`` is responsible for."""

    __tablename__ = "user_commune"

    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    commune_code: str = Field(foreign_key="commune.code", primary_key=True, max_length=5)


class ApiToken(SQLModel, table=True):
    """A bearer token for a machine client; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    name: str = ""
    token_sha256: str = Field(max_length=64, unique=True)
    read_only: bool = True
    created_at: datetime = Field(sa_column=utc_column())
    last_used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    revoked: bool = False


class RepairTask(SQLModel, table=True):
    """Work for a technician: one camera, or one NVR site whose agent is offline."""

    __tablename__ = "repair_task"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # camera | site
    camera_id: str | None = Field(default=None, max_length=64, index=True)
    site_id: str | None = Field(default=None, max_length=64, index=True)
    agent_id: str | None = Field(default=None, max_length=64)
    commune_code: str = Field(max_length=5, index=True)
    cameras: str = ""  # site tasks: the cameras it covers, comma-separated
    state: str = Field(max_length=16, index=True)  # one of TASK_STATES
    problem: str = Field(max_length=32)  # offline | no_picture | covered | blurred | moved ...
    status_seen: str = Field(max_length=16)  # camera status that raised it (down, degraded, ...)
    faults: str = ""
    cause: str | None = None
    diagnosis: str = ""  # Vietnamese: what is wrong and what to do / bring
    diagnosis_en: str = ""
    priority: str = Field(max_length=16)  # hotspot | main_road | border | normal
    failed_at: datetime = Field(sa_column=utc_column())  # the camera broke then
    opened_at: datetime = Field(sa_column=utc_column())
    deadline: datetime = Field(sa_column=utc_column())  # SLA
    assignee_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    escalation: int = 0  # 0 none, 1 commune officer, 2 district
    escalated_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    reported_fixed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    fixed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    repair_seconds: float | None = None  # failed_at -> fixed_at (the camera worked again)
    reopened: int = 0
    updated_at: datetime = Field(sa_column=utc_column())

    __table_args__ = (Index("ix_repair_task_commune_state", "commune_code", "state"),)


class TaskEvent(SQLModel, table=True):
    """One line of a task's history: a state change, a note, a photo, an escalation."""

    __tablename__ = "task_event"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="repair_task.id", index=True)
    at: datetime = Field(sa_column=utc_column())
    user_id: int | None = Field(default=None, foreign_key="app_user.id")
    kind: str = Field(max_length=16)  # raised | state | note | escalated | reopened | assigned
    from_state: str | None = None
    to_state: str | None = None
    note: str = Field(default="", max_length=4000)
    photo: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    photo_type: str | None = None
    level: int | None = None  # escalated: the level reached (1 commune officer, 2 district)


class CommuneDay(SQLModel, table=True):
    """Camera-seconds per status of one commune on one local (Vietnam) day.

    Written by ``camnet jobs`` for finished days so that uptime over 30 days or a year is
    a sum of small rows, not a scan of every interval.
    """

    __tablename__ = "commune_day"

    commune_code: str = Field(primary_key=True, max_length=5)
    day: date = Field(primary_key=True)
    installed: float = 0.0
    ok: float = 0.0
    degraded: float = 0.0
    down: float = 0.0
    unknown: float = 0.0
    never_reported: float = 0.0
    computed_at: datetime = Field(sa_column=utc_column())


class EvaluationRecord(SQLModel, table=True):
    """A yearly evaluation as it was computed: its SHA-256 and the whole JSON document.

    Written by ``camnet evaluate`` and ``GET /api/v1/evaluations/{year}``: a later result of
    the same year, scope and rubric with another digest shows that the data changed.
    """

    __tablename__ = "evaluation_record"

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    scope: str = Field(max_length=200)  # all | district:CODE | province:CODE | communes:...
    rubric: str = Field(max_length=200)  # name@version
    period_start: datetime = Field(sa_column=utc_column())
    period_end: datetime = Field(sa_column=utc_column())
    data_until: datetime = Field(sa_column=utc_column())
    sha256: str = Field(max_length=64)
    communes: int = 0
    computed_at: datetime = Field(sa_column=utc_column())
    source: str = Field(default="cli", max_length=16)  # cli | api
    document: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # gzip of the JSON

    __table_args__ = (Index("ix_evaluation_record_year_scope", "year", "scope", "rubric"),)
