"""Geometry of the two server-side SVG charts; the templates draw the shapes (no JS library).

- :func:`trend_chart`: daily uptime of the communes in scope as a line (broken on days
  without data) over grey bars of the share of the day nobody knew (agent offline).
- :func:`timeline`: a camera's status over a window as coloured segments of one bar.

The trend chart is in the SVG's own units (``viewBox``: it scales with the page); the
timeline is in percent of the page's width, so its date labels are never stretched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from api.schemas import IntervalOut, TrendPoint


@dataclass(frozen=True)
class Dot:
    """One day of the trend: position, value (0..1) and its label."""

    x: float
    y: float
    day: str
    uptime: float


@dataclass(frozen=True)
class Bar:
    """A rectangle: ``x``/``y`` top left, ``width``/``height``; ``key`` names its status."""

    x: float
    y: float
    width: float
    height: float
    key: str = ""
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Tick:
    """A labelled position on an axis."""

    at: float
    label: str


@dataclass
class TrendChart:
    """What ``district.html`` draws: lines, dots, unknown-share bars and the axes."""

    width: int
    height: int
    left: int
    top: int
    bottom: int
    lines: list[str] = field(default_factory=list)  # SVG "points" of each unbroken run
    dots: list[Dot] = field(default_factory=list)
    unknown: list[Bar] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)


def trend_chart(
    points: Sequence[TrendPoint], width: int = 720, height: int = 220, label_every: int = 7
) -> TrendChart:
    """Lay out ``points`` (one per day, oldest first) on a 0 to 100 % axis."""
    left, right, top, bottom = 44, 10, 10, 28
    chart = TrendChart(width=width, height=height, left=left, top=top, bottom=height - bottom)
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(points), 1)

    def y_of(value: float) -> float:
        return round(top + plot_h * (1 - min(max(value, 0.0), 1.0)), 1)

    chart.y_ticks = [Tick(y_of(v / 100), f"{v} %") for v in (0, 25, 50, 75, 100)]
    run: list[str] = []
    for i, point in enumerate(points):
        x = round(left + step * (i + 0.5), 1)
        if point.unknown_share:
            h = plot_h * min(point.unknown_share, 1.0)
            chart.unknown.append(
                Bar(round(x - step * 0.4, 1), round(top + plot_h - h, 1), round(step * 0.8, 1), h)
            )
        if point.uptime is None:
            if run:
                chart.lines.append(" ".join(run))
            run = []
        else:
            run.append(f"{x},{y_of(point.uptime)}")
            chart.dots.append(Dot(x, y_of(point.uptime), point.day, point.uptime))
        if (len(points) - 1 - i) % label_every == 0:  # counted back from the last day
            chart.x_ticks.append(Tick(x, f"{point.day[8:10]}/{point.day[5:7]}"))
    if run:
        chart.lines.append(" ".join(run))
    return chart


def timeline(
    intervals: Sequence[IntervalOut], start: datetime, end: datetime, width: float = 100
) -> list[Bar]:
    """Segments of ``intervals`` clipped to ``start``..``end``; an open interval runs to ``end``.

    Time before the first interval stays empty (no information yet).
    """
    span = (end - start).total_seconds()
    bars: list[Bar] = []
    if span <= 0:
        return bars
    for interval in sorted(intervals, key=lambda i: i.start):
        a = max(interval.start, start)
        b = min(interval.end or end, end)
        if b <= a:
            continue
        x = (a - start).total_seconds() / span * width
        w = (b - a).total_seconds() / span * width
        bars.append(Bar(round(x, 3), 0, max(round(w, 3), 0.05), 1, interval.status, a, b))
    return bars


def day_ticks(
    start: datetime,
    end: datetime,
    every: timedelta,
    label: Callable[[datetime], str],
    width: float = 100,
) -> list[Tick]:
    """``start + k * every`` placed on a bar of ``width``, each labelled by ``label``."""
    span = (end - start).total_seconds()
    ticks: list[Tick] = []
    at = start
    while at <= end and span > 0:
        ticks.append(Tick(round((at - start).total_seconds() / span * width, 2), label(at)))
        at += every
    return ticks
