"""Generation of the province-year for ``benchmarks.evaluation``: registry, key areas,
cameras, a year of status intervals and repair tasks, streamed into PostgreSQL by COPY.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from api.evaluation.period import EvalPeriod
from api.task_rules import TaskRules
from benchmarks.coverage import CELL, _camera, _camera_spot, _geojson, _lonlat, commune_layout
from collector.db import create_schema, make_engine
from collector.ratio import local_midnight
from tests.db_fixtures import PostgresServer

CAMNET = Path(sys.executable).parent / "camnet"
RULES = TaskRules()  # the default grace (offline: 15 min) and SLA hours by priority
Row = tuple[Any, ...]
Stream = Iterator[tuple[str, Row]]
UNKNOWN, DOWN, DEGRADED, OK = 3, 2, 1, 0  # which status wins where spells overlap
STATUS = {UNKNOWN: "unknown", DOWN: "down", DEGRADED: "degraded", OK: "ok"}
FAULTS = {DOWN: ("", "unreachable"), DEGRADED: ("blurred", None)}  # others: ("", None)
HOUR, DAY, YEAR = 3600.0, 86400.0, 365 * 86400.0
OPEN_STATES = ("open", "assigned", "in_progress", "reported_fixed")
Spell = tuple[float, float, int]  # start, end, status (UNKNOWN ... OK)
COLUMNS = {
    "province": "code, name",
    "district": "code, name, province_code",
    "app_user": "id, username, full_name, role, password_hash, district_code, phone, email, "
    "language, active, created_at",
    "site": "id, commune_code, name, address, lat, lon",
    "agent": "id, site_id, commune_code, name",
    "status_interval": 'camera_id, status, faults, cause, start, "end"',
    "commune": "code, name, province_code, district_code, valid_from, valid_to, merged_into",
    "camera": "id, commune_code, site_id, agent_id, name, lat, lon, heading, fov, range_m, "
    "camera_type, installed_on, removed_on, funding, priority",
    "key_area": "id, commune_code, kind, name, weight, geometry",
    "repair_task": "id, kind, camera_id, site_id, agent_id, commune_code, cameras, state, "
    "problem, status_seen, faults, cause, diagnosis, diagnosis_en, priority, failed_at, "
    "opened_at, deadline, assignee_id, escalation, escalated_at, reported_fixed_at, fixed_at, "
    "closed_at, repair_seconds, reopened, updated_at",
}
REGISTRY = ("province", "district", "app_user", "commune", "site", "agent")
STREAMED = ("camera", "key_area", "status_interval", "repair_task")  # one connection each
KINDS = ("main_road", "village_border", "hotspot", "area")
MERGED_ON = date(2025, 7, 1)  # the 2025 reorganisation: old communes end the day before


@dataclass
class Commune:
    """One commune of the plan; ``old``: the commune merged into it in 2025, if any."""

    index: int
    code: str
    district: str
    cameras: int
    old: str | None


@dataclass
class Year:
    """The generated year: its period, its clock, and counts of what was generated."""

    period: EvalPeriod
    now: float  # epoch seconds: the data ends here, after the period
    begin: float  # the history starts here, before the period
    rows: Counter[str] = field(default_factory=Counter)  # table -> rows
    n: Counter[str] = field(default_factory=Counter)  # figure -> count
    tasks: Iterator[int] = field(default_factory=lambda: itertools.count(1))


def plan(communes: int, cameras: int, rng: random.Random) -> list[Commune]:
    """Communes (10 a district) with their camera counts; 5 % absorbed an old commune."""
    sizes = [rng.uniform(0.6, 1.4) for _ in range(communes)]
    total = sum(sizes)
    counts = [int(cameras * s / total) for s in sizes]
    for i in range(cameras - sum(counts)):
        counts[i % communes] += 1
    return [
        Commune(c, f"{10000 + c:05d}", f"{300 + c // 10}", counts[c],
                f"{60000 + c:05d}" if rng.random() < 0.05 else None)
        for c in range(communes)
    ]  # fmt: skip


def registry(communes: list[Commune], year: Year) -> dict[str, list[Row]]:
    """The small tables, committed before the streams (cameras and areas refer to them)."""
    rows: dict[str, list[Row]] = {t: [] for t in REGISTRY}
    rows["province"].append(("34", "Tỉnh thử / benchmark province"))
    created = datetime.fromtimestamp(year.begin, UTC)
    side = math.ceil(math.sqrt(len(communes)))
    for cm in communes:
        if not rows["district"] or rows["district"][-1][0] != cm.district:
            rows["district"].append((cm.district, f"Huyện {cm.district}", "34"))
            user = (f"kt{cm.district}", "Kỹ thuật", "technician", "", cm.district, "", "", "vi")
            rows["app_user"].append((len(rows["district"]), *user, True, created))
        rows["commune"].append((cm.code, f"Xã {cm.index + 1}", "34", cm.district,
                                MERGED_ON if cm.old else None, None, None))  # fmt: skip
        if cm.old:
            rows["commune"].append((cm.old, f"Xã cũ {cm.index + 1}", "34", cm.district, None,
                                    MERGED_ON - timedelta(days=1), cm.code))  # fmt: skip
        lon, lat = _lonlat((cm.index % side + 0.5) * CELL, (cm.index // side + 0.5) * CELL)
        for k in range(2):  # two NVR sites, an agent each
            site = f"site-{cm.code}-{k}"
            rows["site"].append((site, cm.code, site, "", lat, lon))
            rows["agent"].append((f"agent-{site}", site, cm.code, ""))
    return rows


def province(communes: list[Commune], year: Year, rng: random.Random) -> Stream:
    """Key areas, cameras, their intervals and tasks, commune after commune."""
    side, t0 = math.ceil(math.sqrt(len(communes))), time.perf_counter()
    users = {d: n for n, d in enumerate(dict.fromkeys(cm.district for cm in communes), 1)}
    for cm in communes:
        layout = commune_layout(rng, (cm.index % side) * CELL, (cm.index // side) * CELL)
        for kind in KINDS:
            for j, geom in enumerate(layout[kind]):
                weight = 2.0 if kind == "main_road" and j == 0 else 1.0
                weight = 3.0 if kind == "hotspot" and geom.geom_type == "Polygon" else weight
                code = cm.old if cm.old and kind == "area" else cm.code  # the old one's areas
                yield "key_area", (f"{code}-{kind}-{j}", code, kind, "", weight, _geojson(geom))
                year.n[kind] += 1
        sites = [f"site-{cm.code}-{k}" for k in range(2)]
        hours = lambda: rng.lognormvariate(math.log(5 * HOUR), 1.0)  # noqa: E731
        offline = {s: _spells(rng, year.begin, year.now, 5.0, hours, UNKNOWN) for s in sites}
        members: dict[str, list[str]] = {s: [] for s in sites}
        for k in range(cm.cameras):
            site = sites[k % 2]
            cam = _camera(rng, f"cam-{cm.code}-{k:04d}", cm.code, _camera_spot(rng, layout))
            code = cm.old if cm.old and rng.random() < 0.35 else cm.code
            year.n["old_code"] += code != cm.code
            members[site].append(cam["id"])
            installed, removed = _dates(rng, year)
            priority = rng.choice(("normal",) * 6 + ("hotspot", "main_road"))
            where = (cam["id"], code, site, f"agent-{site}", cam["name"], cam["lat"], cam["lon"])
            view = (cam["heading"], cam["fov"], cam["range_m"], cam["camera_type"])
            yield "camera", (*where, *view, installed, removed, "budget", priority)
            if rng.random() < 0.01:  # never reports
                year.n["never"] += 1
                continue
            a = local_midnight(installed).timestamp() if installed else year.begin
            a = a + rng.uniform(1, 8) * HOUR if a > year.begin else year.begin
            b = min(year.now, local_midnight(removed).timestamp()) if removed else year.now
            who: tuple[Any, ...] = ("camera", cam["id"], None, code, "", users[cm.district])
            yield from history(rng, year, who, priority, offline[site], (a, b, removed))
        for site, events in offline.items():  # a site task when its agent stays offline
            year.n["agent_outages"] += len(events)
            for s, e, _ in events:
                if e - s > RULES.site_grace:
                    who = ("site", None, site, cm.code, ",".join(members[site]), users[cm.district])
                    yield (
                        "repair_task",
                        _task(rng, year, who, "normal", "unknown", s, e, e < year.now),
                    )
        if (cm.index + 1) % 50 == 0 or cm.index + 1 == len(communes):
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
            print(f"  {cm.index + 1}/{len(communes)} communes, {year.rows['status_interval']:,} "
                  f"intervals, {year.rows['repair_task']:,} tasks, "
                  f"{time.perf_counter() - t0:.0f} s, RSS {rss:.0f} MB", flush=True)  # fmt: skip


def _spells(rng: random.Random, t0: float, t1: float, per_year: float,
            length: Callable[[], float], status: int) -> list[Spell]:  # fmt: skip
    """Spells of ``length()`` from a Poisson number of random times in ``[t0, t1)``."""
    out: list[Spell] = []
    limit, p = math.exp(-per_year * (t1 - t0) / YEAR), rng.random()
    while p > limit:  # Knuth's draw: fine for the small means used here
        s = rng.uniform(t0, t1)
        out.append((s, min(t1, s + length()), status))
        p *= rng.random()
    return out


def _timeline(t0: float, t1: float, spells: list[Spell]) -> list[list[Any]]:
    """Overlapping spells as ``[status, start, end]`` pieces of ``[t0, t1)``: highest wins."""
    edges = sorted(
        (x, d, st)
        for s, e, st in spells
        if min(e, t1) > max(s, t0)
        for x, d in ((max(s, t0), 1), (min(e, t1), -1))
    )
    active, at = [0, 0, 0, 0], t0  # spells in force per status, end of the pieces so far
    out: list[list[Any]] = []
    for x, d, st in [*edges, (t1, 0, OK)]:
        if x > at:
            top = next((k for k in (UNKNOWN, DOWN, DEGRADED) if active[k]), OK)
            if out and out[-1][0] == top:
                out[-1][2] = x
            else:
                out.append([top, at, x])
            at = x
        active[st] += d
    return out


def _dates(rng: random.Random, year: Year) -> tuple[date | None, date | None]:
    """12 % installed during the period, 3 % removed; the rest older (or never recorded)."""
    p, x = year.period, rng.random()
    during = p.first_day + timedelta(days=rng.randrange((p.last_day - p.first_day).days + 1))
    old = date(2019, 1, 1) + timedelta(days=rng.randrange(6 * 365)) if rng.random() < 0.7 else None
    if x < 0.12:
        year.n["installed"] += 1
        return during, None
    if x < 0.15:
        year.n["removed"] += 1
        return old, during
    return old, None


def history(rng: random.Random, year: Year, who: tuple[Any, ...], priority: str,
            offline: list[Spell], span: tuple[float, float, date | None]) -> Stream:  # fmt: skip
    """One camera's intervals over ``[a, b)`` and a task for each outage past the grace.

    Its agent's offline spells (unknown), ~3.5 short outages a year (down, 5 min to 8 h,
    log-uniform), ~1.5 degraded spells (2 to 72 h), 8 % of cameras a long outage (2 weeks
    to 5 months, some still down at the end).
    """
    a, b, removed = span
    if b <= a:
        return
    events = [e for e in offline if e[1] > a and e[0] < b]
    short = lambda: math.exp(rng.uniform(math.log(300), math.log(8 * HOUR)))  # noqa: E731
    events += _spells(rng, a, b, 3.5, short, DOWN)
    events += _spells(rng, a, b, 1.5, lambda: rng.uniform(2, 72) * HOUR, DEGRADED)
    if rng.random() < 0.08:
        s = rng.uniform(a, b)
        e = s + rng.uniform(14, 150) * DAY
        events.append((s, min(b, e), DOWN))
        year.n["long_outages"] += 1
        year.n["long_open"] += e >= b and removed is None
    spans = _timeline(a, b, events)
    for n, (prio, lo, hi) in enumerate(spans):
        faults, cause = FAULTS.get(prio, ("", None))
        end = None if n == len(spans) - 1 and removed is None else ts(hi)
        yield "status_interval", (who[1], STATUS[prio], faults, cause, ts(lo), end)
    failed, first_down = None, 0.0  # a run: from a down span to the next working one
    for prio, lo, hi in [*spans, [OK, b, b]]:  # b, b: the end (removed, or still broken)
        if prio == DOWN and failed is None:
            failed, first_down = lo, hi - lo
        elif prio in (OK, DEGRADED) and failed is not None:
            if first_down > RULES.grace.seconds("offline"):
                yield "repair_task", _task(rng, year, who, priority, "down", failed, lo, lo < b)
            failed = None


def _task(rng: random.Random, year: Year, who: tuple[Any, ...], priority: str, seen: str,
          failed: float, until: float, fixed: bool) -> Row:  # fmt: skip
    """A repair task: failed at ``failed``, working again (``fixed``) or removed at ``until``.

    ``who``: kind, camera, site, commune code, cameras (site tasks), assignee.
    """
    kind, cam, site, code, cams, user = who
    opened = failed + (RULES.site_grace if kind == "site" else RULES.grace.seconds("offline"))
    deadline = opened + RULES.sla_hours.hours(priority) * HOUR
    fixed_at = reported = closed = repair = None
    if fixed:  # the camera (or agent) worked again: verified, then closed
        fixed_at, repair = until, until - failed
        reported = until if until - failed > 2 * HOUR else None  # short ones heal themselves
        closed = until + rng.uniform(0.25, 48) * HOUR
        state = "closed" if closed < year.now else "verified"
        closed = closed if closed < year.now else None
    elif until < year.now:  # removed while broken
        state, closed = "closed", until
    else:
        state = rng.choice(OPEN_STATES)
    late = (fixed_at or closed or year.now) - deadline
    escalation = 0 if late <= 0 else 1 if late < 24 * HOUR else 2
    year.n["late"] += late > 0 and fixed
    year.n[f"{kind}_tasks"] += 1
    year.n["open_tasks"] += closed is None and fixed_at is None
    tid = next(year.tasks)
    return (tid, kind, cam, site, f"agent-{site}" if site else None, code, cams, state,
            "offline", seen, "", "unreachable" if kind == "camera" else None, "Mất kết nối",
            "Unreachable", priority, ts(failed), ts(opened), ts(deadline), user, escalation,
            ts(deadline) if escalation else None, _ts(reported), _ts(fixed_at), _ts(closed),
            repair, 0, ts(closed or fixed_at or opened))  # fmt: skip


def ts(t: float) -> datetime:
    """Epoch seconds -> aware UTC datetime."""
    return datetime.fromtimestamp(t, UTC)


def _ts(t: float | None) -> datetime | None:
    return None if t is None else ts(t)


def load(server: PostgresServer, db: str, communes: list[Commune], year: Year,
         seed: int) -> tuple[float, float]:  # fmt: skip
    """Create the schema, COPY the registry, stream the rest, vacuum; return the seconds."""
    t0, info = time.perf_counter(), server.conninfo(db)
    engine = make_engine(server.url(db))
    create_schema(engine)
    engine.dispose()
    with psycopg.connect(info) as conn, conn.cursor() as cur:
        for table, rows in registry(communes, year).items():
            with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            year.rows[table] += len(rows)
    with contextlib.ExitStack() as stack:  # exits in reverse: each COPY ends, then commits
        copies = {}
        for table in STREAMED:
            cur = stack.enter_context(stack.enter_context(psycopg.connect(info)).cursor())
            copies[table] = stack.enter_context(
                cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN")
            )
        for table, row in province(communes, year, random.Random(seed + 1)):
            copies[table].write_row(row)
            year.rows[table] += 1
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute("INSERT INTO task_event (task_id, at, kind, to_state, note) "
                     "SELECT id, opened_at, 'raised', 'open', '' FROM repair_task")  # fmt: skip
        conn.execute("INSERT INTO task_event (task_id, at, user_id, kind, from_state, to_state, "
                     "note) SELECT id, closed_at, assignee_id, 'state', 'verified', 'closed', "
                     "'' FROM repair_task WHERE closed_at IS NOT NULL")  # fmt: skip
        conn.execute("SELECT setval(pg_get_serial_sequence('repair_task', 'id'), "
                     "(SELECT max(id) FROM repair_task))")  # fmt: skip
        year.rows["task_event"] = conn.execute("SELECT count(*) FROM task_event").fetchall()[0][0]
        t1 = time.perf_counter()
        conn.execute("VACUUM ANALYZE")  # the steady state autovacuum keeps
    return t1 - t0, time.perf_counter() - t1
