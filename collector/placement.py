"""Where to put k new cameras: greedy weighted maximum coverage over candidate sites.

Objective (unitless): the sum over key areas of ``weight * newly covered / total``, on top
of what the working cameras already see. Roads and borders count newly covered metres
over their length; a hotspot point counts 1 when newly seen; polygons (areas, and hotspot
polygons) count newly covered m² over their area — continuously for hotspot polygons
rather than by the 50 % rule of the summary, because a threshold is not submodular and
greedy could never climb it one camera at a time.

The objective is monotone and submodular, so greedy picking is within 1 - 1/e of the best
choice of k (and exact on small cases like the tests'); lazy evaluation (CELF) re-scores
only candidates whose stale gain still leads. A pick's ``gain`` is its marginal objective
at the time it was picked; picking stops early when nothing gains any more.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from collector.coverage_engine import CommuneCoverage, Effects
from collector.coverage_lines import covered_within, merge
from collector.coverage_types import KINDS, geom_array
from collector.geometry import Floats, Geoms

Ints = npt.NDArray[np.intp]
EVERY_45 = tuple(float(h) for h in range(0, 360, 45))
MIN_GAIN = 1e-12


@dataclass(slots=True)
class Candidate:
    """A site a camera could go: a pole, a wall; ``headings`` None tries every 45°."""

    lon: float
    lat: float
    headings: tuple[float, ...] | None = None


@dataclass(slots=True)
class Suggestion:
    """A new camera to install, in the order picked, with its marginal gain."""

    lon: float
    lat: float
    heading: float
    gain: float
    gain_by_kind: dict[str, float] = field(default_factory=dict)


def candidates_along_roads(cov: CommuneCoverage, spacing_m: float = 50.0) -> list[Candidate]:
    """A site every ``spacing_m`` along each main road (from its start, and its end).

    Each looks four ways: along the road both ways, where a camera sees the most road,
    and across it both ways, for hotspots and areas beside the road. Sites within 1 m of
    an earlier one (road junctions) are dropped.
    """
    step = spacing_m * cov.scale
    xs: list[float] = []
    ys: list[float] = []
    azimuths: list[float] = []
    for i, area in enumerate(cov.areas):
        if area.kind != "main_road" or cov.shapes[i] != "line":
            continue
        for p in cov.lines.area_parts.get(i, []):
            xy, cum = cov.lines.part_coords[p], cov.lines.part_cum[p]
            at = np.arange(0.0, cum[-1] + 1e-9, step)
            if cum[-1] - at[-1] > step / 2:
                at = np.append(at, cum[-1])
            seg = np.clip(np.searchsorted(cum, at, side="right") - 1, 0, len(xy) - 2)
            d = xy[seg + 1] - xy[seg]
            xs += np.interp(at, cum, xy[:, 0]).tolist()
            ys += np.interp(at, cum, xy[:, 1]).tolist()
            azimuths += np.degrees(np.arctan2(d[:, 0], d[:, 1])).tolist()
    if not xs:
        return []
    lon, lat = cov.projection.lonlats(xs, ys)
    along = (np.asarray(azimuths) - cov.projection.grid_north(lon, lat)) % 360
    out: list[Candidate] = []
    seen: set[tuple[int, int]] = set()
    for x, y, lo, la, h in zip(xs, ys, lon, lat, along, strict=True):
        key = (round(x), round(y))
        if key in seen:
            continue
        seen.add(key)
        heads = tuple(float(round((h + turn) % 360, 6)) for turn in (0.0, 180.0, 90.0, 270.0))
        out.append(Candidate(float(lo), float(la), heads))
    return out


class _Greedy:
    """The state of the greedy pick: what is covered so far, and each option's effects."""

    def __init__(self, cov: CommuneCoverage, eff: Effects, n_options: int) -> None:
        self.cov = cov
        n = len(cov.areas)
        self.kind = cov.kind_index
        self.factor = np.zeros(n)
        for i, shape in enumerate(cov.shapes):
            measure = 1.0
            if shape == "line":
                measure = cov.lines.length(i)
            elif shape == "polygon":
                measure = cov.metric_of(i).area
            if shape and measure > 0:
                self.factor[i] = cov.weights[i] / measure
        rows = cov.line_rows
        ok = cov.working[rows.view]
        self.starts, self.ends = merge(rows.lo[ok], rows.hi[ok])
        self.seen = {i for i, s in enumerate(cov.shapes) if s == "point" and cov.seen[i]}
        self.polys: dict[int, BaseGeometry] = {
            i: cov.covered_geometry(i) for i, s in enumerate(cov.shapes) if s == "polygon"
        }
        order = np.lexsort((eff.lines.lo, eff.lines.view))
        self.l_area, self.l_lo, self.l_hi = (
            eff.lines.area[order],
            eff.lines.lo[order],
            eff.lines.hi[order],
        )
        self.l_at = np.searchsorted(eff.lines.view[order], np.arange(n_options + 1))
        order = np.argsort(eff.point_view, kind="stable")
        self.p_area = eff.point_area[order]
        self.p_at = np.searchsorted(eff.point_view[order], np.arange(n_options + 1))
        order = np.argsort(eff.poly_view, kind="stable")
        self.q_area, self.q_piece = eff.poly_area[order], eff.poly_piece[order]
        self.q_at = np.searchsorted(eff.poly_view[order], np.arange(n_options + 1))

    def _lines(self, o: int) -> tuple[Floats, Floats, Ints]:
        sl = slice(self.l_at[o], self.l_at[o + 1])
        lo, hi, area = self.l_lo[sl], self.l_hi[sl], self.l_area[sl]
        if not len(lo):
            return lo, hi, area
        reach = np.concatenate(([-np.inf], np.maximum.accumulate(hi)[:-1]))
        first = np.flatnonzero(lo > reach)  # the option's own intervals, merged
        return lo[first], np.maximum.reduceat(hi, first), area[first]

    def _pieces(self, o: int) -> tuple[Ints, Geoms]:
        sl = slice(self.q_at[o], self.q_at[o + 1])
        return self.q_area[sl], self.q_piece[sl]

    def gain(self, o: int) -> npt.NDArray[np.float64]:
        """Marginal objective of option ``o`` per kind (index of :data:`KINDS`)."""
        by_kind = np.zeros(len(KINDS))
        lo, hi, area = self._lines(o)
        if len(lo):
            inside = covered_within(self.starts, self.ends, hi) - covered_within(
                self.starts, self.ends, lo
            )
            new = (hi - lo - inside) * self.factor[area]
            by_kind += np.bincount(self.kind[area], weights=new, minlength=len(KINDS))
        for i in self.p_area[self.p_at[o] : self.p_at[o + 1]]:
            if int(i) not in self.seen:
                by_kind[self.kind[i]] += self.factor[i]
        areas, pieces = self._pieces(o)
        if len(areas):
            covered = [self.polys[int(i)] for i in areas]
            new_area = shapely.area(shapely.difference(pieces, geom_array(covered)))
            by_kind += np.bincount(
                self.kind[areas], weights=new_area * self.factor[areas], minlength=len(KINDS)
            )
        return by_kind

    def take(self, o: int) -> None:
        """Add option ``o`` to what is covered."""
        lo, hi, _ = self._lines(o)
        if len(lo):
            all_lo = np.concatenate((self.starts, lo))
            all_hi = np.concatenate((self.ends, hi))
            order = np.argsort(all_lo, kind="stable")
            self.starts, self.ends = merge(all_lo[order], all_hi[order])
        self.seen.update(int(i) for i in self.p_area[self.p_at[o] : self.p_at[o + 1]])
        for i, piece in zip(*self._pieces(o), strict=True):
            self.polys[int(i)] = shapely.union(self.polys[int(i)], piece)


def suggest(
    cov: CommuneCoverage,
    k: int,
    candidates: list[Candidate] | None = None,
    fov: float = 90.0,
    range_m: float = 60.0,
) -> list[Suggestion]:
    """Up to ``k`` new cameras (``fov``, ``range_m``) picked greedily, best first.

    ``candidates`` default to :func:`candidates_along_roads` every 50 m. Ties go to the
    earlier candidate and heading.
    """
    sites = candidates if candidates is not None else candidates_along_roads(cov)
    opts = [(c.lon, c.lat, h) for c in sites for h in (c.headings or EVERY_45)]
    if k <= 0 or not opts:
        return []
    lon, lat, heading = (np.array(v, float) for v in zip(*opts, strict=True))
    n = len(opts)
    sec = cov.view_sectors(lon, lat, heading, np.full(n, fov), np.full(n, range_m))
    state = _Greedy(cov, cov.effects(sec), n)
    gains = {o: state.gain(o) for o in range(n)}
    heap = [(-float(g.sum()), o) for o, g in gains.items()]
    heapq.heapify(heap)
    fresh = dict.fromkeys(range(n), 0)
    picked: list[Suggestion] = []
    while heap and len(picked) < k:
        neg, o = heapq.heappop(heap)
        if fresh[o] != len(picked):  # stale: score again against what is covered now
            gains[o] = state.gain(o)
            fresh[o] = len(picked)
            heapq.heappush(heap, (-float(gains[o].sum()), o))
            continue
        if -neg <= MIN_GAIN:
            break
        state.take(o)
        by_kind = {kind: float(gains[o][j]) for j, kind in enumerate(KINDS)}
        picked.append(Suggestion(opts[o][0], opts[o][1], opts[o][2] % 360, -neg, by_kind))
    return picked
