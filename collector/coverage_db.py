"""Coverage from the database: registry cameras, their latest states, the key areas.

A camera counts when the registry has it installed on the local (Vietnam) date of ``at``
(or at any time in ``window``); it works when its ``camera_state.status`` is in
``working``. A camera with no state never reported: not working, yet registered, so what
it would see is ``repairable``. Key areas come from ``key_area`` (GeoJSON text, WGS 84);
a geometry that does not parse is kept as empty and listed in ``skipped_areas``.
One query per table, whatever the number of communes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import numpy as np
import shapely
from sqlalchemy import ColumnElement, Table, and_, or_, select
from sqlalchemy.engine import Connection

from collector.coverage_engine import CommuneCoverage
from collector.coverage_types import Area, CameraView
from collector.models import Commune, KeyArea, as_utc
from collector.ratio import CAMERA, INTERVAL, STATE, VN, WORKING, local_midnight

KEY_AREA: Table = KeyArea.__table__  # type: ignore[attr-defined]
COMMUNE: Table = Commune.__table__  # type: ignore[attr-defined]
Window = tuple[datetime, datetime]


def _installed_during(first: date, last: date) -> ColumnElement[bool]:
    c = CAMERA.c
    return and_(
        or_(c.installed_on.is_(None), c.installed_on <= last),
        or_(c.removed_on.is_(None), c.removed_on > first),
    )


def _days(at: datetime | None, window: Window | None) -> tuple[date, date]:
    if window is not None:
        start, end = window
        return start.astimezone(VN).date(), (end - timedelta(microseconds=1)).astimezone(VN).date()
    day = (at or datetime.now(UTC)).astimezone(VN).date()
    return day, day


def _load(
    conn: Connection,
    communes: list[str] | None,
    province: str | None,
    days: tuple[date, date],
    working: tuple[str, ...],
    min_gap_m: float,
) -> dict[str, CommuneCoverage]:
    c, s, k = CAMERA.c, STATE.c, KEY_AREA.c
    cams = (
        select(
            c.id, c.commune_code, c.lon, c.lat, c.heading, c.fov, c.range_m, c.camera_type, s.status
        )
        .select_from(CAMERA.outerjoin(STATE, s.camera_id == c.id))
        .where(_installed_during(*days))
        .order_by(c.commune_code, c.id)
    )
    areas = select(k.id, k.commune_code, k.kind, k.name, k.weight, k.geometry).order_by(
        k.commune_code, k.id
    )
    if communes is not None:
        cams = cams.where(c.commune_code.in_(communes))
        areas = areas.where(k.commune_code.in_(communes))
    if province is not None:
        in_province = select(COMMUNE.c.code).where(COMMUNE.c.province_code == province)
        cams = cams.where(c.commune_code.in_(in_province))
        areas = areas.where(k.commune_code.in_(in_province))
    by_commune: dict[str, list[CameraView]] = defaultdict(list)
    for cid, code, lon, lat, heading, fov, range_m, kind, status in conn.execute(cams):
        view = CameraView(cid, lon, lat, heading, fov, range_m, kind or "bullet", status in working)
        by_commune[code].append(view)
    rows = conn.execute(areas).all()
    texts = np.array([r.geometry or "" for r in rows], dtype=object)
    geoms = shapely.from_geojson(texts, on_invalid="ignore") if len(rows) else texts
    areas_of: dict[str, list[Area]] = defaultdict(list)
    for row, geom in zip(rows, geoms, strict=True):
        shape = geom if geom is not None else shapely.GeometryCollection()
        areas_of[row.commune_code].append(Area(row.id, row.kind, shape, row.weight, row.name))
    codes = sorted(set(by_commune) | set(areas_of) | set(communes or []))
    return {
        code: CommuneCoverage(code, by_commune.get(code, []), areas_of.get(code, []), min_gap_m)
        for code in codes
    }


def load_commune(
    conn: Connection,
    commune: str,
    at: datetime | None = None,
    working: tuple[str, ...] = WORKING,
    *,
    window: Window | None = None,
    min_gap_m: float = 50.0,
) -> CommuneCoverage:
    """Coverage of ``commune`` now (or at ``at``), from the registry and latest states.

    With ``window`` the cameras installed at any time in it are loaded instead (for
    :func:`collector.coverage_time.time_weighted` over that window).
    """
    return _load(conn, [commune], None, _days(at, window), working, min_gap_m)[commune]


def load_province(
    conn: Connection,
    province: str | None = None,
    at: datetime | None = None,
    working: tuple[str, ...] = WORKING,
    *,
    min_gap_m: float = 50.0,
) -> dict[str, CommuneCoverage]:
    """Full recompute for every commune with cameras or key areas (of ``province``)."""
    return _load(conn, None, province, _days(at, None), working, min_gap_m)


def load_intervals(
    conn: Connection,
    commune: str,
    start: datetime,
    end: datetime,
    working: tuple[str, ...] = WORKING,
    now: datetime | None = None,
) -> dict[str, list[tuple[datetime, datetime, bool]]]:
    """Each camera's ``(start, end, working)`` stretches within ``[start, end)``.

    Clipped to the camera's installation (local dates) and to ``now`` (an open interval
    runs until then). A camera without any interval in the window is absent: not working.
    """
    now = now or datetime.now(UTC)
    end = min(end, now)
    c, i = CAMERA.c, INTERVAL.c
    spans: dict[str, tuple[datetime, datetime]] = {}
    for cid, installed, removed in conn.execute(
        select(c.id, c.installed_on, c.removed_on).where(c.commune_code == commune)
    ):
        a = max(start, local_midnight(installed)) if installed else start
        b = min(end, local_midnight(removed)) if removed else end
        if a < b:
            spans[cid] = (a, b)
    query = select(i.camera_id, i.status, i.start, i.end).where(
        and_(
            i.camera_id.in_(select(c.id).where(c.commune_code == commune)),
            i.start < end,
            or_(i.end.is_(None), i.end > start),
        )
    )
    out: dict[str, list[tuple[datetime, datetime, bool]]] = defaultdict(list)
    for cid, status, s, e in conn.execute(query):
        if cid not in spans:
            continue
        a, b = spans[cid]
        lo, hi = max(as_utc(s), a), min(as_utc(e) if e is not None else now, b)
        if lo < hi:
            out[cid].append((lo, hi, status in working))
    return {cid: sorted(v) for cid, v in out.items()}
