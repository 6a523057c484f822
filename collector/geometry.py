"""Camera views as sectors in a metric projection (UTM), with shapely 2 and pyproj.

A camera sees a *sector*: the disc of radius ``range_m`` around it, cut to the wedge of
``fov`` degrees centred on ``heading`` (degrees clockwise from north: 0 looks at +y,
90 at +x). Work is done in the UTM zone of the commune (``utm_epsg``; Vietnam spans 48N
and 49N, the edge is 108°E), one zone per commune chosen from its mean position
(``projection_for``) so a commune straddling 108°E is measured in one frame.

Two forms of the same sector:

* :func:`sector` / :func:`sectors` give shapely polygons. The arc is approximated by
  chords every ``step`` degrees with vertices *on* the arc (an inscribed polygon, so it
  never claims more than the camera sees). A chord spanning ``step`` falls short of the
  arc by the sagitta ``r (1 - cos(step / 2))``: 0.051 m at 150 m and 0.021 m at 60 m
  for the default 3° (``tests/unit/test_geometry.py`` checks it); a line crossing the
  arc at angle ``a`` ends at most ``sagitta / sin a`` early. Used for polygon areas and
  for drawing.
* :class:`Sectors` keeps the exact disc ∩ wedge, split in convex pieces (a wedge wider
  than 180° is two pieces), and clips straight segments and tests points against it in
  closed form with numpy (:meth:`Sectors.clip_segments`, :meth:`Sectors.contains`). Road,
  border and hotspot point coverage use it: no arc approximation at all.

UTM is conformal but neither true to scale nor to north: the scale is 0.9996 on the
central meridian and about 1.0009 at a zone edge in Vietnam (:meth:`Projection.scale`),
and grid north turns from true north by up to ±1.2° there (3° * sin 23°,
:meth:`Projection.grid_north`).
``collector.coverage`` corrects both (ranges and lengths by the scale at the commune's
centre, headings by the convergence at each camera), so a commune measured in zone 48 or
49 gives the same metres to a few centimetres.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Proj, Transformer
from shapely.geometry.base import BaseGeometry

Floats = npt.NDArray[np.float64]
Geoms = npt.NDArray[np.object_]
G = TypeVar("G", BaseGeometry, Geoms)

#: Horizontal field of view (degrees) and useful range (metres) by camera type, used when
#: the registry leaves them empty. Typical commune-programme cameras: a bullet with a
#: 3.6-4 mm lens on a 1/2.8" sensor sees about 90° and identifies people to ~60 m with
#: its IR; a dome with a 2.8 mm lens is wider (~110°) with a shorter IR reach (~30 m);
#: a PTZ is counted at a mid zoom (60°) with its longer IR (~100 m); a fisheye sees all
#: around but only usefully close (~15 m).
DEFAULT_VIEW: dict[str, tuple[float, float]] = {
    "bullet": (90.0, 60.0),
    "dome": (110.0, 30.0),
    "ptz": (60.0, 100.0),
    "fisheye": (360.0, 15.0),
}
#: Heading used when the registry has none; only for all-round (fov >= 360) views, where
#: the heading does not matter. A narrower camera without a heading cannot be placed.
DEFAULT_HEADING = 0.0
#: Slack for "on the boundary" tests, metres: a point on a sector's edge is inside.
TOL = 1e-7


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone holding ``lon, lat`` (326zz north, 327zz south)."""
    zone = min(max(math.floor((lon + 180.0) / 6.0) + 1, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


class Projection:
    """WGS 84 ↔ one metric CRS (a UTM zone), for shapely geometries and coordinates."""

    def __init__(self, epsg: int) -> None:
        self.epsg = epsg
        self._forward = Transformer.from_crs(4326, epsg, always_xy=True)
        self._inverse = Transformer.from_crs(epsg, 4326, always_xy=True)
        self._proj = Proj(f"EPSG:{epsg}")

    def _fwd(self, xy: Floats) -> Floats:
        x, y = self._forward.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((x, y))

    def _inv(self, xy: Floats) -> Floats:
        lon, lat = self._inverse.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((lon, lat))

    def to_metric(self, geom: G) -> G:
        """``geom`` (or an array of them) from lon/lat to metres, all coordinates at once."""
        out: G = shapely.transform(geom, self._fwd)  # type: ignore[assignment,unused-ignore]
        return out

    def to_wgs84(self, geom: G) -> G:
        """``geom`` (or an array of them) from metres back to lon/lat."""
        out: G = shapely.transform(geom, self._inv)  # type: ignore[assignment,unused-ignore]
        return out

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        """The metric ``(x, y)`` of one position."""
        x, y = self._forward.transform(lon, lat)
        return float(x), float(y)

    def points(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> tuple[Floats, Floats]:
        """Metric ``x, y`` arrays of many positions."""
        x, y = self._forward.transform(np.asarray(lons, float), np.asarray(lats, float))
        return np.asarray(x, float), np.asarray(y, float)

    def lonlat(self, x: float, y: float) -> tuple[float, float]:
        """The ``(lon, lat)`` of one metric position."""
        lon, lat = self._inverse.transform(x, y)
        return float(lon), float(lat)

    def grid_north(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> Floats:
        """Grid azimuth of true north at each position (degrees clockwise from +y).

        The meridian convergence: up to ±1.2° at a zone edge in Vietnam, so a heading
        (from true north) becomes ``heading + grid_north`` in the metric frame (the edge
        of a view 60 m out would otherwise be off by up to 1.2 m).
        """
        lon, lat = np.asarray(lons, float), np.asarray(lats, float)
        x0, y0 = self._forward.transform(lon, lat)
        x1, y1 = self._forward.transform(lon, lat + 1e-4)
        azimuth: Floats = np.degrees(np.arctan2(np.subtract(x1, x0), np.subtract(y1, y0)))
        return azimuth

    def lonlats(self, xs: npt.ArrayLike, ys: npt.ArrayLike) -> tuple[Floats, Floats]:
        """``lon, lat`` arrays of many metric positions."""
        lon, lat = self._inverse.transform(np.asarray(xs, float), np.asarray(ys, float))
        return np.asarray(lon, float), np.asarray(lat, float)

    def scale(self, lon: float, lat: float) -> float:
        """Projected metres per ground metre at ``lon, lat`` (UTM: 0.9996 to ~1.001)."""
        return float(self._proj.get_factors(lon, lat).meridional_scale)

    def __repr__(self) -> str:
        return f"Projection(EPSG:{self.epsg})"


@lru_cache(maxsize=16)
def projection(epsg: int) -> Projection:
    """The shared :class:`Projection` of ``epsg`` (pyproj transformers are thread-safe)."""
    return Projection(epsg)


def projection_for(lonlats: Iterable[tuple[float, float]]) -> Projection:
    """The UTM projection of the mean position of ``lonlats`` (zone 48N when empty)."""
    pts = np.asarray(list(lonlats), float).reshape(-1, 2)
    if not len(pts):
        return projection(32648)
    lon, lat = pts.mean(axis=0)
    return projection(utm_epsg(float(lon), float(lat)))


def sector(
    x: float, y: float, heading: float, fov: float, range_m: float, step: float = 3.0
) -> shapely.Polygon:
    """The view polygon of one camera at metric ``x, y`` (arc by chords every ``step``°)."""
    one = sectors(
        np.array([x]),
        np.array([y]),
        np.array([heading]),
        np.array([fov]),
        np.array([range_m]),
        step,
    )
    poly: shapely.Polygon = one[0]
    return poly


def sectors(
    x: Floats, y: Floats, heading: Floats, fov: Floats, range_m: Floats, step: float = 3.0
) -> Geoms:
    """View polygons of many cameras at once (see :func:`sector`), built in one call."""
    if not len(x):
        return np.empty(0, dtype=object)
    circle = fov >= 360.0
    wedge = (~circle).astype(np.intp)
    arcs = np.where(circle, np.ceil(360.0 / step), np.maximum(np.ceil(fov / step), 1.0))
    arcs = arcs.astype(np.intp)
    points = arcs + wedge  # points on the arc: a wedge has both ends, a circle one
    first = np.cumsum(points) - points
    owner = np.repeat(np.arange(len(x), dtype=np.intp), points)
    frac = (np.arange(len(owner)) - first[owner]) / arcs[owner]
    start = heading[owner] - fov[owner] / 2
    ang = np.where(circle[owner], 360.0 * frac, start + fov[owner] * frac)
    rad = np.radians(ang)
    px = x[owner] + range_m[owner] * np.sin(rad)
    py = y[owner] + range_m[owner] * np.cos(rad)
    size = points + wedge  # the apex closes a wedge
    at = np.cumsum(size) - size
    xy = np.empty((int(size.sum()), 2))
    arc_at = at[owner] + wedge[owner] + (np.arange(len(owner)) - first[owner])
    xy[arc_at, 0], xy[arc_at, 1] = px, py
    apex = at[wedge.astype(bool)]
    xy[apex, 0], xy[apex, 1] = x[wedge.astype(bool)], y[wedge.astype(bool)]
    rings = shapely.linearrings(xy, indices=np.repeat(np.arange(len(x)), size))
    return np.asarray(shapely.polygons(rings), dtype=object)


def _direction(deg: Floats) -> tuple[Floats, Floats]:
    rad = np.radians(deg)
    return np.sin(rad), np.cos(rad)


@dataclass(slots=True)
class Sectors:
    """Many views as exact sectors (disc ∩ wedge) in convex pieces, and as polygons.

    A piece covers the clockwise angles from ``(lx, ly)`` to ``(rx, ry)`` (at most 180°
    apart) within ``r`` of ``(cx, cy)``; a full circle has ``wedge`` False. A point ``v``
    (relative to the centre) is in the wedge when ``cross(l, v) <= 0 <= cross(r, v)``.
    """

    x: Floats
    y: Floats
    polygons: Geoms
    piece_view: npt.NDArray[np.intp]
    first_piece: npt.NDArray[np.intp]  # per view
    n_pieces: npt.NDArray[np.intp]  # per view: 1 or 2
    cx: Floats
    cy: Floats
    r: Floats
    lx: Floats
    ly: Floats
    rx: Floats
    ry: Floats
    wedge: npt.NDArray[np.bool_]
    step: float = 3.0

    @classmethod
    def build(
        cls,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        heading: npt.ArrayLike,
        fov: npt.ArrayLike,
        range_m: npt.ArrayLike,
        step: float = 3.0,
    ) -> Sectors:
        """Views at metric ``x, y`` with heading, fov (degrees) and range (metric units)."""
        xs, ys = np.asarray(x, float), np.asarray(y, float)
        hs, fs, rs = np.asarray(heading, float), np.asarray(fov, float), np.asarray(range_m, float)
        full = fs >= 360.0
        wide = ~full & (fs > 180.0)
        n_pieces = np.where(wide, 2, 1).astype(np.intp)
        first = (np.cumsum(n_pieces) - n_pieces).astype(np.intp)
        view = np.repeat(np.arange(len(xs), dtype=np.intp), n_pieces)
        second = np.zeros(len(view), bool)
        second[first[wide] + 1] = True
        half = np.where(wide[view], fs[view] / 2, fs[view])
        start = np.where(second, hs[view], hs[view] - fs[view] / 2)
        lx, ly = _direction(start)
        rx, ry = _direction(start + half)
        return cls(
            x=xs,
            y=ys,
            polygons=sectors(xs, ys, hs, fs, rs, step),
            piece_view=view,
            first_piece=first,
            n_pieces=n_pieces,
            cx=xs[view],
            cy=ys[view],
            r=rs[view],
            lx=lx,
            ly=ly,
            rx=rx,
            ry=ry,
            wedge=~full[view],
            step=step,
        )

    def __len__(self) -> int:
        return len(self.x)

    def boxes(self, pad: float = 1.0) -> Geoms:
        """Bounding boxes of the polygons, widened by ``pad`` plus the largest sagitta.

        The true arc bulges past the chords by up to the sagitta; candidates found by box
        are then clipped exactly, so a box must hold the true sector.
        """
        if len(self.r):
            pad += float(self.r.max()) * (1 - math.cos(math.radians(self.step / 2)))
        b = shapely.bounds(self.polygons)
        boxes: Geoms = shapely.box(b[:, 0] - pad, b[:, 1] - pad, b[:, 2] + pad, b[:, 3] + pad)
        return boxes

    def pieces_of(
        self, views: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """For each entry of ``views``, its pieces: ``(piece index, position in views)``."""
        counts = self.n_pieces[views]
        pos = np.repeat(np.arange(len(views), dtype=np.intp), counts)
        within = np.arange(len(pos), dtype=np.intp) - np.repeat(np.cumsum(counts) - counts, counts)
        return self.first_piece[views][pos] + within, pos

    def clip_segments(
        self, piece: npt.NDArray[np.intp], ax: Floats, ay: Floats, dx: Floats, dy: Floats
    ) -> tuple[Floats, Floats]:
        """Parameters ``lo, hi`` (0..1) of segment ``A + t D`` inside each piece (lo < hi)."""
        ox, oy = ax - self.cx[piece], ay - self.cy[piece]
        a = dx * dx + dy * dy
        b = dx * ox + dy * oy
        c = ox * ox + oy * oy - self.r[piece] ** 2
        disc = b * b - a * c
        root = np.sqrt(np.maximum(disc, 0.0))
        lo = np.maximum(0.0, (-b - root) / a)
        hi = np.where(disc < 0, -1.0, np.minimum(1.0, (-b + root) / a))
        wedge = self.wedge[piece]
        for bx, by, sign in ((self.lx, self.ly, 1.0), (self.rx, self.ry, -1.0)):
            # inside when sign * cross(b, o + t d) <= TOL, linear in t: f0 + t f1
            f0 = sign * (bx[piece] * oy - by[piece] * ox)
            f1 = sign * (bx[piece] * dy - by[piece] * dx)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (TOL - f0) / f1
            hi = np.where(wedge & (f1 > 0), np.minimum(hi, t), hi)
            lo = np.where(wedge & (f1 < 0), np.maximum(lo, t), lo)
            hi = np.where(wedge & (f1 == 0) & (f0 > TOL), -1.0, hi)
        return lo, hi

    def contains(
        self, piece: npt.NDArray[np.intp], px: Floats, py: Floats
    ) -> npt.NDArray[np.bool_]:
        """Whether each point lies in the matching piece (boundary included)."""
        ox, oy = px - self.cx[piece], py - self.cy[piece]
        inside = np.hypot(ox, oy) <= self.r[piece] + TOL
        left = self.lx[piece] * oy - self.ly[piece] * ox <= TOL
        right = self.rx[piece] * oy - self.ry[piece] * ox >= -TOL
        result: npt.NDArray[np.bool_] = inside & (~self.wedge[piece] | (left & right))
        return result
