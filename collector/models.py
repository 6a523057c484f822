"""Every SQL table of camnet, in one module (STYLE.md; FastAPI template issue #28).

Imported by the engine module (``collector.db``), by the Alembic migrations and by the
API. Tables, grouped by who writes them:

* Registry (``camnet registry import``): :class:`Province`, :class:`District`,
  :class:`Commune`, :class:`Site`, :class:`AgentRecord`, :class:`Camera`; key areas
  (``camnet areas import``): :class:`KeyArea`.
* Operations (API, ``camnet jobs``): users, tokens, repair tasks, daily roll-ups in
  :mod:`collector.models_ops`.
* Collector: :class:`HealthRow` (every report, once: the dedup key), :class:`CameraState`
  (latest state + hysteresis), :class:`StatusInterval`, :class:`AgentPresence`,
  :class:`SnapshotRow`, :class:`Quarantine`.

Timestamps are stored as UTC and read back aware (:class:`UTCDateTime`), on both databases.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Index,
    LargeBinary,
    TypeDecorator,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

#: Camera status as the collector keeps it: the agent's three plus the collector's two.
CAMERA_STATES = ("ok", "degraded", "down", "unknown", "never_reported")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as UTC and read back aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        """Store UTC (a naive value is taken as UTC already)."""
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        """Give back an aware UTC datetime on every database."""
        return None if value is None else as_utc(value)


def utc_column(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    """A timestamp column holding UTC (``timestamptz`` on PostgreSQL)."""
    return Column(UTCDateTime(), nullable=nullable, index=index)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (SQLite returns naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ------------------------------------------------------------------------------- registry


class Province(SQLModel, table=True):
    """A province or centrally-run city (2-digit code)."""

    code: str = Field(primary_key=True, max_length=2)
    name: str


class District(SQLModel, table=True):
    """A district (3-digit code); abolished in 2025 but still used for reporting."""

    code: str = Field(primary_key=True, max_length=3)
    name: str
    province_code: str = Field(foreign_key="province.code", index=True)


class Commune(SQLModel, table=True):
    """A commune, ward or town (5-digit code), valid over a date range."""

    code: str = Field(primary_key=True, max_length=5)
    name: str
    province_code: str = Field(foreign_key="province.code", index=True)
    district_code: str | None = Field(default=None, foreign_key="district.code")
    valid_from: date | None = None
    valid_to: date | None = None
    #: The commune this one was merged into (2025 reorganisation), when it no longer exists.
    merged_into: str | None = Field(default=None, max_length=5, index=True)


class Site(SQLModel, table=True):
    """An NVR site: where a commune's cameras are recorded and an agent sits."""

    id: str = Field(primary_key=True, max_length=64)
    commune_code: str = Field(foreign_key="commune.code", index=True)
    name: str = ""
    address: str = ""
    lat: float | None = None
    lon: float | None = None


class AgentRecord(SQLModel, table=True):
    """An edge agent registered to a site."""

    __tablename__ = "agent"

    id: str = Field(primary_key=True, max_length=64)
    site_id: str = Field(foreign_key="site.id", index=True)
    commune_code: str = Field(foreign_key="commune.code", index=True)
    name: str = ""


class Camera(SQLModel, table=True):
    """A camera of the official inventory."""

    id: str = Field(primary_key=True, max_length=64)
    commune_code: str = Field(foreign_key="commune.code", index=True)
    site_id: str | None = Field(default=None, foreign_key="site.id", index=True)
    agent_id: str | None = Field(default=None, index=True, max_length=64)
    name: str = ""
    lat: float | None = None
    lon: float | None = None
    heading: float | None = None  # degrees clockwise from north
    fov: float | None = None  # horizontal field of view, degrees
    range_m: float | None = None  # useful viewing distance, metres
    camera_type: str = "bullet"
    expected_codec: str | None = None
    expected_width: int | None = None
    expected_height: int | None = None
    expected_fps: float | None = None
    expected_audio: bool | None = None
    installed_on: date | None = None
    removed_on: date | None = None
    funding: str = "budget"  # budget | socialised
    priority: str = "normal"  # hotspot | main_road | border | normal


class KeyArea(SQLModel, table=True):
    """A place the committee wants seen: a hotspot, a main road, a village border, an area.

    ``geometry`` is GeoJSON (WGS 84): Point or Polygon for hotspots, LineString (or Multi-)
    for roads and borders, Polygon for areas. Imported with ``camnet areas import``.
    """

    __tablename__ = "key_area"

    id: str = Field(primary_key=True, max_length=64)
    commune_code: str = Field(foreign_key="commune.code", index=True)
    kind: str = Field(max_length=16)  # hotspot | main_road | village_border | area
    name: str = ""
    weight: float = 1.0
    geometry: str  # GeoJSON geometry object, WGS 84


# ------------------------------------------------------------------------------ collector


class HealthRow(SQLModel, table=True):
    """Every accepted health report, stored once (``report_id`` is the dedup key)."""

    __tablename__ = "health_report"

    report_id: str = Field(primary_key=True, max_length=32)
    camera_id: str = Field(max_length=64)
    agent_id: str = Field(max_length=64)
    probed_at: datetime = Field(sa_column=utc_column())
    received_at: datetime = Field(sa_column=utc_column())
    status: str = Field(max_length=16)
    cause: str | None = Field(default=None, max_length=32)
    faults: str = ""  # comma-separated, sorted

    __table_args__ = (Index("ix_health_report_camera_probed", "camera_id", "probed_at"),)


class CameraState(SQLModel, table=True):
    """The latest state of a camera, with the hysteresis counters.

    Written when any of it changes, not for every report: the time of a camera's last
    report is the newest ``health_report`` row's (see ``collector.store.last_reports``).
    """

    __tablename__ = "camera_state"

    camera_id: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=16)
    faults: str = ""
    cause: str | None = None
    since: datetime = Field(sa_column=utc_column())
    #: A status seen but not yet confirmed by hysteresis, how often and since when.
    pending_status: str | None = None
    pending_count: int = 0
    pending_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    pending_faults: str = ""
    pending_cause: str | None = None
    agent_id: str | None = None


class StatusInterval(SQLModel, table=True):
    """A camera was in ``status`` (with ``faults``) from ``start`` to ``end`` (open: None)."""

    __tablename__ = "status_interval"

    id: int | None = Field(default=None, primary_key=True)
    camera_id: str = Field(max_length=64)
    status: str = Field(max_length=16)
    faults: str = ""
    cause: str | None = None
    start: datetime = Field(sa_column=utc_column())
    end: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

    __table_args__ = (
        Index("ix_status_interval_camera_start", "camera_id", "start"),
        UniqueConstraint("camera_id", "start", name="uq_status_interval_camera_start"),
    )


class AgentPresence(SQLModel, table=True):
    """Whether an agent is online, from its status messages and heartbeats."""

    __tablename__ = "agent_presence"

    agent_id: str = Field(primary_key=True, max_length=64)
    commune_code: str | None = None
    state: str = "online"  # online | offline
    since: datetime = Field(sa_column=utc_column())
    last_seen: datetime = Field(sa_column=utc_column())
    heartbeat: float = 60.0
    outbox_pending: int = 0
    outbox_dropped: int = 0


class SnapshotRow(SQLModel, table=True):
    """A JPEG sent as evidence (on status change and daily)."""

    __tablename__ = "snapshot"

    id: int | None = Field(default=None, primary_key=True)
    camera_id: str = Field(max_length=64, index=True)
    report_id: str = Field(max_length=32, unique=True)
    taken_at: datetime = Field(sa_column=utc_column())
    reason: str = Field(max_length=16)
    width: int
    height: int
    jpeg: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Quarantine(SQLModel, table=True):
    """A payload the collector refused: kept with the reason, never dropped silently."""

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(sa_column=utc_column(index=True))
    topic: str = Field(max_length=512)
    reason: str = Field(max_length=64)  # bad_json | bad_schema | bad_topic | unknown_camera ...
    detail: str = Field(default="", max_length=2000)
    size: int
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


# The operations tables (users, tasks, roll-ups, alerts) belong to the same metadata and history.
from collector import models_alerts as models_alerts  # noqa: E402
from collector import models_ops as models_ops  # noqa: E402
