"""One commune's key areas as seen by its cameras, kept up to date camera by camera.

Measures (all on the ground: projected units divided by the UTM scale factor):

* ``main_road`` and ``village_border`` lines: metres covered, exactly (1-D intervals on
  each straight segment against the exact sector, :mod:`collector.coverage_lines`).
* ``area`` polygons: m² covered by the union of the working sector polygons.
* ``hotspot``: the weight of the hotspots seen. A point is seen when it lies in a working
  sector (boundary included); a polygon when working sectors cover at least half of it
  (``HOTSPOT_SHARE``): a plaza half in view is watched, a corner glimpsed is not.

Gaps, each tagged ``repairable`` (registered cameras that are not working would see it;
they are listed) or ``no_camera`` (nothing installed would):

* Lines: a connected uncovered stretch longer than ``min_gap_m`` is a gap. It is cut where
  the broken cameras' view begins and ends, and every piece of at least 1 m
  (``MIN_PIECE_M``) is kept with its tag — a stretch never disappears because a broken
  camera reaches part of it, and no piece under a metre (a grazing edge) is reported.
* Area polygons: the same with areas: an uncovered connected part larger than
  ``min_gap_m ** 2`` (2,500 m² by default) is a gap, split by the broken cameras' view,
  pieces of at least 1 m² kept.
* Hotspots: each unseen hotspot; ``repairable`` when the broken cameras would make it
  seen by the rule above.

A camera only covers its own commune's key areas (each commune answers for its own).
Cameras that cannot be placed (no position; a view narrower than 360° without heading)
are listed in ``skipped`` with ``skip_reasons``; key areas whose geometry does not fit
their kind (a point road, a flat polygon, unparsable GeoJSON) in ``skipped_areas``.

Incremental: at construction every camera gets the key areas its sector meets (STRtrees
of segments, points and polygons); :meth:`CommuneCoverage.set_working` recomputes those
areas only and drops their cached gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from collector.coverage_lines import LinePairs, LineSet, line_gaps, union_length
from collector.coverage_types import (
    HOTSPOT_SHARE,
    KINDS,
    MIN_PIECE_M,
    Area,
    CameraView,
    ClassCoverage,
    Gap,
    Tag,
    area_shape,
    geom_array,
    group_by,
    group_geoms_by,
    resolve_view,
)
from collector.geometry import Geoms, Projection, Sectors, projection, projection_for

Ints = npt.NDArray[np.intp]


@dataclass(slots=True)
class Effects:
    """What a set of views sees: line intervals, hotspot points, polygon pieces (metric)."""

    lines: LinePairs
    point_area: Ints
    point_view: Ints
    poly_area: Ints
    poly_view: Ints
    poly_piece: Geoms


class CommuneCoverage:
    """Coverage of one commune's key areas; :meth:`set_working` updates it incrementally."""

    def __init__(
        self,
        commune: str,
        cameras: list[CameraView],
        areas: list[Area],
        min_gap_m: float = 50.0,
        *,
        epsg: int | None = None,
        step: float = 3.0,
    ) -> None:
        """Project, build sectors and the camera ↔ area index, compute everything once.

        ``epsg`` forces the metric CRS (default: the UTM zone of the commune's mean
        position); ``step`` is the arc step of the sector polygons in degrees.
        """
        self.commune, self.min_gap_m = commune, min_gap_m
        self.cameras, self.areas = list(cameras), list(areas)
        self.skipped: list[str] = []
        self.skip_reasons: dict[str, str] = {}
        self.skipped_areas = [a.id for a in self.areas if not area_shape(a)]
        self._by_id = {c.id: c for c in self.cameras}
        views: list[tuple[float, float, float]] = []
        placed: list[CameraView] = []
        for cam in self.cameras:
            view = resolve_view(cam)
            if isinstance(view, str):
                self.skipped.append(cam.id)
                self.skip_reasons[cam.id] = view
            else:
                placed.append(cam)
                views.append(view)
        self.placed_ids = [c.id for c in placed]
        self._index = {cid: i for i, cid in enumerate(self.placed_ids)}
        self.working = np.array([c.working for c in placed], bool)
        lon = np.array([c.lon for c in placed], float)
        lat = np.array([c.lat for c in placed], float)
        shapes = [area_shape(a) for a in self.areas]
        wgs = geom_array([a.geometry for a in self.areas])
        used = np.array([bool(s) for s in shapes], bool)
        if used.any():  # areas count for the zone too, by the centres of their boxes
            b = shapely.bounds(wgs[used])
            lon = np.concatenate((lon, (b[:, 0] + b[:, 2]) / 2))
            lat = np.concatenate((lat, (b[:, 1] + b[:, 3]) / 2))
        lonlat = list(zip(lon.tolist(), lat.tolist(), strict=True))
        self.projection: Projection = projection(epsg) if epsg else projection_for(lonlat)
        centre = (float(lon.mean()), float(lat.mean())) if len(lon) else (105.0, 16.0)
        self.scale = self.projection.scale(*centre)
        self.step = step
        v = np.asarray(views, float).reshape(-1, 3)
        n_cam = len(placed)
        self.sectors = self.view_sectors(lon[:n_cam], lat[:n_cam], v[:, 0], v[:, 1], v[:, 2])
        metric = self.projection.to_metric(wgs[used]) if used.any() else wgs[used]
        self.metric: list[BaseGeometry | None] = [None] * len(self.areas)
        for j, geom in zip(np.flatnonzero(used).tolist(), metric, strict=True):
            self.metric[j] = shapely.make_valid(geom) if shapes[j] == "polygon" else geom
        self.shapes = shapes
        self.lines = LineSet([(i, self.metric_of(i)) for i, s in enumerate(shapes) if s == "line"])
        self._points = np.array([i for i, s in enumerate(shapes) if s == "point"], np.intp)
        self._polys = np.array([i for i, s in enumerate(shapes) if s == "polygon"], np.intp)
        n = len(self.areas)
        self.kind_index = np.array(
            [KINDS.index(a.kind) if shapes[i] else -1 for i, a in enumerate(self.areas)], np.intp
        )
        self.weights = np.array([a.weight for a in self.areas], float)
        self.total = np.zeros(n)  # ground measure: m, m², or weight for hotspots
        for i, shape in enumerate(shapes):
            if shape == "line":
                self.total[i] = self.lines.length(i) / self.scale
            elif shape and self.areas[i].kind == "area":
                self.total[i] = self.metric_of(i).area / self.scale**2
            elif shape:
                self.total[i] = self.weights[i]
        eff = self.effects(self.sectors)
        self.line_rows = eff.lines
        self.point_views = group_by(eff.point_area, eff.point_view, n)
        self.poly_views = group_by(eff.poly_area, eff.poly_view, n)
        self.poly_pieces = group_geoms_by(eff.poly_area, eff.poly_piece, n)
        pairs = np.concatenate(
            [
                np.column_stack((a, v))
                for a, v in (
                    (eff.lines.area, eff.lines.view),
                    (eff.point_area, eff.point_view),
                    (eff.poly_area, eff.poly_view),
                )
            ]
        )
        pairs = np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)
        self._areas_of = group_by(pairs[:, 1], pairs[:, 0], len(self.placed_ids))
        self.covered = np.zeros(n)
        self.seen = np.zeros(n, bool)  # hotspots seen (a weight of 0 may still be seen)
        self._gaps: dict[int, list[Gap]] = {}
        #: (area, working flags of the views meeting it) -> (covered, seen): a camera going
        #: down and back up (a flapping camera in the collector's live coverage) is measured once.
        self._memo: dict[tuple[int, bytes], tuple[float, bool]] = {}
        self._recompute_all()

    # ------------------------------------------------------------------ computing

    def metric_of(self, i: int) -> BaseGeometry:
        """Area ``i``'s geometry in the metric frame (only for the areas measured)."""
        geom = self.metric[i]
        assert geom is not None  # only called for used areas
        return geom

    def view_sectors(
        self,
        lon: npt.ArrayLike,
        lat: npt.ArrayLike,
        heading: npt.ArrayLike,
        fov: npt.ArrayLike,
        range_m: npt.ArrayLike,
    ) -> Sectors:
        """Sectors of views at ``lon, lat`` (true headings, ground metres) in this frame."""
        x, y = self.projection.points(lon, lat)
        grid = np.asarray(heading, float) + self.projection.grid_north(lon, lat)
        ranges = np.asarray(range_m, float) * self.scale
        return Sectors.build(x, y, grid, fov, ranges, self.step)

    def effects(self, sec: Sectors) -> Effects:
        """What the views of ``sec`` see of this commune's key areas (metric pieces)."""
        none = np.zeros(0, np.intp)
        pa, pv, qa, qv, pieces = none, none, none, none, np.zeros(0, object)
        if len(sec) and len(self._points):
            pts = geom_array([self.metric_of(int(i)) for i in self._points])
            k, view = shapely.STRtree(sec.boxes()).query(pts)
            piece, pos = sec.pieces_of(view.astype(np.intp))
            xy = shapely.get_coordinates(pts)[k[pos]]
            hit = sec.contains(piece, xy[:, 0], xy[:, 1])
            found = np.unique(np.column_stack((self._points[k[pos]][hit], view[pos][hit])), axis=0)
            pa, pv = found[:, 0].astype(np.intp), found[:, 1].astype(np.intp)
        if len(sec) and len(self._polys):
            polys = geom_array([self.metric_of(int(i)) for i in self._polys])
            k, view = shapely.STRtree(sec.polygons).query(polys, predicate="intersects")
            pieces = shapely.intersection(polys[k], sec.polygons[view])
            keep = shapely.area(pieces) > 1e-9
            qa, qv, pieces = self._polys[k][keep], view[keep].astype(np.intp), pieces[keep]
        return Effects(self.lines.pairs(sec), pa, pv, qa, qv, pieces)

    def covered_geometry(self, i: int, broken: bool = False) -> BaseGeometry:
        """Metric union of what working (or, with ``broken``, not working) views see of ``i``."""
        mask = self.working[self.poly_views[i]] != broken
        return shapely.union_all(self.poly_pieces[i][mask])

    def _recompute_all(self) -> None:
        rows = self.line_rows
        ok = self.working[rows.view]
        lengths = union_length(rows.lo[ok], rows.hi[ok], rows.area[ok], len(self.areas))
        for i, shape in enumerate(self.shapes):
            if shape == "line":
                self.covered[i] = lengths[i] / self.scale
            elif shape:
                self._recompute(i)

    def _recompute(self, i: int) -> None:
        if self.shapes[i] == "point":
            self.seen[i] = self.working[self.point_views[i]].any()
            self.covered[i] = self.weights[i] if self.seen[i] else 0.0
            return
        line = self.shapes[i] == "line"
        views = self.line_rows.view[self.line_rows.slice(i)] if line else self.poly_views[i]
        key = (i, self.working[views].tobytes())
        if key not in self._memo:
            if len(self._memo) > 100_000:
                self._memo.clear()
            self._memo[key] = self._measure(i)
        self.covered[i], self.seen[i] = self._memo[key]

    def _measure(self, i: int) -> tuple[float, bool]:
        """Covered measure (and hotspot seen) of line or polygon area ``i`` as things are."""
        if self.shapes[i] == "line":
            rows = self.line_rows.slice(i)
            ok = self.working[self.line_rows.view[rows]]
            lo, hi = self.line_rows.lo[rows][ok], self.line_rows.hi[rows][ok]
            length = union_length(lo, hi, np.zeros(len(lo), np.intp), 1)[0]
            return float(length / self.scale), False
        if self.areas[i].kind == "area":
            return float(self.covered_geometry(i).area / self.scale**2), False
        seen = self.covered_geometry(i).area / self.metric_of(i).area >= HOTSPOT_SHARE
        return (float(self.weights[i]) if seen else 0.0), bool(seen)

    def areas_of(self, camera_id: str) -> list[int]:
        """Indices of the key areas the camera's sector meets (none when it is not placed)."""
        index = self._index.get(camera_id)
        return [] if index is None else self._areas_of[index].tolist()

    def set_working(self, camera_id: str, working: bool) -> None:
        """Record a camera's new state; only the key areas its sector meets are recomputed."""
        cam = self._by_id.get(camera_id)
        if cam is None:
            raise KeyError(f"camera {camera_id!r} is not registered in commune {self.commune}")
        if cam.working == working:
            return
        cam.working = working
        index = self._index.get(camera_id)
        if index is None:  # skipped: no position, nothing it could cover
            return
        self.working[index] = working
        for i in self._areas_of[index]:
            self._recompute(int(i))
            self._gaps.pop(int(i), None)

    # ------------------------------------------------------------------ results

    def summary(self) -> dict[str, ClassCoverage]:
        """Total and covered measure per kind, all four kinds (total 0 when absent)."""
        used = self.kind_index >= 0
        kinds = self.kind_index[used]
        total = np.bincount(kinds, weights=self.total[used], minlength=len(KINDS))
        covered = np.bincount(kinds, weights=self.covered[used], minlength=len(KINDS))
        return {
            k: ClassCoverage(k, float(total[j]), float(covered[j])) for j, k in enumerate(KINDS)
        }

    def gaps(self) -> list[Gap]:
        """Every gap of the commune, area by area (cached until a camera there changes)."""
        out: list[Gap] = []
        for i, shape in enumerate(self.shapes):
            if shape:
                if i not in self._gaps:
                    self._gaps[i] = self.area_gaps(i)
                out += self._gaps[i]
        return out

    def _ids(self, views: npt.ArrayLike) -> list[str]:
        return sorted(self.placed_ids[int(v)] for v in np.asarray(views).ravel())

    def _gap(self, i: int, geom: BaseGeometry, size: float, tag: Tag, cams: list[str]) -> Gap:
        area = self.areas[i]
        return Gap(area.id, area.kind, geom, size, tag, cams, area.name, area.weight)

    def area_gaps(self, i: int) -> list[Gap]:
        """The gaps of key area ``i`` as things are (not cached)."""
        area, shape = self.areas[i], self.shapes[i]
        if shape == "line":
            sl = self.line_rows.slice(i)
            rows = LinePairs(
                *(getattr(self.line_rows, f)[sl] for f in ("area", "view", "lo", "hi"))
            )
            found = line_gaps(
                self.lines,
                i,
                rows,
                self.working[rows.view],
                self.min_gap_m * self.scale,
                MIN_PIECE_M * self.scale,
            )
            geoms = [self.lines.substring(g.part, g.start, g.end) for g in found]
            wgs = self.projection.to_wgs84(geom_array(geoms))
            return [
                self._gap(
                    i,
                    w,
                    (g.end - g.start) / self.scale,
                    "repairable" if g.repairable else "no_camera",
                    self._ids(g.views),
                )
                for g, w in zip(found, wgs, strict=True)
            ]
        if area.kind == "hotspot":
            if self.seen[i]:
                return []
            views = self.point_views[i] if shape == "point" else self.poly_views[i]
            broken = views[~self.working[views]]
            if shape == "polygon":
                seen = shapely.union_all(self.poly_pieces[i]).area / self.metric_of(i).area
                if seen < HOTSPOT_SHARE:
                    broken = broken[:0]
            tag: Tag = "repairable" if len(broken) else "no_camera"
            return [self._gap(i, area.geometry, 1.0, tag, self._ids(broken))]
        return self._polygon_gaps(i)

    def _polygon_gaps(self, i: int) -> list[Gap]:
        uncovered = shapely.difference(self.metric_of(i), self.covered_geometry(i))
        fixable = self.covered_geometry(i, broken=True)
        views = self.poly_views[i]
        broken = ~self.working[views]
        k2 = self.scale**2
        out: list[tuple[BaseGeometry, float, Tag, list[str]]] = []
        for part in shapely.get_parts(uncovered):
            if part.area / k2 <= self.min_gap_m**2:
                continue
            split: tuple[tuple[BaseGeometry, Tag], ...] = (
                (shapely.intersection(part, fixable), "repairable"),
                (shapely.difference(part, fixable), "no_camera"),
            )
            for geom, tag in split:
                for piece in shapely.get_parts(geom):
                    if piece.geom_type != "Polygon" or piece.area / k2 < MIN_PIECE_M**2:
                        continue
                    cams: list[str] = []
                    if tag == "repairable":
                        seen = shapely.area(shapely.intersection(piece, self.poly_pieces[i]))
                        cams = self._ids(views[broken & (seen > 1e-6 * k2)])
                    out.append((piece, piece.area / k2, tag, cams))
        wgs = self.projection.to_wgs84(geom_array([g for g, *_ in out]))
        return [self._gap(i, w, s, t, c) for w, (_, s, t, c) in zip(wgs, out, strict=True)]

    def to_geojson(self, sectors: bool = False) -> dict[str, Any]:
        """Gaps (and with ``sectors`` each placed camera's view) as a FeatureCollection."""
        features = [gap.feature(self.commune) for gap in self.gaps()]
        if sectors and len(self.placed_ids):
            for cid, ok, geom in zip(
                self.placed_ids,
                self.working,
                self.projection.to_wgs84(self.sectors.polygons),
                strict=True,
            ):
                props: dict[str, Any] = {"feature": "sector", "camera_id": cid, "working": bool(ok)}
                features.append({"type": "Feature", "geometry": mapping(geom), "properties": props})
        return {"type": "FeatureCollection", "features": features}
