"""Daily roll-up of camera-seconds per commune, and uptime read from it.

``rollup_days`` (run by ``camnet jobs``) writes one ``commune_day`` row per commune and
finished local day; ``uptime`` and ``trend`` read those rows and compute only what they
cannot hold live: the current, unfinished day and the partial days at a window's edges.

The figures are those of :func:`collector.ratio.ratio_window`, day by day: a camera counts
from its installation to its removal (local dates, Asia/Ho_Chi_Minh); before its first
interval it is ``never_reported``; time covered by no interval is ``unknown``; an open
interval runs until ``now`` and time after ``now`` is not counted. Intervals of one camera
never overlap (``collector.store.set_status_from`` cuts them), which lets ``unknown`` be
the installed time no other status accounts for, summed per commune.

How it stays fast: the intervals overlapping a window come from one index-driven query
(per camera, one range of ``(camera_id, start)`` from its last interval starting at or
before the window; a LATERAL on PostgreSQL, whose planner otherwise hashes the whole
table), and each interval is spread over the day buckets it overlaps in O(log days)
(bisect for its first and last day, a difference array for the whole days between):
never one query per day or per camera. Timings: ``benchmarks/api.py``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Table, and_, delete, func, insert, select, true, type_coerce
from sqlalchemy.engine import Connection, Engine, Row

from api.schemas import TrendPoint
from collector.models import CAMERA_STATES, as_utc
from collector.models_ops import CommuneDay
from collector.ratio import CAMERA, INTERVAL, VN, WORKING, local_midnight

COMMUNE_DAY: Table = CommuneDay.__table__  # type: ignore[attr-defined]
#: The camera-seconds columns of ``commune_day`` (``unknown`` is what the others leave).
COLUMNS = ("installed", *CAMERA_STATES)
MAX_DAYS = 400  # how far back a first roll-up goes
_BATCH = 5000
Seconds = dict[str, float]  # column -> camera-seconds


@dataclass
class _Buckets:
    """Camera-seconds per commune and column over consecutive time buckets.

    ``edges`` are the bucket boundaries (epoch seconds). A span adds its part-buckets at
    its two ends directly and its whole buckets in between to a difference array.
    """

    edges: list[float]
    part: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    whole: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(self, commune: str, column: str, s: float, e: float) -> None:
        """Add the span ``[s, e)`` (already inside ``edges``) to ``commune``'s ``column``."""
        if e <= s:
            return
        key = (commune, column)
        part = self.part.get(key)
        if part is None:
            n = len(self.edges) - 1
            part = self.part[key] = [0.0] * n
            self.whole[key] = [0] * (n + 1)
        if len(part) == 1:  # one bucket: the live part of a window
            part[0] += e - s
            return
        i = bisect_right(self.edges, s) - 1
        j = bisect_left(self.edges, e) - 1
        if i == j:
            part[i] += e - s
            return
        part[i] += self.edges[i + 1] - s
        part[j] += e - self.edges[j]
        if j > i + 1:
            whole = self.whole[key]
            whole[i + 1] += 1
            whole[j] -= 1

    def totals(self) -> dict[str, list[Seconds]]:
        """Per commune, per bucket: camera-seconds per column, ``unknown`` derived."""
        lengths = [b - a for a, b in zip(self.edges, self.edges[1:], strict=False)]
        out: dict[str, list[Seconds]] = {}
        for (commune, column), part in self.part.items():
            rows = out.setdefault(commune, [dict.fromkeys(COLUMNS, 0.0) for _ in lengths])
            running = 0
            for k, whole in enumerate(self.whole[(commune, column)][:-1]):
                running += whole
                rows[k][column] += part[k] + running * lengths[k]
        for rows in out.values():
            for row in rows:
                known = sum(v for k, v in row.items() if k not in ("installed", "unknown"))
                row["unknown"] = max(0.0, row["installed"] - known)
        return out


def _scope(communes: Collection[str] | None) -> list[Any]:
    """WHERE clauses on ``camera`` for the communes asked for (None: all)."""
    return [] if communes is None else [CAMERA.c.commune_code.in_(list(communes))]


def _epoch(value: datetime) -> float:
    """Seconds since the epoch of a UTC timestamp read raw (SQLite gives it naive)."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _intervals(
    conn: Connection, communes: Collection[str] | None, w0: datetime, w1: datetime
) -> Iterator[Row[Any, Any, Any, Any, Any, Any, Any]]:
    """Every camera in scope with its intervals that may overlap ``[w0, w1)``.

    Rows ``(camera_id, commune, installed_on, removed_on, status, start, end)``, the last
    three null for a camera without any. For each camera: from its last interval starting
    at or before ``w0`` (it may have ended before the window: a start ≤ ``w0`` still says
    the camera had reported) to the last starting before ``w1``: one backward probe and
    one range of ``(camera_id, start)`` per camera, never a scan of the table. Timestamps
    come back raw (no per-value conversion: thousands of rows per request).
    """
    c, i = CAMERA.c, INTERVAL.c
    j = INTERVAL.alias("earlier")
    last = select(func.max(j.c.start)).where(j.c.camera_id == c.id, j.c.start <= w0)
    since = func.coalesce(last.correlate(CAMERA).scalar_subquery(), w0)
    if conn.dialect.name == "postgresql":
        # A LATERAL with OFFSET 0 keeps PostgreSQL from flattening the per-camera range
        # into a hash join over the whole table (which it does for the plain join).
        found: Any = (
            select(i.status, i.start, i.end)
            .where(i.camera_id == c.id, i.start >= since, i.start < w1)
            .offset(0)
            .lateral("found")
        )
        joined = CAMERA.outerjoin(found, true())
    else:  # SQLite's planner walks the index per camera for the plain join
        found = INTERVAL
        joined = CAMERA.outerjoin(
            INTERVAL, and_(i.camera_id == c.id, i.start >= since, i.start < w1)
        )
    raw = DateTime(timezone=True)
    query = select(
        c.id, c.commune_code, c.installed_on, c.removed_on, found.c.status,
        type_coerce(found.c.start, raw), type_coerce(found.c.end, raw),
    ).select_from(joined).where(*_scope(communes))  # fmt: skip
    if communes is not None:
        yield from conn.execute(query).all()
        return
    result = conn.execute(query.execution_options(yield_per=20_000))
    try:  # a server-side cursor on PostgreSQL: closed even if the caller stops early
        yield from result
    finally:
        result.close()


def _accumulate(
    conn: Connection, communes: Collection[str] | None, edges: list[datetime], now: datetime
) -> dict[str, list[Seconds]]:
    """Camera-seconds per commune per bucket between consecutive ``edges`` (all ≤ ``now``)."""
    buckets = _Buckets([t.timestamp() for t in edges])
    lo, hi = buckets.edges[0], buckets.edges[-1]
    midnight: dict[date, float] = {}

    def at(day: date) -> float:
        if day not in midnight:
            midnight[day] = local_midnight(day).timestamp()
        return midnight[day]

    spans: dict[str, tuple[str, float, float] | None] = {}  # None: not installed then
    first: dict[str, float] = {}  # earliest start seen; -inf: reported before the window
    until = now.timestamp()  # where an open interval ends
    for cam, code, installed, removed, status, start, end in _intervals(
        conn, communes, edges[0], edges[-1]
    ):
        if cam not in spans:
            a = max(lo, at(installed)) if installed else lo
            b = min(hi, at(removed)) if removed else hi
            spans[cam] = (code, a, b) if a < b else None
            buckets.add(code, "installed", a, b)
        span = spans[cam]
        if span is None or start is None:
            continue
        code, a, b = span
        s = _epoch(start)
        first[cam] = float("-inf") if s <= lo else min(s, first.get(cam, s))
        e = until if end is None else _epoch(end)
        buckets.add(code, status, max(s, a), min(e, b))
    for cam, span in spans.items():
        if span is not None:
            code, a, b = span
            buckets.add(code, "never_reported", a, min(first.get(cam, b), b))
    return buckets.totals()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _runs(days: list[date]) -> list[list[date]]:
    """Split sorted days into runs of consecutive days."""
    runs: list[list[date]] = []
    for day in days:
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def rollup_days(engine: Engine, now: datetime, recompute_days: int = 3) -> int:
    """Write ``commune_day`` rows for finished local days; return the rows written.

    Days that have no row yet are computed (from the earliest interval's day, at most
    ``MAX_DAYS`` back), and the last ``recompute_days`` finished days always are: agents
    replay their outboxes late and rewrite recent history. One row per commune with
    cameras and day, zeros included, so that a computed day is known to be done.
    """
    last = now.astimezone(VN).date() - timedelta(days=1)  # yesterday: the last finished day
    written = 0
    with engine.begin() as conn:
        earliest = conn.scalar(select(func.min(INTERVAL.c.start)))
        if earliest is None:
            return 0
        begin = max(as_utc(earliest).astimezone(VN).date(), last - timedelta(days=MAX_DAYS - 1))
        d = COMMUNE_DAY.c
        done = set(conn.scalars(select(d.day).where(d.day >= begin).distinct()))
        fresh = last - timedelta(days=recompute_days)
        wanted = [day for day in _days(begin, last) if day not in done or day > fresh]
        communes = list(conn.scalars(select(CAMERA.c.commune_code).distinct()))
        computed_at = as_utc(now)
        for run in _runs(wanted):
            edges = [local_midnight(day) for day in [*run, run[-1] + timedelta(days=1)]]
            totals = _accumulate(conn, None, edges, now)
            rows = [
                {"commune_code": code, "day": day, "computed_at": computed_at}
                | (totals[code][k] if code in totals else dict.fromkeys(COLUMNS, 0.0))
                for code in communes
                for k, day in enumerate(run)
            ]
            conn.execute(delete(COMMUNE_DAY).where(d.day >= run[0], d.day <= run[-1]))
            for k in range(0, len(rows), _BATCH):
                conn.execute(insert(COMMUNE_DAY), rows[k : k + _BATCH])
            written += len(rows)
    return written


def camera_seconds(
    conn: Connection,
    communes: Collection[str] | None,
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[str, Seconds]:
    """Camera-seconds per commune and column over ``[start, min(end, now))``.

    Whole finished days come from ``commune_day``; the partial days at the edges, the
    current day and any finished day not rolled up yet are computed from the intervals.
    """
    end = min(end, now)
    out: dict[str, Seconds] = {}
    if start >= end:
        return out
    first = start.astimezone(VN).date()
    if local_midnight(first) < start:
        first += timedelta(days=1)
    last = end.astimezone(VN).date() - timedelta(days=1)  # the last day ending by ``end``
    live: list[tuple[datetime, datetime]] = []
    if first > last:
        live.append((start, end))
    else:
        d = COMMUNE_DAY.c
        where = [d.day >= first, d.day <= last]
        if communes is not None:
            where.append(d.commune_code.in_(list(communes)))
        # Days rolled up for these communes (the roll-up writes every commune with cameras
        # at once; a commune without cameras has no rows, but nothing to compute live either).
        have = set(conn.scalars(select(d.day).where(*where).distinct()))
        sums = select(d.commune_code, *(func.sum(d[k]) for k in COLUMNS)).where(*where)
        for code, *values in conn.execute(sums.group_by(d.commune_code)):
            out[code] = {k: float(v or 0.0) for k, v in zip(COLUMNS, values, strict=True)}
        live.append((start, local_midnight(first)))
        live += [
            (local_midnight(run[0]), local_midnight(run[-1] + timedelta(days=1)))
            for run in _runs([day for day in _days(first, last) if day not in have])
        ]
        live.append((local_midnight(last + timedelta(days=1)), end))
    merged: list[tuple[datetime, datetime]] = []
    for a, b in live:
        if a >= b:
            continue
        if merged and merged[-1][1] == a:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    for a, b in merged:
        for code, (seconds,) in _accumulate(conn, communes, [a, b], now).items():
            row = out.setdefault(code, dict.fromkeys(COLUMNS, 0.0))
            for k in COLUMNS:
                row[k] += seconds[k]
    return out


def _shares(seconds: Seconds | None) -> tuple[float | None, float | None]:
    installed = seconds["installed"] if seconds else 0.0
    if not seconds or installed <= 0:
        return None, None
    return sum(seconds[k] for k in WORKING) / installed, seconds["unknown"] / installed


def uptime(
    conn: Connection,
    communes: Collection[str] | None,
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[str, tuple[float | None, float | None]]:
    """Per commune: (uptime, unknown share) over ``[start, min(end, now))``.

    Uptime is working (ok or degraded) over installed camera-seconds, as
    :func:`collector.ratio.ratio_window` gives it; the unknown share is the part of the
    installed time with no information. ``(None, None)``: nothing installed. Every commune
    asked for is in the answer; with ``communes=None``, every commune with cameras.
    """
    seconds = camera_seconds(conn, communes, start, end, now)
    codes = list(seconds) if communes is None else list(communes)
    return {code: _shares(seconds.get(code)) for code in codes}


def trend(
    conn: Connection, communes: Collection[str] | None, days: int, now: datetime
) -> list[TrendPoint]:
    """One point per finished local day, the last ``days`` of them, summed over communes.

    Read from ``commune_day`` only: a day not rolled up yet has ``uptime`` null.
    """
    last = now.astimezone(VN).date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    d = COMMUNE_DAY.c
    query = (
        select(d.day, *(func.sum(d[k]) for k in COLUMNS))
        .where(d.day >= first, d.day <= last)
        .group_by(d.day)
    )
    if communes is not None:
        query = query.where(d.commune_code.in_(list(communes)))
    by_day: dict[date, Seconds] = {
        day: {k: float(v or 0.0) for k, v in zip(COLUMNS, values, strict=True)}
        for day, *values in conn.execute(query)
    }
    points = []
    for day in _days(first, last):
        share, unknown = _shares(by_day.get(day))
        points.append(TrendPoint(day=day.isoformat(), uptime=share, unknown_share=unknown))
    return points
