"""Benchmark of the API's reads on a province-sized PostgreSQL database.

``python -m benchmarks.api`` generates a province (a year of status intervals for 15,000
cameras, tasks, snapshots), COPYs it into a fresh PostgreSQL, times the daily roll-up, the
commune table and the camera page, and writes the "API queries" section of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from api import queries, rollup
from benchmarks.doc import replace_section
from benchmarks.probe import DOC, _machine, _verdict
from collector.db import create_schema, make_engine
from collector.ratio import VN, local_midnight, ratio_window
from tests.db_fixtures import PostgresServer

TARGET_DISTRICT_MS, TARGET_CAMERA_MS = 100.0, 50.0
UNKNOWN, DOWN, DEGRADED, OK = 3, 2, 1, 0  # which status wins where events overlap
STATUS = {UNKNOWN: "unknown", DOWN: "down", DEGRADED: "degraded", OK: "ok"}
FAULTS = {DOWN: ("", "unreachable"), DEGRADED: ("blurred", None)}  # others: ("", None)
HOUR, DAY, YEAR, HOUR_TD = 3600.0, 86400.0, 365 * 86400.0, timedelta(hours=1)
Event = tuple[float, float, int]  # start, end, priority
OPEN_STATES = ("open", "assigned", "in_progress", "reported_fixed")


@dataclass
class Province:
    """Rows to COPY, per table, and figures describing what was generated."""

    now: datetime
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    districts: dict[str, list[str]] = field(default_factory=dict)
    cameras: list[str] = field(default_factory=list)
    site_cameras: dict[str, str] = field(default_factory=dict)  # comma-separated
    long_outages: int = 0
    agent_outages: int = 0

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.rows.setdefault(table, []).append(row)


COLUMNS = {
    "province": "code, name",
    "district": "code, name, province_code",
    "commune": "code, name, province_code, district_code",
    "site": "id, commune_code, name, address, lat, lon",
    "agent": "id, site_id, commune_code, name",
    "camera": "id, commune_code, site_id, agent_id, name, lat, lon, camera_type, "
    "installed_on, removed_on, funding, priority",
    "status_interval": 'camera_id, status, faults, cause, start, "end"',
    "camera_state": "camera_id, status, faults, cause, since, pending_count, pending_faults, "
    "agent_id",
    "health_report": "report_id, camera_id, agent_id, probed_at, received_at, status, faults",
    "snapshot": "camera_id, report_id, taken_at, reason, width, height, jpeg",
    "app_user": "id, username, full_name, role, password_hash, district_code, phone, email, "
    "language, active, created_at",
    "repair_task": "id, kind, camera_id, site_id, commune_code, cameras, state, problem, "
    "status_seen, faults, diagnosis, diagnosis_en, priority, failed_at, opened_at, deadline, "
    "assignee_id, escalation, reopened, updated_at",
    "task_event": "task_id, at, user_id, kind, from_state, to_state, note",
}


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means used here."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k, p = k + 1, p * rng.random()
    return k


def _events(rng: random.Random, t0: float, t1: float, mean: float, dur: Callable[[], float],
            prio: int) -> list[Event]:  # fmt: skip
    """``Poisson(mean * span / year)`` events of duration ``dur()`` inside ``[t0, t1)``."""
    out = []
    for _ in range(_poisson(rng, mean * (t1 - t0) / YEAR)):
        s = rng.uniform(t0, t1)
        out.append((s, min(t1, s + dur()), prio))
    return out


def _timeline(t0: float, t1: float, events: list[Event]) -> list[list[Any]]:
    """Merge overlapping events (highest priority wins) into [status, start, end] spans."""
    points = sorted({t0, t1, *(s for s, _, _ in events), *(e for _, e, _ in events)})
    points = [p for p in points if t0 <= p <= t1]
    spans: list[list[Any]] = []
    for a, b in itertools.pairwise(points):
        mid = (a + b) / 2
        prio = max((p for s, e, p in events if s <= mid < e), default=OK)
        if spans and spans[-1][0] == prio:
            spans[-1][2] = b
        else:
            spans.append([prio, a, b])
    return spans


def generate(communes: int, cameras: int, seed: int, now: datetime) -> Province:
    """A province of ``communes`` (10 per district) and ``cameras``, one year of history."""
    rng, prov = random.Random(seed), Province(now)
    t_now = now.timestamp()
    prov.add("province", ("34", "Tỉnh thử / benchmark province"))
    sizes = [rng.uniform(0.6, 1.4) for _ in range(communes)]
    counts = [int(cameras * s / sum(sizes)) for s in sizes]
    for i in range(cameras - sum(counts)):
        counts[i % communes] += 1
    for c in range(communes):
        district, code = f"{300 + c // 10}", f"{28000 + c:05d}"
        if district not in prov.districts:
            prov.districts[district] = []
            prov.add("district", (district, f"Huyện {district}", "34"))
            prov.add("app_user", (len(prov.districts), f"kt{district}", f"Kỹ thuật {district}",
                                  "technician", "", district, "", "", "vi", True, now))  # fmt: skip
        prov.districts[district].append(code)
        prov.add("commune", (code, f"Xã {c + 1}", "34", district))
        lat0, lon0 = 20.3 + (c // 10) * 0.03, 106.2 + (c % 10) * 0.03
        sites = [f"site-{code}-{k}" for k in range(2)]  # two NVRs, an agent each
        offline = {}
        for site in sites:
            prov.add("site", (site, code, site, "", lat0, lon0))
            prov.add("agent", (f"agent-{site}", site, code, ""))
            # the agent (or the NVR's power, its 4G) is offline ~5 times a year, hours to days
            hours = lambda: rng.lognormvariate(math.log(5 * HOUR), 1.0)  # noqa: E731
            offline[site] = _events(rng, t_now - YEAR, t_now, 5.0, hours, UNKNOWN)
            prov.agent_outages += len(offline[site])
        for k in range(counts[c]):
            cam, site = f"cam-{code}-{k:04d}", sites[k % 2]
            prov.cameras.append(cam)
            prov.site_cameras[site] = f"{prov.site_cameras.get(site, '')},{cam}".lstrip(",")
            x = rng.random()
            installed = removed = None
            if x < 0.12:  # installed during the year
                installed = (now - timedelta(days=rng.uniform(1, 360))).astimezone(VN).date()
            elif x < 0.15:  # removed during the year
                removed = (now - timedelta(days=rng.uniform(1, 360))).astimezone(VN).date()
            lat, lon = round(lat0 + rng.uniform(0, 0.03), 6), round(lon0 + rng.uniform(0, 0.03), 6)
            priority = rng.choice(("normal",) * 6 + ("hotspot", "main_road"))
            prov.add("camera", (cam, code, site, f"agent-{site}", cam, lat, lon, "bullet",
                                installed, removed, "budget", priority))  # fmt: skip
            if rng.random() >= 0.01:  # 1 % never report
                t0 = max(t_now - YEAR, local_midnight(installed).timestamp() if installed else 0.0)
                t1 = min(t_now, local_midnight(removed).timestamp()) if removed else t_now
                t0 += rng.uniform(0, 6 * HOUR)
                history(prov, rng, (cam, code, site), offline[site], t0, t1, removed)
    for site, cams in prov.site_cameras.items():
        if rng.random() < 0.05:  # a few NVR sites offline now: a site task
            _task(prov, None, site, site[5:10], "open", now - timedelta(hours=5), 1, cams)
    return prov


def history(prov: Province, rng: random.Random, where: tuple[str, str, str],
            offline: list[Event], t0: float, t1: float, removed: date | None) -> None:  # fmt: skip
    """One camera's intervals over ``[t0, t1)``, its state, snapshots and tasks."""
    cam, code, site = where
    if t1 <= t0:
        return
    events = [e for e in offline if e[1] > t0 and e[0] < t1]
    events += _events(rng, t0, t1, 8.0, lambda: rng.uniform(0.2, 12) * HOUR, DOWN)
    events += _events(rng, t0, t1, 3.0, lambda: rng.uniform(2, 72) * HOUR, DEGRADED)
    if rng.random() < 0.10:  # a long outage of weeks (a broken camera waiting for parts)
        s = rng.uniform(t0, t1)
        events.append((s, min(t1, s + rng.uniform(7, 42) * DAY), DOWN))
        prov.long_outages += 1
    spans = _timeline(t0, t1, events)
    jpeg = b"\xff\xd8snapshot"
    for n, (prio, a, b) in enumerate(spans):
        last, (faults, cause) = (
            n == len(spans) - 1 and removed is None,
            FAULTS.get(prio, ("", None)),
        )
        end = None if last else ts(b)
        prov.add("status_interval", (cam, STATUS[prio], faults, cause, ts(a), end))
        if prio != UNKNOWN:
            prov.add("snapshot", (cam, f"s{cam}{n}", ts(a + 5), "status_change", 640, 360, jpeg))
    for d in range(1, 61):  # daily snapshots kept for 60 days
        at = prov.now.timestamp() - d * DAY
        if any(p != UNKNOWN and a <= at < b for p, a, b in spans[-8:]):
            prov.add("snapshot", (cam, f"d{cam}{d}", ts(at), "daily", 640, 360, jpeg))
    prio, since, _ = spans[-1]
    prov.add("camera_state", (cam, STATUS[prio], "", None, ts(since), 0, "", f"agent-{site}"))
    prov.add("health_report", (f"r{cam}", cam, f"agent-{site}", prov.now, prov.now,
                               STATUS[prio], ""))  # fmt: skip  # its last report
    user = len(prov.districts)  # the district's technician
    if prio == DOWN:  # an open task per camera down now; some overdue
        _task(prov, cam, None, code, rng.choice(OPEN_STATES), ts(since), user)
    for p, a, b in spans[:-1]:
        if p == DOWN and b - a > 2 * DAY:  # closed tasks for past long outages
            _task(prov, cam, None, code, "closed", ts(a), user)


def ts(t: float) -> datetime:
    """Epoch seconds -> aware UTC datetime."""
    return datetime.fromtimestamp(t, UTC)


def _task(prov: Province, cam: str | None, site: str | None, code: str, state: str,
          failed: datetime, user: int, cams: str = "") -> None:  # fmt: skip
    tid = len(prov.rows.get("repair_task", [])) + 1
    opened, deadline = failed + timedelta(minutes=10), failed + timedelta(days=2, minutes=10)
    prov.add("repair_task", (tid, "site" if site else "camera", cam, site, code, cams, state,
                             "offline", "down", "", "Mất kết nối", "Unreachable", "normal",
                             failed, opened, deadline, user, 0, 0, opened))  # fmt: skip
    prov.add("task_event", (tid, opened, None, "raised", None, "open", ""))
    if state != "open":
        prov.add("task_event", (tid, opened + HOUR_TD, user, "state", "open", state, "Đã nhận"))


def load(url: str, prov: Province) -> float:
    """Create the schema and COPY every table; return seconds."""
    t0 = time.perf_counter()
    engine = make_engine(url)
    create_schema(engine)
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        with pg.cursor() as cur:
            for table, columns in COLUMNS.items():
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in prov.rows.get(table, []):
                        copy.write_row(row)
        pg.commit()
    finally:
        raw.close()
        engine.dispose()
    return time.perf_counter() - t0


def _p(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


Timing = tuple[str, list[float], float | None]  # what, milliseconds per call, target p95


def measure(engine: Any, prov: Province, runs: int, cameras: int, seed: int) -> list[Timing]:
    """Time the API's reads, each call on its own pooled connection as a request would."""
    rng, now = random.Random(seed), prov.now
    district = lambda: prov.districts[rng.choice(sorted(prov.districts))]  # noqa: E731
    sample = iter(rng.sample(prov.cameras, cameras))

    def ms(fn: Callable[[Any], object], n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            with engine.connect() as conn:
                fn(conn)
            out.append((time.perf_counter() - t0) * 1000)
        return out

    ms(lambda c: queries.commune_table(c, None, now), 5)  # warm the pool and the caches
    return [
        (f"commune table, province ({sum(map(len, prov.districts.values()))} communes)",
         ms(lambda c: queries.commune_table(c, None, now), runs), None),
        ("commune table, one district (10 communes)",
         ms(lambda c: queries.commune_table(c, district(), now), runs), TARGET_DISTRICT_MS),
        ("camera page (`camera_detail`, 30-day timeline)",
         ms(lambda c: queries.camera_detail(c, next(sample), now), cameras), TARGET_CAMERA_MS),
        ("district trend, 365 days (`rollup.trend`)",
         ms(lambda c: rollup.trend(c, district(), 365, now), runs), None),
        ("district camera list (`cameras`)",
         ms(lambda c: queries.cameras(c, district(), now=now), runs), None),
        ("district open tasks (`tasks`)",
         ms(lambda c: queries.tasks(c, district(), now, open_only=True), runs), None),
    ]  # fmt: skip


def check(engine: Any, prov: Province) -> float:
    """Largest |uptime - ratio_window| over the 10 communes of a district (30 days)."""
    now, worst = prov.now, 0.0
    codes = prov.districts[min(prov.districts)]
    with engine.connect() as conn:
        rows = {r.code: r for r in queries.commune_table(conn, codes, now)}
        for code in codes:
            start = local_midnight(now.astimezone(VN).date() - timedelta(days=29))  # 30 local days
            ref = ratio_window(conn, start, now, commune=code, now=now)[code]
            worst = max(worst, abs((rows[code].uptime or 0.0) - (ref.ratio or 0.0)))
    return worst


def render(a: argparse.Namespace, prov: Province, build: dict[str, float],
           timings: list[Timing], error: float) -> str:  # fmt: skip
    """Return the markdown section."""
    n = {t: len(r) for t, r in prov.rows.items()}
    lines = [
        "## API queries\n",
        "What the dashboard and the API read (`api/queries.py`, `api/rollup.py`) on a "
        "province-sized PostgreSQL database, each call on its own pooled connection, as a "
        "request would.\n",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {_machine()}; PostgreSQL 15 as the test "
        "fixture starts it (default memory settings, fsync off), client on the same machine, "
        "other work running on it at the same time. "
        f"Generated province (seed {a.seed}): {a.communes} communes in {len(prov.districts)} "
        f"districts, two NVR sites (agents) per commune, {len(prov.cameras):,} cameras (12 % "
        "installed and 3 % removed during the year, 1 % never reporting); one year of status "
        f"intervals: {n['status_interval']:,} ({n['status_interval'] / len(prov.cameras):.0f} "
        "per camera): each camera ~8 short outages (down 12 min to 12 h) and ~3 degraded "
        "spells (2 to 72 h) a year, 10 % of cameras one long outage of 1 to 6 weeks "
        f"({prov.long_outages:,}), every agent offline ~5 times a year for hours to days "
        f"(unknown for all its cameras: {prov.agent_outages:,} agent outages); "
        f"{n['snapshot']:,} snapshot rows (one per status change, daily for 60 days; tiny "
        f"JPEGs: real ones live in TOAST), {n['repair_task']:,} repair tasks.\n",
        f"Reproduce: `.venv/bin/python -m benchmarks.api --communes {a.communes} --cameras "
        f"{a.cameras} --runs {a.runs} --camera-runs {a.camera_runs} --seed {a.seed}` "
        "(`make bench` runs it with every other benchmark).\n",
        f"Build: generate {build['generate']:.0f} s, schema + COPY {build['load']:.0f} s. "
        f"Daily roll-up (`rollup_days`): the first run, over the whole year, "
        f"{build['rollup_year']:.1f} s ({int(build['rows']):,} `commune_day` rows); the "
        f"nightly run after it (the last three days recomputed) {build['rollup_day']:.2f} s. "
        f"Then `VACUUM ANALYZE` ({build['vacuum']:.0f} s), the steady state autovacuum keeps.\n",
        "| query | calls | p50 ms | p95 ms | max ms | target p95 |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, ms, target in timings:
        lines.append(f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {_p(ms, 95):.1f} "
                     f"| {max(ms):.1f} | {f'< {target:g} ms' if target else ''} |")  # fmt: skip
    lines.append("")
    for label, ms, target in timings:
        if target:
            p95 = _p(ms, 95)
            lines.append(
                f"- {label}, p95 < {target:g} ms: {p95:.1f} ms — {_verdict(p95 < target)}."
            )
    lines.append(
        "- Uptime of the commune table (roll-up + today from the intervals) against "
        "`collector.ratio."
        "ratio_window` (the last 30 local days, the 10 communes of one district): "
        f"largest difference {error:.1e}."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the API benchmark; print the section and write it into docs/benchmarks.md."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.api", description=__doc__)
    p.add_argument("--communes", type=int, default=100)
    p.add_argument("--cameras", type=int, default=15_000)
    p.add_argument("--runs", type=int, default=60, help="calls per commune-table query")
    p.add_argument("--camera-runs", type=int, default=300, help="random cameras shown")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="leave the server running (debugging)")
    p.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = p.parse_args(argv)
    now, t0 = datetime.now(UTC).replace(microsecond=0), time.perf_counter()
    prov = generate(args.communes, args.cameras, args.seed, now)
    build = {"generate": time.perf_counter() - t0}
    print(", ".join(f"{t} {len(r):,}" for t, r in prov.rows.items()), flush=True)
    (work := Path(tempfile.mkdtemp(prefix="camnet-bench-api-"))).chmod(0o755)  # for PG's user
    server = PostgresServer(work / "pg")
    try:
        server.start()
        url = server.url(server.create_database("camnet_bench"))
        build["load"] = load(url, prov)
        engine = make_engine(url)
        try:
            for step, recompute in (("rollup_year", 3), ("rollup_day", 3)):
                t1 = time.perf_counter()
                build.setdefault("rows", rollup.rollup_days(engine, now, recompute))
                build[step] = time.perf_counter() - t1
            t1 = time.perf_counter()
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.execute(text("VACUUM ANALYZE"))
            build["vacuum"] = time.perf_counter() - t1
            print(build, flush=True)
            timings = measure(engine, prov, args.runs, args.camera_runs, args.seed)
            error = check(engine, prov)
        finally:
            engine.dispose()
    finally:
        if args.keep:
            print(f"server left running: {url}")
        else:
            server.stop()
            shutil.rmtree(work, ignore_errors=True)
    section = render(args, prov, build, timings, error)
    print(section)
    if not args.no_write:
        replace_section("API queries", section, DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
