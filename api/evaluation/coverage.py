"""Coverage of key areas over the period (time-weighted) and at its end, per final commune.

A merged commune's coverage is built from the cameras and key areas of all its old
communes (each commune answers for its own areas; after a merger they are one commune).
Cameras count while installed and working (ok or degraded); unknown time is not working.
The time weighting is :func:`collector.coverage_time.time_weighted`; the figures at the
end are the coverage with each camera as it was then, and the gaps are those of the
cameras still installed then (a removed camera is not "repairable").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import shapely
from sqlalchemy import Table, and_, or_, select
from sqlalchemy.engine import Connection

from api.evaluation.figures import CameraSpan
from api.evaluation.schema import COVERAGE_KINDS, Gaps, KindCoverage
from collector.coverage_engine import CommuneCoverage
from collector.coverage_time import time_weighted
from collector.coverage_types import Area, CameraView
from collector.models import KeyArea
from collector.ratio import CAMERA, INTERVAL, WORKING

KEY_AREA: Table = KeyArea.__table__  # type: ignore[attr-defined]
Stretch = tuple[datetime, datetime, bool]


@dataclass
class CoverageFigures:
    """One commune's coverage per kind and its gaps at the end."""

    kinds: dict[str, KindCoverage]
    gaps: Gaps


def _areas(conn: Connection, final: dict[str, str]) -> dict[str, list[Area]]:
    k = KEY_AREA.c
    rows = conn.execute(
        select(k.id, k.commune_code, k.kind, k.name, k.weight, k.geometry)
        .where(k.commune_code.in_(list(final)))
        .order_by(k.id)
    ).all()
    texts = np.array([r.geometry or "" for r in rows], dtype=object)
    geoms = shapely.from_geojson(texts, on_invalid="ignore") if rows else texts
    out: dict[str, list[Area]] = defaultdict(list)
    for row, geom in zip(rows, geoms, strict=True):
        shape = geom if geom is not None else shapely.GeometryCollection()
        out[final[row.commune_code]].append(Area(row.id, row.kind, shape, row.weight, row.name))
    return out


def _stretches(
    conn: Connection, spans: dict[str, CameraSpan], start: datetime, until: datetime
) -> dict[str, list[Stretch]]:
    """Working / not-working stretches of the cameras in ``spans`` (clipped to them)."""
    i = INTERVAL.c
    out: dict[str, list[Stretch]] = defaultdict(list)
    ids = list(spans)
    for n in range(0, len(ids), 5000):
        query = select(i.camera_id, i.status, i.start, i.end).where(
            and_(
                i.camera_id.in_(ids[n : n + 5000]),
                i.start < until,
                or_(i.end.is_(None), i.end > start),
            )
        )
        for cid, status, s, e in conn.execute(query):
            span = spans[cid]
            a, b = span.a / 1000, span.b / 1000
            lo = max(_aware(s).timestamp(), a)
            hi = min(_aware(e).timestamp() if e is not None else b, b)
            if lo < hi:
                out[cid].append((_dt(lo), _dt(hi), status in WORKING))
    return out


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def coverage(
    conn: Connection,
    spans: dict[str, CameraSpan],
    final: dict[str, str],
    start: datetime,
    until: datetime,
    min_gap_m: float = 50.0,
) -> dict[str, CoverageFigures]:
    """Per final commune with key areas: time-weighted and end coverage, gaps at the end."""
    areas = _areas(conn, final)
    if not areas:
        return {}
    c = CAMERA.c
    geo = conn.execute(
        select(c.id, c.lon, c.lat, c.heading, c.fov, c.range_m, c.camera_type)
        .where(c.commune_code.in_([old for old, new in final.items() if new in areas]))
        .order_by(c.id)
    ).all()
    views: dict[str, list[CameraView]] = defaultdict(list)
    for cid, lon, lat, heading, fov, range_m, kind in geo:
        span = spans.get(cid)
        if span is None or span.commune not in areas:
            continue
        views[span.commune].append(
            CameraView(cid, lon, lat, heading, fov, range_m, kind or "bullet", False)
        )
    placed = {v.id: spans[v.id] for vs in views.values() for v in vs if v.lon is not None}
    stretches = _stretches(conn, placed, start, until)
    u = until.timestamp()
    out: dict[str, CoverageFigures] = {}
    for code, commune_areas in areas.items():
        cams = views.get(code, [])
        for cam in cams:  # working at the end: its last stretch reaches ``until``, working
            last = stretches.get(cam.id, [])
            cam.working = bool(last) and max(last)[1].timestamp() >= u and max(last)[2]
        cov = CommuneCoverage(code, cams, commune_areas, min_gap_m)
        weighted = time_weighted(cov, stretches, start, until) if until > start else {}
        at_end = cov.summary()
        kinds = {
            kind: KindCoverage(
                time_weighted=weighted.get(kind),
                at_end=at_end[kind].fraction,
                total=at_end[kind].total,
            )
            for kind in COVERAGE_KINDS
            if kind in at_end and at_end[kind].total > 0
        }
        installed = [cam for cam in cams if spans[cam.id].b >= round(u * 1000)]
        if len(installed) != len(cams):
            cov = CommuneCoverage(code, installed, commune_areas, min_gap_m)
        gaps = cov.gaps()
        by_kind: dict[str, int] = defaultdict(int)
        for gap in gaps:
            by_kind[gap.kind] += 1
        out[code] = CoverageFigures(
            kinds,
            Gaps(
                total=len(gaps),
                repairable=sum(g.tag == "repairable" for g in gaps),
                no_camera=sum(g.tag == "no_camera" for g in gaps),
                by_kind=dict(by_kind),
            ),
        )
    return out
