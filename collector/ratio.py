"""Working-camera ratio per commune, now and time-weighted over a window.

Counted against the official inventory: every camera installed at the time counts, and a
camera that never reported is ``never_reported`` — not working. A camera is *working*
when its status is in ``working`` (default ok or degraded). Dates of the registry
(installed / removed) are local dates in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, func, literal_column, or_, select
from sqlalchemy.engine import Connection

from collector.models import CAMERA_STATES, Camera, CameraState, StatusInterval, as_utc

VN = ZoneInfo("Asia/Ho_Chi_Minh")
WORKING = ("ok", "degraded")
CAMERA: Table = Camera.__table__  # type: ignore[attr-defined]
STATE: Table = CameraState.__table__  # type: ignore[attr-defined]
INTERVAL: Table = StatusInterval.__table__  # type: ignore[attr-defined]


@dataclass
class CommuneRatio:
    """One commune's figures: camera counts (now) or camera-seconds (window) per status."""

    commune: str
    installed: float = 0.0  # cameras (now) or camera-seconds (window)
    by_status: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CAMERA_STATES, 0.0))
    working: float = 0.0

    @property
    def ratio(self) -> float | None:
        """Working / installed, or None when nothing is installed."""
        return self.working / self.installed if self.installed else None


def local_midnight(day: date) -> datetime:
    """The UTC instant a local (Vietnam) date begins."""
    return datetime.combine(day, time(), VN).astimezone(UTC)


def _installed_at(day: date) -> object:
    c = CAMERA.c
    return and_(
        or_(c.installed_on.is_(None), c.installed_on <= day),
        or_(c.removed_on.is_(None), c.removed_on > day),
    )


def ratio_now(
    conn: Connection,
    commune: str | None = None,
    at: datetime | None = None,
    working: tuple[str, ...] = WORKING,
) -> dict[str, CommuneRatio]:
    """Cameras per status per commune now (or at ``at``), from the latest states."""
    today = (at or datetime.now(UTC)).astimezone(VN).date()
    c, s = CAMERA.c, STATE.c
    status = func.coalesce(s.status, literal_column("'never_reported'")).label("status")
    query = (
        select(c.commune_code, status, func.count())
        .select_from(CAMERA.outerjoin(STATE, s.camera_id == c.id))
        .where(_installed_at(today))  # type: ignore[arg-type]
        .group_by(c.commune_code, status)
    )
    if commune is not None:
        query = query.where(c.commune_code == commune)
    out: dict[str, CommuneRatio] = {}
    for code, state, n in conn.execute(query):
        row = out.setdefault(code, CommuneRatio(code))
        row.by_status[state] = row.by_status.get(state, 0.0) + n
        row.installed += n
        if state in working:
            row.working += n
    return out


def ratio_window(
    conn: Connection,
    start: datetime,
    end: datetime,
    commune: str | None = None,
    working: tuple[str, ...] = WORKING,
    now: datetime | None = None,
) -> dict[str, CommuneRatio]:
    """Camera-seconds per status per commune over ``[start, end)``, from the intervals.

    Each camera counts from its installation (or ``start``) to its removal (or ``end``);
    before its first report it is ``never_reported``; an open interval runs until ``now``,
    and time after ``now`` is not counted at all.
    """
    now = now or datetime.now(UTC)
    end = min(end, now)
    c = CAMERA.c
    cams = select(c.id, c.commune_code, c.installed_on, c.removed_on)
    if commune is not None:
        cams = cams.where(c.commune_code == commune)
    spans: dict[str, tuple[str, datetime, datetime]] = {}
    for cam, code, installed, removed in conn.execute(cams):
        a = max(start, local_midnight(installed)) if installed else start
        b = min(end, local_midnight(removed)) if removed else end
        if a < b:
            spans[cam] = (code, a, b)
    covered: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    i = INTERVAL.c
    query = select(i.camera_id, i.status, i.start, i.end).where(
        and_(i.start < end, or_(i.end.is_(None), i.end > start))
    )
    if commune is not None:
        query = query.where(i.camera_id.in_(select(c.id).where(c.commune_code == commune)))
    for cam, status, s, e in conn.execute(query):
        if cam in spans:
            covered[cam].append((as_utc(s), as_utc(e) if e is not None else now, status))
    firsts = conn.execute(select(i.camera_id, func.min(i.start)).group_by(i.camera_id))
    first: dict[str, datetime] = dict(firsts.all())
    out: dict[str, CommuneRatio] = {}
    for cam, (code, a, b) in spans.items():
        row = out.setdefault(code, CommuneRatio(code))
        total = (b - a).total_seconds()
        row.installed += total
        seen = 0.0
        for s, e, status in covered.get(cam, []):
            secs = max(0.0, (min(e, b) - max(s, a)).total_seconds())
            row.by_status[status] += secs
            seen += secs
            if status in working:
                row.working += secs
        first_start = as_utc(first[cam]) if cam in first else b
        never = max(0.0, (min(first_start, b) - a).total_seconds())
        row.by_status["never_reported"] += never
        row.by_status["unknown"] += max(0.0, total - seen - never)
    return out
