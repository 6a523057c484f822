"""What the evaluation reads from the database: communes, cameras, camera-seconds, outages, tasks.

Heavy sums happen in SQL, on both databases (:mod:`api.evaluation.sql`): the camera-seconds
per commune, status and month come back as a few thousand rows however many intervals a
province-year holds. Each interval is clipped to the period (up to ``until``) and to its
camera's installation (local dates); an interval inside one month adds ``hi - lo`` to it;
one crossing months is split there (:func:`status_seconds`).

Communes merged into another (``commune.merged_into``, ending before the period does) are
read under the code they ended up in, so their history is carried over.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import BigInteger, Table, and_, case, cast, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ColumnElement

from api.evaluation.period import Bucket, EvalPeriod, ms
from api.evaluation.sql import date_epoch, epoch, greatest, least
from collector.models import Commune, District
from collector.models_ops import RepairTask
from collector.ratio import CAMERA, INTERVAL, local_midnight

COMMUNE: Table = Commune.__table__  # type: ignore[attr-defined]
DISTRICT: Table = District.__table__  # type: ignore[attr-defined]
TASK: Table = RepairTask.__table__  # type: ignore[attr-defined]
STATUSES = ("ok", "degraded", "down", "unknown", "never_reported")


@dataclass
class CommuneInfo:
    """A commune as the result names it, and the old communes merged into it."""

    code: str
    name: str
    province_code: str
    district_code: str | None
    district_name: str | None
    merged_from: list[str] = field(default_factory=list)


@dataclass
class CameraSpan:
    """A camera counted in the period: its commune (after mergers) and installed span."""

    id: str
    commune: str
    a: int  # epoch milliseconds: counted from here...
    b: int  # ...to here (installation, removal, period, until)
    installed_on: date | None
    removed_on: date | None
    first_report: int | None = None  # epoch ms of its first interval ever, None: never


@dataclass
class TaskRow:
    """The timestamps of one repair task (epoch seconds, to the millisecond on any database)."""

    id: int
    commune: str
    failed_at: float
    opened_at: float
    deadline: float
    fixed_at: float | None
    closed_at: float | None


def _ms_sql(value: ColumnElement[float]) -> ColumnElement[int]:
    """Seconds -> whole milliseconds, so that sums are exact (and the digest repeatable)."""
    return cast(func.round(value * 1000), BigInteger)


def communes(
    conn: Connection, period: EvalPeriod, scope: Collection[str] | None
) -> tuple[dict[str, CommuneInfo], dict[str, str]]:
    """Communes reported (in ``scope``: final codes; None: all) and old code -> final code.

    A commune follows ``merged_into`` when it stopped existing (``valid_to``) before the
    period's last day; chains (A -> B -> C) are followed to the end.
    """
    rows = conn.execute(
        select(
            COMMUNE.c.code,
            COMMUNE.c.name,
            COMMUNE.c.province_code,
            COMMUNE.c.district_code,
            COMMUNE.c.valid_from,
            COMMUNE.c.valid_to,
            COMMUNE.c.merged_into,
            DISTRICT.c.name.label("district_name"),
        ).select_from(COMMUNE.outerjoin(DISTRICT, DISTRICT.c.code == COMMUNE.c.district_code))
    ).all()
    by_code = {r.code: r for r in rows}
    nxt = {
        r.code: r.merged_into
        for r in rows
        if r.merged_into
        and r.merged_into in by_code
        and r.valid_to
        and r.valid_to < period.last_day
    }
    final: dict[str, str] = {}
    for code in by_code:
        seen, cur = {code}, code
        while cur in nxt and nxt[cur] not in seen:
            cur = nxt[cur]
            seen.add(cur)
        final[code] = cur
    info: dict[str, CommuneInfo] = {}
    for code, r in sorted(by_code.items()):
        if final[code] != code:
            continue
        if r.valid_from and r.valid_from > period.last_day:
            continue  # created after the period
        if scope is not None and code not in scope:
            continue
        info[code] = CommuneInfo(code, r.name, r.province_code, r.district_code, r.district_name)
    for code in sorted(by_code):
        if final[code] != code and final[code] in info:
            info[final[code]].merged_from.append(code)
    return info, {k: v for k, v in final.items() if v in info}


def cameras(
    conn: Connection, period: EvalPeriod, until: datetime, final: dict[str, str]
) -> dict[str, CameraSpan]:
    """Cameras of the reported communes installed at some time of ``[start, until)``.

    Their ``first_report`` is left unset: :func:`first_reports` reads it (it scans every
    interval, so the evaluation reads it with the other sums).
    """
    c = CAMERA.c
    p0, u = ms(period.start), ms(until)
    query = select(c.id, c.commune_code, c.installed_on, c.removed_on)
    query = query.where(c.commune_code.in_(list(final)))
    out: dict[str, CameraSpan] = {}
    for cid, code, installed, removed in conn.execute(query):
        a = max(p0, _local_midnight(installed)) if installed else p0
        b = min(u, _local_midnight(removed)) if removed else u
        if a < b:
            out[cid] = CameraSpan(cid, final[code], a, b, installed, removed)
    return out


def first_reports(conn: Connection, final: dict[str, str]) -> dict[str, int]:
    """Epoch ms of each camera's first interval ever (cameras of the reported communes)."""
    c, i = CAMERA.c, INTERVAL.c
    query = (
        select(i.camera_id, _ms_sql(epoch(func.min(i.start))))
        .where(i.camera_id.in_(select(c.id).where(c.commune_code.in_(list(final)))))
        .group_by(i.camera_id)
    )
    return {cid: int(first) for cid, first in conn.execute(query)}


def _local_midnight(day: date) -> int:
    return ms(local_midnight(day))


def status_seconds(
    conn: Connection, period: EvalPeriod, until: datetime, final: dict[str, str]
) -> dict[str, list[dict[str, int]]]:
    """Per final commune, per month of the period: milliseconds per status (installed)."""
    months = period.months()
    p0, u = period.start.timestamp(), until.timestamp()
    c, i = CAMERA.c, INTERVAL.c
    s = epoch(i.start)
    e = func.coalesce(epoch(i.end), literal(u))
    a = greatest(literal(p0), func.coalesce(date_epoch(c.installed_on), literal(p0)))
    b = least(literal(u), func.coalesce(date_epoch(c.removed_on), literal(u)))
    inner = (
        select(
            c.commune_code.label("commune"),
            i.status.label("status"),
            _ms_sql(greatest(s, a) - p0).label("lo"),
            _ms_sql(least(e, b) - p0).label("hi"),
        )
        .select_from(INTERVAL.join(CAMERA, c.id == i.camera_id))
        .where(
            c.commune_code.in_(list(final)),
            i.start < until,
            or_(i.end.is_(None), i.end > period.start),
        )
        .offset(0)  # a fence: lo and hi are computed once per row, not in every CASE branch
        .subquery()
    )
    p0_ms = ms(period.start)
    edges = [m.end - p0_ms for m in months[:-1]]
    k_lo = case(*((inner.c.lo < x, k) for k, x in enumerate(edges)), else_=len(edges))
    k_hi = case(*((inner.c.hi <= x, k) for k, x in enumerate(edges)), else_=len(edges))
    query = (
        select(
            inner.c.commune,
            inner.c.status,
            k_lo.label("k_lo"),
            k_hi.label("k_hi"),
            func.count(),
            func.sum(inner.c.lo),
            func.sum(inner.c.hi),
        )
        .where(inner.c.lo < inner.c.hi)
        .group_by(inner.c.commune, inner.c.status, "k_lo", "k_hi")
    )
    out: dict[str, list[dict[str, int]]] = {}
    rel = [(m.start - p0_ms, m.end - p0_ms) for m in months]
    for code, status, klo, khi, n, lo_sum, hi_sum in conn.execute(query):
        rows = out.setdefault(final[code], [defaultdict(int) for _ in months])
        sum_lo, sum_hi = int(lo_sum), int(hi_sum)
        if klo == khi:
            rows[klo][status] += sum_hi - sum_lo
            continue
        rows[klo][status] += n * rel[klo][1] - sum_lo
        rows[khi][status] += sum_hi - n * rel[khi][0]
        for k in range(klo + 1, khi):
            rows[k][status] += n * (rel[k][1] - rel[k][0])
    return out


def spread(buckets: list[Bucket], a: int, b: int) -> list[tuple[int, int]]:
    """``[a, b)`` (epoch ms) cut by the months: ``(month index, milliseconds)`` pieces."""
    return [
        (k, min(b, m.end) - max(a, m.start))
        for k, m in enumerate(buckets)
        if m.start < b and m.end > a
    ]


@dataclass
class OutageRow:
    """The longest unbroken ``down`` stretch of a commune's cameras (epoch seconds)."""

    camera_id: str
    start: int  # epoch ms
    end: int
    ongoing: bool


def longest_outages(
    conn: Connection, period: EvalPeriod, until: datetime, final: dict[str, str]
) -> dict[str, OutageRow]:
    """Per final commune, the longest run of adjacent ``down`` intervals inside the period."""
    p0, u = period.start.timestamp(), until.timestamp()
    c, i = CAMERA.c, INTERVAL.c
    e = func.coalesce(epoch(i.end), literal(u))
    a = greatest(literal(p0), func.coalesce(date_epoch(c.installed_on), literal(p0)))
    b = least(literal(u), func.coalesce(date_epoch(c.removed_on), literal(u)))
    prev_end = func.lag(i.end).over(partition_by=i.camera_id, order_by=i.start)
    down = (
        select(
            c.commune_code.label("commune"),
            i.camera_id.label("camera"),
            i.start.label("at"),
            _ms_sql(greatest(epoch(i.start), a)).label("lo"),
            _ms_sql(least(e, b)).label("hi"),
            case((i.start == prev_end, 0), else_=1).label("brk"),
        )
        .select_from(INTERVAL.join(CAMERA, c.id == i.camera_id))
        .where(
            c.commune_code.in_(list(final)),
            i.status == "down",
            i.start < until,
            or_(i.end.is_(None), i.end > period.start),
        )
        .subquery()
    )
    island = func.sum(down.c.brk).over(partition_by=down.c.camera, order_by=down.c.at)
    runs = select(down, island.label("island")).subquery()
    per = (
        select(
            runs.c.commune,
            runs.c.camera,
            func.min(runs.c.lo).label("lo"),
            func.max(runs.c.hi).label("hi"),
        )
        .where(runs.c.lo < runs.c.hi)
        .group_by(runs.c.commune, runs.c.camera, runs.c.island)
        .subquery()
    )
    rank = func.row_number().over(
        partition_by=per.c.commune, order_by=[(per.c.hi - per.c.lo).desc(), per.c.camera]
    )
    ranked = select(per, rank.label("rank")).subquery()
    out: dict[str, OutageRow] = {}
    query = select(ranked.c.commune, ranked.c.camera, ranked.c.lo, ranked.c.hi).where(
        ranked.c.rank == 1
    )
    for code, cam, lo, hi in conn.execute(query):
        lo, hi = int(lo), int(hi)
        row = OutageRow(cam, lo, hi, ongoing=hi >= round(u * 1000))
        best = out.get(final[code])
        if best is None or (hi - lo, cam) > (best.end - best.start, best.camera_id):
            out[final[code]] = row
    return out


def tasks(
    conn: Connection, period: EvalPeriod, until: datetime, final: dict[str, str]
) -> dict[str, list[TaskRow]]:
    """Repair tasks of the reported communes that touch ``[start, until)``."""
    t = TASK.c
    stamps = [_ms_sql(epoch(col)) for col in (t.failed_at, t.opened_at, t.deadline)]
    maybe = [_ms_sql(epoch(col)) for col in (t.fixed_at, t.closed_at)]
    query = (
        select(t.id, t.commune_code, *stamps, *maybe)
        .order_by(t.id)
        .where(
            t.commune_code.in_(list(final)),
            t.opened_at < until,
            or_(
                t.closed_at.is_(None),
                t.closed_at >= period.start,
                t.deadline >= period.start,
                and_(t.fixed_at.is_not(None), t.fixed_at >= period.start),
            ),
        )
    )
    out: dict[str, list[TaskRow]] = defaultdict(list)
    for tid, code, failed, opened, deadline, fixed, closed in conn.execute(query):
        row = TaskRow(
            tid, final[code], (failed or 0) / 1000, (opened or 0) / 1000,
            (deadline or 0) / 1000, None if fixed is None else fixed / 1000,
            None if closed is None else closed / 1000,
        )  # fmt: skip
        out[row.commune].append(row)
    return out
