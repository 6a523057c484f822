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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import Table, and_, func, literal, or_, select
from sqlalchemy.engine import Connection

from api.evaluation.figures import CameraSpan
from api.evaluation.pgcopy import copy_numbers
from api.evaluation.schema import COVERAGE_KINDS, Gaps, KindCoverage
from api.evaluation.sql import epoch
from collector.coverage_engine import CommuneCoverage
from collector.coverage_pieces import gap_tags
from collector.coverage_time import TimeWeighting, Working, merge_spans
from collector.coverage_types import Area, CameraView
from collector.models import KeyArea
from collector.ratio import CAMERA, INTERVAL, WORKING

KEY_AREA: Table = KeyArea.__table__  # type: ignore[attr-defined]


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


#: the working intervals of the cameras ``ids`` (numbered from 1 in that order), for COPY
PG_WORKING = f"""
SELECT k.g, CAST(EXTRACT(EPOCH FROM i.start) AS DOUBLE PRECISION),
       COALESCE(CAST(EXTRACT(EPOCH FROM i."end") AS DOUBLE PRECISION), %(t1)s::float8)
FROM {INTERVAL.name} AS i
JOIN unnest(%(ids)s::text[]) WITH ORDINALITY AS k(id, g) ON k.id = i.camera_id
WHERE i.status = ANY(%(working)s::text[]) AND i.start < %(until)s
  AND (i."end" IS NULL OR i."end" > %(start)s)
"""  # noqa: S608 - only the table name is formatted in


def _working_rows(
    conn: Connection, ids: list[str], final: dict[str, str], start: datetime, until: datetime
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The working intervals as rows (any database): camera index (-1: not in ``ids``)."""
    i, c = INTERVAL.c, CAMERA.c
    t1 = until.timestamp()
    query = select(i.camera_id, epoch(i.start), func.coalesce(epoch(i.end), literal(t1))).where(
        and_(
            i.camera_id.in_(select(c.id).where(c.commune_code.in_(list(final)))),
            i.status.in_(WORKING),
            i.start < until,
            or_(i.end.is_(None), i.end > start),
        )
    )
    index = {cid: g for g, cid in enumerate(ids)}
    rows = conn.execute(query).all()
    cids, lo, hi = zip(*rows, strict=True) if rows else ((), (), ())
    group = np.array([index.get(cid, -1) for cid in cids], np.intp)
    return group, np.array(lo, float), np.array(hi, float)


def working_time(
    conn: Connection,
    spans: dict[str, CameraSpan],
    final: dict[str, str],
    start: datetime,
    until: datetime,
) -> Working:
    """Working time (ok or degraded) of the cameras in ``spans`` within them, in seconds."""
    t0, t1 = start.timestamp(), until.timestamp()
    ids = list(spans)
    if conn.dialect.name == "postgresql":
        rank, lo_all, hi_all = copy_numbers(
            conn, PG_WORKING,
            {"ids": ids, "working": list(WORKING), "start": start, "until": until, "t1": t1},
            ["bigint", "double", "double"],
        )  # fmt: skip
        group, known = (rank - 1).astype(np.intp), np.ones(len(rank), bool)
    else:
        group, lo_all, hi_all = _working_rows(conn, ids, final, start, until)
        known = group >= 0  # cameras of the communes that are not in ``spans``
        group = group[known]
    a = np.array([spans[cid].a / 1000 for cid in ids], float)
    b = np.array([spans[cid].b / 1000 for cid in ids], float)
    lo_s = np.maximum(lo_all[known], np.maximum(a[group], t0))
    hi_s = np.minimum(hi_all[known], np.minimum(b[group], t1))
    gs, ls, hs = merge_spans(group, lo_s, hi_s)
    bounds = np.searchsorted(gs, np.arange(len(ids) + 1))
    return {
        cid: (ls[bounds[g] : bounds[g + 1]], hs[bounds[g] : bounds[g + 1]])
        for g, cid in enumerate(ids)
        if bounds[g + 1] > bounds[g]
    }


def _working_at_end(
    conn: Connection, spans: dict[str, CameraSpan], final: dict[str, str], until: datetime
) -> set[str]:
    """Cameras still installed at ``until`` whose interval there is ok or degraded."""
    i, c = INTERVAL.c, CAMERA.c
    query = select(i.camera_id).where(
        i.camera_id.in_(select(c.id).where(c.commune_code.in_(list(final)))),
        i.status.in_(WORKING),
        i.start < until,
        or_(i.end.is_(None), i.end >= until),
    )
    u = round(until.timestamp() * 1000)
    return {cid for (cid,) in conn.execute(query) if cid in spans and spans[cid].b >= u}


def coverage(
    conn: Connection,
    spans: dict[str, CameraSpan],
    final: dict[str, str],
    start: datetime,
    until: datetime,
    working: Callable[[], Working],
    min_gap_m: float = 50.0,
) -> dict[str, CoverageFigures]:
    """Per final commune with key areas: time-weighted and end coverage, gaps at the end.

    ``working`` gives :func:`working_time` of the cameras in ``spans``; it is called last,
    once the key areas are cut into pieces (so it may still be loading meanwhile).
    """
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
    u = until.timestamp()
    at_end = _working_at_end(conn, spans, final, until)
    weighting = TimeWeighting(start.timestamp(), u) if until > start else None
    out: dict[str, CoverageFigures] = {}
    ends: dict[str, dict[str, KindCoverage]] = {}
    for code, commune_areas in areas.items():
        cams = views.get(code, [])
        for cam in cams:
            cam.working = cam.id in at_end
        cov = CommuneCoverage(code, cams, commune_areas, min_gap_m)
        if weighting is not None:
            weighting.add(code, cov)
        summary = cov.summary()
        ends[code] = {
            kind: KindCoverage(
                time_weighted=None, at_end=summary[kind].fraction, total=summary[kind].total
            )
            for kind in COVERAGE_KINDS
            if kind in summary and summary[kind].total > 0
        }
        gone = {cam.id for cam in cams if spans[cam.id].b < round(u * 1000)}
        tags = gap_tags(cov, gone)
        by_kind: dict[str, int] = defaultdict(int)
        for kind, _ in tags:
            by_kind[kind] += 1
        gaps = Gaps(
            total=len(tags),
            repairable=sum(tag == "repairable" for _, tag in tags),
            no_camera=sum(tag == "no_camera" for _, tag in tags),
            by_kind=dict(by_kind),
        )
        out[code] = CoverageFigures(ends[code], gaps)
    weighted = weighting.result(working()) if weighting is not None else {}
    for code, kinds in ends.items():
        for kind, figure in kinds.items():
            figure.time_weighted = weighted.get(code, {}).get(kind)
    return out
