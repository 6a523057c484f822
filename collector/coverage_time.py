"""Time-weighted coverage over a window (the yearly evaluation), from working time.

A key area's covered measure at an instant depends only on which of the cameras seeing it
work. Cut into *pieces* each seen by a fixed set of cameras — a stretch of road between
the ends of what the cameras see, a face of the overlay of the sectors on a polygon, a
hotspot point — the measure is linear in time::

    ∫ covered dt = Σ piece measure * (time at least one of the piece's cameras works)

That time is the length of a union of intervals; :func:`union_time` computes it for every
distinct camera set of a whole province with one sort (+1 where a camera starts working,
-1 where it stops: covered while the running sum is positive). A hotspot polygon is not
linear (it counts when working sectors cover half of it): its working configurations are
followed one change after another and each is measured over the faces.

A kind's time-weighted fraction is that integral over its areas divided by the kind's
total measure and the window's length: the duration-weighted mean of what
:meth:`CommuneCoverage.summary` would give on each stretch of the window.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import numpy as np
import numpy.typing as npt

from collector.coverage_engine import CommuneCoverage
from collector.coverage_pieces import Threshold, line_pieces, polygon_pieces
from collector.coverage_types import KINDS

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
#: camera id -> sorted, disjoint working spans ``(starts, ends)`` in seconds
Working = dict[str, tuple[Floats, Floats]]
Stretches = dict[str, list[tuple[datetime, datetime, bool]]]


def _ranges(first: Ints, counts: Ints) -> Ints:
    """``first[k], first[k] + 1, ..., first[k] + counts[k] - 1`` for every k, concatenated."""
    ends = np.cumsum(counts)
    return np.asarray(
        np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - counts - first, counts), np.intp
    )


def merge_spans(group: Ints, lo: Floats, hi: Floats) -> tuple[Ints, Floats, Floats]:
    """Union of the spans of each group: sorted by group and start, touching ones joined."""
    keep = hi > lo
    group, lo, hi = group[keep], lo[keep], hi[keep]
    if not len(lo):
        return group, lo, hi
    order = np.lexsort((lo, group))
    group, lo, hi = group[order], lo[order], hi[order]
    shift = (group - group.min()).astype(float) * (
        2.0 * max(np.abs(hi).max(), np.abs(lo).max()) + 1
    )
    reach = np.maximum.accumulate(hi + shift)  # the running end, one group after another
    new = np.concatenate(([True], (group[1:] != group[:-1]) | (lo[1:] + shift[1:] > reach[:-1])))
    first = np.flatnonzero(new)
    return group[first], lo[first], np.maximum.reduceat(hi, first)


def union_time(members: list[list[int]], ptr: Ints, starts: Floats, ends: Floats) -> Floats:
    """For each set of cameras, how long at least one of them works.

    ``members``: each set's camera indices; camera ``g``'s working spans are
    ``starts[ptr[g]:ptr[g + 1]]``, ``ends[...]`` (disjoint). A set of one camera is its
    working time; larger sets are swept together, to the millisecond.
    """
    out = np.zeros(len(members))
    alone = np.array([len(m) == 1 for m in members], bool)
    if alone.any():
        own = np.concatenate(([0.0], np.cumsum(ends - starts)))
        cams = np.array([m[0] for m, one in zip(members, alone, strict=True) if one], np.intp)
        out[alone] = own[ptr[cams + 1]] - own[ptr[cams]]
    several = np.flatnonzero(~alone)
    sizes = np.array([len(members[k]) for k in several], np.intp)
    cams = np.array([g for k in several for g in members[k]], np.intp)
    owner = np.repeat(several, sizes)
    counts = ptr[cams + 1] - ptr[cams]
    rows = _ranges(ptr[cams], counts)
    if not len(rows):
        return out
    which = np.concatenate((np.repeat(owner, counts),) * 2).astype(np.int64)
    base = float(starts.min())
    t = np.concatenate((starts[rows], ends[rows])) - base
    step = np.concatenate((np.ones(len(rows), np.int64), -np.ones(len(rows), np.int64)))
    ms = np.round(t * 1000).astype(np.int64)  # whole milliseconds: one integer key to sort
    bits = max(int(ms.max()).bit_length(), 1)
    if bits + int(which.max()).bit_length() <= 62:
        order = np.argsort((which << bits) | ms)
    else:  # a window too long for one key
        order = np.lexsort((ms, which))
    ms, step, which = ms[order], step[order], which[order]
    running = np.cumsum(step)  # each set's spans open and close: no carry between sets
    on = (running[:-1] > 0) & (which[1:] == which[:-1])
    gained = np.bincount(which[:-1][on], weights=np.diff(ms)[on], minlength=len(members))
    out += gained / 1000.0
    return out


class TimeWeighting:
    """Time-weighted coverage of several communes over one window, computed together."""

    def __init__(self, start: float, end: float) -> None:
        """The window ``[start, end)`` in seconds."""
        if end <= start:
            raise ValueError(f"empty window: {start} .. {end}; give an end after the start")
        self.start, self.end = start, end
        self._sets: dict[tuple[str, ...], int] = {}
        self._piece: dict[tuple[int, int, int], float] = defaultdict(float)  # (key, kind, set)
        self._thresholds: list[tuple[int, Threshold]] = []
        self._totals: dict[tuple[int, int], float] = defaultdict(float)
        self.keys: list[str] = []

    def _set(self, cameras: list[str]) -> int:
        return self._sets.setdefault(tuple(sorted(set(cameras))), len(self._sets))

    def add(self, key: str, cov: CommuneCoverage) -> None:
        """Cut ``cov``'s key areas into pieces; figures come out under ``key``."""
        k = len(self.keys)
        self.keys.append(key)
        for i, kind in enumerate(cov.kind_index.tolist()):
            if kind >= 0:
                self._totals[k, kind] += float(cov.total[i])
        ids = cov.placed_ids
        for kind, measure, views in line_pieces(cov):
            self._piece[k, kind, self._set([ids[v] for v in views])] += measure
        for i in np.flatnonzero(cov.kind_index >= 0).tolist():
            if cov.shapes[i] == "point":
                views = cov.point_views[i].tolist()
                if len(views):
                    s = self._set([ids[v] for v in views])
                    self._piece[k, int(cov.kind_index[i]), s] += float(cov.weights[i])
            elif cov.shapes[i] == "polygon":
                linear, threshold = polygon_pieces(cov, i)
                for measure, views in linear:
                    self._piece[k, int(cov.kind_index[i]), self._set([ids[v] for v in views])] += (
                        measure
                    )
                if threshold is not None:
                    self._thresholds.append((k, threshold))

    def _threshold_time(self, th: Threshold, working: Working) -> float:
        """How long the hotspot polygon ``th`` counts as seen."""
        events: list[tuple[float, int]] = []
        for bit, cid in enumerate(th.cameras):
            lo, hi = working.get(cid, (np.zeros(0), np.zeros(0)))
            events += [(t, 1 << bit) for t in lo.tolist()] + [(t, 1 << bit) for t in hi.tolist()]
        events.sort()
        seen: dict[int, bool] = {}
        mask, at, total = 0, self.start, 0.0
        for t, bit in events:
            if mask and t > at:
                if mask not in seen:
                    area = sum(
                        a for a, b in zip(th.face_area, th.face_bits, strict=True) if b & mask
                    )
                    seen[mask] = area >= th.needed
                total += (t - at) if seen[mask] else 0.0
            mask ^= bit
            at = t
        return total

    def result(self, working: Working) -> dict[str, dict[str, float]]:
        """Time-weighted covered fraction per kind, per key (kinds a commune lacks left out).

        ``working``: each camera's working spans within the window; a camera without any
        never works.
        """
        ids = sorted({c for cams in self._sets for c in cams if len(working.get(c, ((),))[0])})
        cam = {cid: g for g, cid in enumerate(ids)}
        counts = np.array([len(working[cid][0]) for cid in ids], np.intp)
        ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.intp)
        starts = np.concatenate([working[c][0] for c in ids]) if ids else np.zeros(0)
        ends = np.concatenate([working[c][1] for c in ids]) if ids else np.zeros(0)
        members = [[cam[c] for c in cams if c in cam] for cams in self._sets]
        time = union_time(members, ptr, starts, ends)
        covered: dict[tuple[int, int], float] = defaultdict(float)
        for (k, kind, s), measure in self._piece.items():
            covered[k, kind] += measure * float(time[s])
        for k, th in self._thresholds:
            covered[k, th.kind] += th.weight * self._threshold_time(th, working)
        seconds = self.end - self.start
        out: dict[str, dict[str, float]] = {key: {} for key in self.keys}
        for (k, kind), total in sorted(self._totals.items()):
            if total > 0:
                out[self.keys[k]][KINDS[kind]] = covered[k, kind] / (total * seconds)
        return out


def working_spans(stretches: Stretches, start: datetime, end: datetime) -> Working:
    """Each camera's working time within ``[start, end)`` from its stretches, in seconds."""
    t0, t1 = start.timestamp(), end.timestamp()
    group, lo, hi, ids = [], [], [], sorted(stretches)
    for g, cid in enumerate(ids):
        for s, e, ok in stretches[cid]:
            if ok:
                group.append(g)
                lo.append(max(s.timestamp(), t0))
                hi.append(min(e.timestamp(), t1))
    gs, ls, hs = merge_spans(np.array(group, np.intp), np.array(lo, float), np.array(hi, float))
    bounds = np.searchsorted(gs, np.arange(len(ids) + 1))
    return {
        cid: (ls[bounds[g] : bounds[g + 1]], hs[bounds[g] : bounds[g + 1]])
        for g, cid in enumerate(ids)
    }


def time_weighted(
    cov: CommuneCoverage, intervals: Stretches, start: datetime, end: datetime
) -> dict[str, float]:
    """Time-weighted covered fraction per kind over ``[start, end)``.

    ``intervals``: each camera's ``(start, end, working)`` stretches (from
    :func:`collector.coverage_db.load_intervals`); a camera without any is not working
    the whole window, and time between stretches counts as not working. Kinds the
    commune has none of are left out.
    """
    if end <= start:
        raise ValueError(f"empty window: {start} .. {end}; give an end after the start")
    weighting = TimeWeighting(start.timestamp(), end.timestamp())
    weighting.add(cov.commune, cov)
    return weighting.result(working_spans(intervals, start, end))[cov.commune]
