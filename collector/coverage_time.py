"""Time-weighted coverage over a window (the yearly evaluation), from status stretches.

The window is cut at every instant a camera changes between working and not working; on
each constant stretch the commune's coverage is what :meth:`CommuneCoverage.summary`
gives, and each kind's fraction is weighted by the stretch's duration. Each change goes
through :meth:`CommuneCoverage.set_working`, so only the areas that camera sees are
recomputed. The coverage's camera states are put back afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from collector.coverage_engine import CommuneCoverage

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
        for t, ok in _changes(intervals.get(cam.id, []), start, end):
            events[t].append((cam.id, ok))
    weighted: dict[str, float] = defaultdict(float)
    try:
        times = sorted(events)
        for n, t in enumerate(times):
            for cid, ok in events[t]:
                cov.set_working(cid, ok)
            seconds = ((times[n + 1] if n + 1 < len(times) else end) - t).total_seconds()
            for kind, figures in cov.summary().items():
                if figures.fraction is not None:
                    weighted[kind] += figures.fraction * seconds
    finally:
        for cid, ok in saved.items():
            cov.set_working(cid, ok)
    total = (end - start).total_seconds()
    return {kind: value / total for kind, value in weighted.items()}
