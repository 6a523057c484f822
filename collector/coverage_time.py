"""Time-weighted coverage over a window (the yearly evaluation), from status stretches.

The window is cut at every instant a camera changes between working and not working; each
key area's covered measure is constant between the changes of the cameras that see it, so
it is integrated area by area: at each change only the areas that camera's sector meets
are brought up to date (:meth:`CommuneCoverage.areas_of`) before
:meth:`CommuneCoverage.set_working` recomputes them (a configuration seen before comes from
its memo). Cameras that see no key area are skipped. A kind's time-weighted fraction is
the integral of its areas' covered measure over the window, divided by the kind's total
measure and the window's length: the duration-weighted mean of what
:meth:`CommuneCoverage.summary` would give on each stretch. The coverage's camera states
are put back afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import numpy as np

from collector.coverage_engine import CommuneCoverage
from collector.coverage_types import KINDS

Stretches = dict[str, list[tuple[datetime, datetime, bool]]]


def _changes(
    stretches: list[tuple[datetime, datetime, bool]], start: datetime, end: datetime
) -> list[tuple[datetime, bool]]:
    """One camera's state changes from ``start`` on (not working between stretches)."""
    points: list[tuple[datetime, bool]] = [(start, False)]
    for s, e, ok in sorted(stretches, key=lambda x: x[0]):
        s, e = max(s, start), min(e, end)
        if s < e:
            points += [(s, ok), (e, False)]
    last: dict[datetime, bool] = {}
    for t, ok in points:  # the later of two changes at one instant wins (end, then start)
        last[t] = ok
    out: list[tuple[datetime, bool]] = []
    for t in sorted(last):
        if not out or out[-1][1] != last[t]:
            out.append((t, last[t]))
    return out


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
    saved = {cam.id: cam.working for cam in cov.cameras}
    events: dict[datetime, list[tuple[str, bool]]] = defaultdict(list)
    for cam in cov.cameras:
        if cov.areas_of(cam.id):
            for t, ok in _changes(intervals.get(cam.id, []), start, end):
                events[t].append((cam.id, ok))
    t0 = start.timestamp()
    integral = np.zeros(len(cov.areas))  # covered measure x seconds, per area
    last = np.full(len(cov.areas), t0)  # when each area's integral was brought up to date
    try:
        for t in sorted(events):
            now = t.timestamp()
            for cid, ok in events[t]:
                idx = cov.areas_of(cid)
                integral[idx] += cov.covered[idx] * (now - last[idx])
                last[idx] = now
                cov.set_working(cid, ok)
        integral += cov.covered * (end.timestamp() - last)
    finally:
        for cid, ok in saved.items():
            cov.set_working(cid, ok)
    used = cov.kind_index >= 0
    kinds = cov.kind_index[used]
    totals = np.bincount(kinds, weights=cov.total[used], minlength=len(KINDS))
    covered = np.bincount(kinds, weights=integral[used], minlength=len(KINDS))
    seconds = (end - start).total_seconds()
    return {
        k: float(covered[j] / (totals[j] * seconds)) for j, k in enumerate(KINDS) if totals[j] > 0
    }
