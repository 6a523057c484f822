"""Response bodies of ``/api/v1`` (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

#: ``collector.models_alerts.NOTIFICATION_STATES`` (a test keeps the two the same).
DeliveryState = Literal["pending", "sending", "sent", "failed", "uncertain"]
#: ``collector.models_alerts.CONTACT_CHANNELS`` (idem).
ContactChannel = Literal["email", "telegram", "zalo"]
#: Where a notification can go: a person's contact, or a configured webhook.
DeliveryChannel = Literal["email", "telegram", "zalo", "webhook"]


class CommuneRow(BaseModel):
    """One line of the district table: how a commune's cameras are doing."""

    code: str = Field(description="5-digit commune code.")
    name: str
    district_code: str | None = None
    province_code: str
    installed: int = Field(description="Cameras installed today (the official list).")
    working: int = Field(description="Cameras ok or degraded now.")
    ratio: float | None = Field(description="working / installed now; null: none installed.")
    by_status: dict[str, int] = Field(description="Cameras per status now.")
    uptime: float | None = Field(
        description="Time-weighted working ratio over the window (camera-seconds)."
    )
    unknown_share: float | None = Field(
        description="Share of the window with no information (agent offline): never counted "
        "as working."
    )
    window_days: int = Field(description="Length of the uptime window in days.")
    cameras_down: int = Field(description="Cameras down now.")
    longest_down_seconds: float | None = Field(
        description="How long the longest current outage (down) has lasted."
    )
    open_tasks: int
    overdue_tasks: int
    coverage: float | None = Field(
        None, description="Weighted share of the key areas seen by working cameras."
    )


class TrendPoint(BaseModel):
    """A commune's (or the district's) working ratio on one local day."""

    day: str = Field(description="YYYY-MM-DD, Asia/Ho_Chi_Minh.")
    uptime: float | None
    unknown_share: float | None


class CameraRow(BaseModel):
    """A camera of the registry with its state now."""

    id: str
    name: str
    commune_code: str
    site_id: str | None
    agent_id: str | None
    lat: float | None
    lon: float | None
    heading: float | None
    fov: float | None
    range_m: float | None
    camera_type: str
    priority: str
    status: str = Field(description="ok, degraded, down, unknown or never_reported.")
    faults: list[str]
    cause: str | None
    since: datetime | None = Field(description="In this status since.")
    last_report_at: datetime | None
    open_task_id: int | None = None


class IntervalOut(BaseModel):
    """The camera was in ``status`` from ``start`` to ``end`` (null: still)."""

    status: str
    faults: list[str]
    cause: str | None
    start: datetime
    end: datetime | None


class SnapshotRef(BaseModel):
    """A stored snapshot; the JPEG is at ``/api/v1/snapshots/{id}.jpg``."""

    id: int
    taken_at: datetime
    reason: str
    width: int
    height: int


class TaskEventOut(BaseModel):
    """One line of a task's history."""

    id: int
    at: datetime
    user: str | None
    kind: str
    from_state: str | None
    to_state: str | None
    note: str
    has_photo: bool


class TaskOut(BaseModel):
    """A repair task."""

    id: int
    kind: str = Field(description="camera, or site (an offline agent / NVR).")
    camera_id: str | None
    camera_name: str | None = None
    site_id: str | None
    commune_code: str
    commune_name: str | None = None
    cameras: list[str] = Field(description="Site tasks: the cameras the site serves.")
    state: str
    problem: str
    status_seen: str
    faults: list[str]
    cause: str | None
    diagnosis: str = Field(description="What is wrong and what to do / bring (Vietnamese).")
    diagnosis_en: str
    priority: str
    failed_at: datetime
    opened_at: datetime
    deadline: datetime
    overdue: bool
    assignee: str | None
    escalation: int
    location_url: str | None = Field(description="A map link to the camera or site.")
    reported_fixed_at: datetime | None
    fixed_at: datetime | None
    closed_at: datetime | None
    repair_seconds: float | None
    reopened: int
    events: list[TaskEventOut] = Field(default_factory=list)


class CameraDetail(CameraRow):
    """A camera with its timeline, snapshots and tasks."""

    timeline: list[IntervalOut]
    last_snapshot: SnapshotRef | None
    reference_snapshot: SnapshotRef | None = Field(
        description="The last snapshot taken while the camera was ok (how it should look)."
    )
    tasks: list[TaskOut]


class DeliveryOut(BaseModel):
    """One notification of ``camnet alerts``: to whom, how, and what became of it."""

    id: int
    kind: str = Field(description="camera_down, camera_recovered, site_offline, task_overdue, ...")
    commune_code: str | None = Field(description="null: not about a commune (webhook tests).")
    commune_name: str | None = None
    task_id: int | None
    user_id: int | None = Field(description="The recipient; null for a webhook.")
    username: str | None
    channel: str = Field(description="email, telegram, zalo or webhook.")
    address: str = Field(
        description="The contact (the webhook's name); masked (n***@example.com, ****1234) "
        "unless the caller is an admin or the recipient."
    )
    priority: str
    subject: str
    state: str = Field(description="pending, sending, sent, failed or uncertain.")
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    held: str = Field(description="Why it waits: quiet_hours, rate_limit, or empty.")
    sent_at: datetime | None
    last_error: str


class DeliveryDetail(DeliveryOut):
    """A notification with its text."""

    body: str = Field(description="The message as sent (in the recipient's language).")


class AlertSummary(BaseModel):
    """How the notifications in scope are doing."""

    commune: str | None = Field(description="The commune asked for; null: the whole scope.")
    last_24h: dict[str, int] = Field(description="Notifications made in the last 24 h, by state.")
    last_7d: dict[str, int] = Field(description="The same over 7 days.")
    oldest_pending_seconds: float | None = Field(
        description="Age of the oldest notification still pending; null: none pending."
    )


class ContactIn(BaseModel):
    """A new place where a user receives alerts."""

    channel: ContactChannel
    address: str = Field(
        min_length=1,
        max_length=300,
        description="email: name@example.vn; telegram: the chat id (digits, a group's with "
        "a leading '-'); zalo: the user id the OA received (digits).",
    )


class ContactOut(BaseModel):
    """A user's alert contact."""

    id: int
    user_id: int
    username: str
    channel: str
    address: str
    active: bool = Field(description="false: switched off (not used for new notifications).")
    created_at: datetime
