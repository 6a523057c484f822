"""Key areas cut into pieces each seen by one fixed set of views, and gaps without shapes.

* :func:`line_pieces`: the stretches of roads and borders between the places where a
  view's sight begins or ends; each is seen by the same views all along.
* :func:`polygon_pieces`: the faces of the overlay of the sector pieces on a polygon; a
  hotspot polygon (seen when half of it is covered) becomes a :class:`Threshold`.
* :func:`gap_tags`: the kind and tag of every gap, as :meth:`CommuneCoverage.gaps` would
  give them, without building their shapes (the yearly evaluation counts them), leaving
  out cameras that are gone.

Measures are on the ground, as in :mod:`collector.coverage_engine`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from collector.coverage_engine import CommuneCoverage
from collector.coverage_lines import LinePairs, line_gaps
from collector.coverage_types import HOTSPOT_SHARE, MIN_PIECE_M, Tag
from collector.geometry import Geoms

GRID = 1e-6  # projected metres: the precision of the polygon overlays


@dataclass
class Threshold:
    """A hotspot polygon: seen while the faces its working cameras see reach ``needed``."""

    kind: int
    weight: float
    needed: float
    face_area: list[float]
    face_bits: list[int]  # bit j: camera ``cameras[j]`` sees the face
    cameras: list[str]


def line_pieces(cov: CommuneCoverage) -> Iterator[tuple[int, float, list[int]]]:
    """``(kind index, ground length, views)`` of every stretch of line some view sees."""
    rows = cov.line_rows
    if not len(rows.lo):
        return
    n = len(rows.lo)
    where = np.concatenate((rows.lo, rows.hi))
    steps = np.concatenate((np.ones(n, np.intp), -np.ones(n, np.intp)))
    order = np.lexsort((steps, where)).tolist()  # by position, ends before starts
    pos, step = where.tolist(), steps.tolist()
    view = np.concatenate((rows.view, rows.view)).tolist()
    area = np.concatenate((rows.area, rows.area)).tolist()
    active: dict[int, int] = {}
    found: dict[tuple[int, tuple[int, ...]], float] = defaultdict(float)
    at, here = 0.0, 0
    for j in order:
        if active and pos[j] > at:
            found[here, tuple(sorted(active))] += pos[j] - at
        v = view[j]
        if step[j] > 0:
            active[v] = active.get(v, 0) + 1
        elif active[v] == 1:
            del active[v]
        else:
            active[v] -= 1
        at, here = pos[j], area[j]
    for (i, views), length in found.items():
        yield int(cov.kind_index[i]), length / cov.scale, list(views)


def _polygons(geoms: Geoms, sets: list[list[int]]) -> tuple[Geoms, list[list[int]]]:
    """The polygons of ``geoms`` (lines and points of touching shapes dropped), with sets."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    keep = (shapely.get_type_id(parts) == shapely.GeometryType.POLYGON) & (
        shapely.area(parts) > 1e-9
    )
    return parts[keep], [sets[k] for k in index[keep].tolist()]


def _area_only(geom: BaseGeometry) -> BaseGeometry:
    """The polygons of ``geom`` as one (multi)polygon: an overlay may leave lines behind."""
    parts = shapely.get_parts(geom)
    polygons = parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON]
    return shapely.multipolygons(polygons) if len(polygons) else shapely.Polygon()


def _overlay(pieces: Geoms, grid: float | None) -> tuple[Geoms, list[list[int]]]:
    """Faces of the overlay of ``pieces`` (polygons) and the pieces over each face."""
    faces, over = _polygons(pieces[:1], [[0]])
    seen = _area_only(shapely.union_all(faces, grid_size=grid))
    for j in range(1, len(pieces)):
        mine, _ = _polygons(pieces[j : j + 1], [[j]])
        if not len(mine):
            continue
        piece = _area_only(shapely.union_all(mine, grid_size=grid))
        hit = shapely.intersects(faces, piece)
        met = np.flatnonzero(hit).tolist()
        inside = shapely.intersection(faces[hit], piece, grid_size=grid)
        outside = shapely.difference(faces[hit], piece, grid_size=grid)
        beyond = shapely.difference(piece, seen, grid_size=grid)
        seen = _area_only(shapely.union(seen, piece, grid_size=grid))
        parts = np.array([*faces[~hit], *inside, *outside, beyond], dtype=object)
        sets = [o for o, h in zip(over, hit.tolist(), strict=True) if not h]
        sets += [[*over[k], j] for k in met] + [over[k] for k in met] + [[j]]
        faces, over = _polygons(parts, sets)
    return faces, over


def _faces(pieces: Geoms) -> tuple[list[float], list[list[int]]]:
    """Areas of the faces of the overlay of ``pieces`` and the pieces over each.

    Built one piece at a time: each face the new piece meets is split into its parts
    inside and outside it, and what the new piece covers beyond the earlier ones is a
    face of its own. Each piece's faces must add up to the piece; where floating-point
    overlays miss that (GEOS may answer a whole piece for a face that only touches it
    where edges nearly meet) the overlay is done again snapped to a 1 µm grid (``GRID``).
    """
    for grid in (None, GRID):
        faces, over = _overlay(pieces, grid)
        areas = shapely.area(faces)
        sums = np.zeros(len(pieces))
        for area, owners in zip(areas.tolist(), over, strict=True):
            sums[owners] += area
        whole = shapely.area(pieces)
        if np.allclose(sums, whole, rtol=1e-9, atol=1e-6):
            break
    return areas.tolist(), over


def polygon_pieces(
    cov: CommuneCoverage, i: int
) -> tuple[list[tuple[float, list[int]]], Threshold | None]:
    """Area ``i`` (a polygon): linear ``(ground m², views)`` faces, or a hotspot threshold."""
    views, pieces = cov.poly_views[i], cov.poly_pieces[i]
    if not len(views):
        return [], None
    areas, over = _faces(pieces)
    k2 = cov.scale**2
    if cov.areas[i].kind != "hotspot":
        faces = [
            (a / k2, sorted({int(views[p]) for p in ps}))
            for a, ps in zip(areas, over, strict=True)
            if ps
        ]
        return faces, None
    local = sorted({int(v) for v in views})
    bit = {v: 1 << j for j, v in enumerate(local)}
    bits = [sum({bit[int(views[p])] for p in ps}) for ps in over]
    needed = HOTSPOT_SHARE * cov.metric_of(i).area
    threshold = Threshold(
        int(cov.kind_index[i]), float(cov.weights[i]), needed, areas, bits,
        [cov.placed_ids[v] for v in local],
    )  # fmt: skip
    return [], threshold


def gap_tags(cov: CommuneCoverage, gone: set[str]) -> list[tuple[str, Tag]]:
    """``(kind, tag)`` of each gap as things are, cameras in ``gone`` not counted at all."""
    index = {cid: j for j, cid in enumerate(cov.placed_ids)}
    out = np.zeros(len(cov.placed_ids), bool)
    out[[index[c] for c in gone if c in index]] = True
    tags: list[tuple[str, Tag]] = []
    for i, shape in enumerate(cov.shapes):
        kind = cov.areas[i].kind
        if shape == "line":
            sl = cov.line_rows.slice(i)
            rows = LinePairs(*(getattr(cov.line_rows, f)[sl] for f in ("area", "view", "lo", "hi")))
            keep = ~out[rows.view]
            rows = LinePairs(rows.area[keep], rows.view[keep], rows.lo[keep], rows.hi[keep])
            found = line_gaps(
                cov.lines, i, rows, cov.working[rows.view],
                cov.min_gap_m * cov.scale, MIN_PIECE_M * cov.scale,
            )  # fmt: skip
            tags += [(kind, "repairable" if g.repairable else "no_camera") for g in found]
        elif shape and kind == "hotspot":
            if cov.seen[i]:
                continue
            views = cov.point_views[i] if shape == "point" else cov.poly_views[i]
            broken = views[~cov.working[views] & ~out[views]]
            if shape == "polygon" and len(broken):
                mine = ~out[cov.poly_views[i]]
                seen = shapely.union_all(cov.poly_pieces[i][mine]).area / cov.metric_of(i).area
                broken = broken if seen >= HOTSPOT_SHARE else broken[:0]
            tags.append((kind, "repairable" if len(broken) else "no_camera"))
        elif shape:
            views, pieces = cov.poly_views[i], cov.poly_pieces[i]
            mine = ~out[views]
            try:  # the polygon's gaps with only the cameras still there
                cov.poly_views[i], cov.poly_pieces[i] = views[mine], pieces[mine]
                tags += [(kind, gap.tag) for gap in cov.area_gaps(i)]
            finally:
                cov.poly_views[i], cov.poly_pieces[i] = views, pieces
    return tags
