"""Roads and borders as straight segments measured along each line: exact 1-D coverage.

Each line key area is cut into parts (the LineStrings of a MultiLineString) and each part
into straight segments. A position on a part is its distance from the part's start; the
parts of a commune are laid end to end on one axis (``part_offset`` + distance, with a
1 m spacer so parts never touch), so what the cameras see of every road and border is a
set of intervals on that axis. A convex sector piece meets a straight segment in at most
one interval (:meth:`collector.geometry.Sectors.clip_segments`), so unions, complements
and lengths are exact 1-D operations, vectorised with numpy — no polygon overlay, no
slivers where the pieces seen by two cameras overlap.

Distances here are projected metres; callers divide by the projection's scale factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from collector.geometry import Floats, Sectors

Ints = npt.NDArray[np.intp]
SPACER = 1.0  # projected metres between parts on the common axis
EPS = 1e-9


def _parts(geom: BaseGeometry) -> list[Floats]:
    """Coordinates of each LineString part, consecutive repeats dropped, ≥ 2 points."""
    out: list[Floats] = []
    for part in shapely.get_parts(shapely.get_parts(geom)):  # collections of multis too
        if part.geom_type not in ("LineString", "LinearRing"):
            continue
        xy = shapely.get_coordinates(part)
        if len(xy) > 1:
            keep = np.concatenate(([True], np.any(np.diff(xy, axis=0) != 0, axis=1)))
            xy = xy[keep]
        if len(xy) > 1:
            out.append(xy)
    return out


@dataclass(slots=True)
class LinePairs:
    """Intervals ``[lo, hi]`` on the common axis that ``view`` sees of line area ``area``.

    Sorted by ``lo``; as parts are laid out in area order, each area's rows are contiguous.
    """

    area: Ints
    view: Ints
    lo: Floats
    hi: Floats

    def slice(self, area: int) -> slice:
        """The rows of ``area``."""
        left, right = np.searchsorted(self.area, [area, area + 1])
        return slice(int(left), int(right))


class LineSet:
    """The line key areas of one commune, as parts and straight segments (metric)."""

    def __init__(self, lines: Sequence[tuple[int, BaseGeometry]]) -> None:
        """``lines``: (area index, metric line geometry), area indexes increasing."""
        coords: list[Floats] = []
        area: list[int] = []
        for index, geom in lines:
            for xy in _parts(geom):
                coords.append(xy)
                area.append(index)
        self.part_area: Ints = np.asarray(area, np.intp)
        self.part_coords = coords
        self.part_cum = [
            np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(c, axis=0).T)))) for c in coords
        ]
        self.part_len: Floats = np.asarray([c[-1] for c in self.part_cum], float)
        self.part_offset: Floats = np.concatenate(([0.0], np.cumsum(self.part_len + SPACER)))[:-1]
        self.part_closed = np.asarray(
            [len(c) > 3 and bool(np.all(c[0] == c[-1])) for c in coords], bool
        )
        self.area_parts: dict[int, list[int]] = {}
        for p, a in enumerate(area):
            self.area_parts.setdefault(a, []).append(p)
        n_seg = [len(c) - 1 for c in coords]
        self.seg_part: Ints = np.repeat(np.arange(len(coords), dtype=np.intp), n_seg)
        start = np.concatenate([c[:-1] for c in coords]) if coords else np.zeros((0, 2))
        end = np.concatenate([c[1:] for c in coords]) if coords else np.zeros((0, 2))
        self.ax, self.ay = start[:, 0], start[:, 1]
        self.dx, self.dy = end[:, 0] - self.ax, end[:, 1] - self.ay
        self.seg_len: Floats = np.hypot(self.dx, self.dy)
        cum = np.concatenate([c[:-1] for c in self.part_cum]) if coords else np.zeros(0)
        self.seg_start: Floats = self.part_offset[self.seg_part] + cum
        segments = np.asarray(shapely.linestrings(np.stack((start, end), axis=1)), dtype=object)
        self.tree = shapely.STRtree(segments)

    def length(self, area: int) -> float:
        """Projected length of ``area`` (0 when it has no usable part)."""
        return float(sum(self.part_len[p] for p in self.area_parts.get(area, [])))

    def pairs(self, sec: Sectors) -> LinePairs:
        """What each view of ``sec`` sees of every line, as sorted axis intervals."""
        empty = LinePairs(np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0), np.zeros(0))
        if not len(self.seg_part) or not len(sec):
            return empty
        view, seg = self.tree.query(sec.boxes())
        piece, pos = sec.pieces_of(view.astype(np.intp))
        seg = seg[pos]
        lo, hi = sec.clip_segments(piece, self.ax[seg], self.ay[seg], self.dx[seg], self.dy[seg])
        keep = (hi - lo) * self.seg_len[seg] > EPS
        seg, piece, lo, hi = seg[keep], piece[keep], lo[keep], hi[keep]
        s0 = self.seg_start[seg] + lo * self.seg_len[seg]
        s1 = self.seg_start[seg] + hi * self.seg_len[seg]
        order = np.argsort(s0, kind="stable")
        return LinePairs(
            self.part_area[self.seg_part[seg]][order],
            sec.piece_view[piece][order],
            s0[order],
            s1[order],
        )

    def substring(self, part: int, a: float, b: float) -> shapely.LineString:
        """The stretch of ``part`` from ``a`` to ``b`` (past the end of a closed ring: wraps)."""
        xy, cum = self.part_coords[part], self.part_cum[part]
        if b > cum[-1] + EPS:  # a closed ring walked round its start
            xy = np.concatenate((xy, xy[1:]))
            cum = np.concatenate((cum, cum[1:] + cum[-1]))
        ends = np.column_stack((np.interp([a, b], cum, xy[:, 0]), np.interp([a, b], cum, xy[:, 1])))
        inner = xy[(cum > a) & (cum < b)]
        return shapely.LineString(np.concatenate((ends[:1], inner, ends[1:])))


def union_length(lo: Floats, hi: Floats, labels: Ints, n: int) -> Floats:
    """Length of the union of intervals per label; rows sorted by ``lo``, labels apart."""
    if not len(lo):
        return np.zeros(n)
    reach = np.concatenate(([-np.inf], np.maximum.accumulate(hi)[:-1]))
    gain = np.clip(hi - np.maximum(lo, reach), 0.0, None)
    return np.asarray(np.bincount(labels, weights=gain, minlength=n)[:n], dtype=float)


def merge(lo: Floats, hi: Floats) -> tuple[Floats, Floats]:
    """The union of intervals sorted by ``lo``, as disjoint sorted ``starts, ends``."""
    if not len(lo):
        return np.zeros(0), np.zeros(0)
    reach = np.concatenate(([-np.inf], np.maximum.accumulate(hi)[:-1]))
    new = np.flatnonzero(lo > reach)
    return lo[new], np.maximum.reduceat(hi, new)


def covered_within(starts: Floats, ends: Floats, x: Floats) -> Floats:
    """Measure of the merged set ``starts, ends`` below each ``x``.

    So ``F(b) - F(a)`` is how much of ``[a, b]`` lies in the set.
    """
    if not len(starts):
        return np.zeros(len(x))
    before = np.concatenate(([0.0], np.cumsum(ends - starts)))
    k = np.searchsorted(starts, x, side="right") - 1
    kk = np.maximum(k, 0)
    inside = np.clip(x - starts[kk], 0.0, ends[kk] - starts[kk])
    return np.where(k >= 0, before[kk] + inside, 0.0)


def split(a: float, b: float, starts: Floats, ends: Floats) -> list[tuple[float, float, bool]]:
    """``[a, b]`` cut by a merged set: ``(start, end, inside the set)`` pieces in order."""
    out: list[tuple[float, float, bool]] = []
    at = a
    for s, e in zip(starts, ends, strict=True):
        if e <= at or s >= b:
            continue
        if s > at:
            out.append((at, float(s), False))
        out.append((max(at, float(s)), min(b, float(e)), True))
        at = min(b, float(e))
    if at < b:
        out.append((at, b, False))
    return out


@dataclass(slots=True)
class LineGap:
    """One uncovered piece of a part, in projected metres along it."""

    part: int
    start: float
    end: float
    repairable: bool
    views: list[int]


def line_gaps(
    lines: LineSet,
    area: int,
    rows: LinePairs,
    working: npt.NDArray[np.bool_],
    min_len: float,
    min_piece: float,
) -> list[LineGap]:
    """Uncovered stretches of ``area`` longer than ``min_len``, split by broken views.

    ``rows`` are the area's pairs and ``working`` says which rows' views work; the others
    are registered but broken. A stretch is every connected uncovered run of a part (on a
    closed ring, runs meeting at the start are one); one that qualifies is cut where the
    broken views' coverage begins and ends, and each piece of at least ``min_piece`` is
    kept, tagged, with the broken views that see part of it.
    """
    out: list[LineGap] = []
    for part in lines.area_parts.get(area, []):
        off, length = lines.part_offset[part], float(lines.part_len[part])
        mine = (rows.lo >= off - EPS) & (rows.hi <= off + length + EPS)
        lo, hi, view = rows.lo[mine] - off, rows.hi[mine] - off, rows.view[mine]
        ok = working[mine]
        cs, ce = merge(lo[ok], hi[ok])
        runs = [(s, e) for s, e, seen in split(0.0, length, cs, ce) if not seen]
        closed = bool(lines.part_closed[part])
        if closed and len(runs) > 1 and runs[0][0] <= EPS and runs[-1][1] >= length - EPS:
            runs = [*runs[1:-1], (runs[-1][0], length + runs[0][1])]
        bl, bh, bv = lo[~ok], hi[~ok], view[~ok]
        if closed:  # broken views seen again one lap later, for runs that wrap
            bl, bh, bv = (
                np.concatenate((bl, bl + length)),
                np.concatenate((bh, bh + length)),
                np.concatenate((bv, bv)),
            )
        order = np.argsort(bl, kind="stable")
        bl, bh, bv = bl[order], bh[order], bv[order]
        bs, be = merge(bl, bh)
        for s, e in runs:
            if e - s <= min_len:
                continue
            for ps, pe, fixable in split(s, e, bs, be):
                if pe - ps < min_piece:
                    continue
                views = sorted({int(v) for v in bv[(bl < pe - EPS) & (bh > ps + EPS)]})
                out.append(LineGap(part, ps, pe, fixable, views if fixable else []))
    return out
