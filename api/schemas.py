"""Response bodies of ``/api/v1`` (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


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
