"""Benchmark of coverage: a generated province (100 communes, 15,000 cameras) in a real DB.

``python -m benchmarks.coverage`` generates the province (each commune a 3 km cell of the
Red River delta: ``LAYOUT`` below), inserts it into SQLite (and PostgreSQL when its
binaries are present), times the full recompute (``load_province`` + every commune's
summary and gaps) and the incremental update after one camera changes state, and writes
the "Coverage" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, Point, box, mapping
from sqlalchemy import insert

from benchmarks.doc import replace_section
from benchmarks.probe import DOC, _machine, _verdict
from collector import models, store
from collector.db import create_schema, make_engine
from tests.db_fixtures import PostgresServer, find_bindir

TARGET_FULL_S, TARGET_INCREMENTAL_MS = 10.0, 50.0
CELL = 3000.0  # metres: a delta commune of ~9 km²
ORIGIN = (106.20, 20.35)  # lon, lat of the province's south-west corner (Thái Bình-like)
XY = tuple[float, float]
TYPES = (("bullet", 0.55), ("dome", 0.25), ("ptz", 0.10), ("fisheye", 0.10))


@dataclass
class Province:
    """Rows to insert, and a few figures describing what was generated."""

    communes: list[dict[str, Any]] = field(default_factory=list)
    cameras: list[dict[str, Any]] = field(default_factory=list)
    areas: list[dict[str, Any]] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)
    km: dict[str, float] = field(default_factory=dict)  # kind -> km of lines
    count: dict[str, int] = field(default_factory=dict)  # kind -> number of areas


def _lonlat(x: float, y: float) -> tuple[float, float]:
    """Local metres from the province origin -> (lon, lat) (equirectangular: a 30 km span)."""
    lat = ORIGIN[1] + y / 111_320.0
    lon = ORIGIN[0] + x / (111_320.0 * math.cos(math.radians(ORIGIN[1])))
    return round(lon, 7), round(lat, 7)


def _geojson(geom: Any) -> str:
    """The geometry (local metres) as GeoJSON text in WGS 84."""
    wgs = shapely.transform(geom, lambda xy: np.array([_lonlat(x, y) for x, y in xy]))
    return json.dumps(mapping(wgs), separators=(",", ":"))


def _wander(rng: random.Random, start: XY, heading: float, length: float, *, pull: float = 0.0,
            turn: float = 7.0, step: float = 50.0) -> list[XY]:  # fmt: skip
    """A road: steps of ``step`` m turning by ~``turn``°, pulled back towards ``heading``."""
    points, h = [start], heading
    for _ in range(max(2, int(length / step))):
        h += rng.gauss(0.0, turn) + pull * (heading - h)
        x, y = points[-1]
        points.append((x + step * math.sin(math.radians(h)), y + step * math.cos(math.radians(h))))
    return points


def _along(line: LineString, d: float) -> tuple[Point, float]:
    """Point at ``d`` m along ``line`` and the heading of the line there."""
    a, b = line.interpolate(max(0.0, d - 5.0)), line.interpolate(min(line.length, d + 5.0))
    return line.interpolate(d), math.degrees(math.atan2(b.x - a.x, b.y - a.y)) % 360.0


def _pieces(geom: Any) -> list[LineString]:
    """The line pieces of ``geom`` longer than 100 m (a clipped road may fall apart)."""
    parts = getattr(geom, "geoms", [geom])
    return [p for p in parts if isinstance(p, LineString) and p.length > 100.0]


def commune_layout(rng: random.Random, x0: float, y0: float) -> dict[str, list[Any]]:
    """One commune's key areas in local metres: roads, borders, hotspots, areas."""
    cell = box(x0, y0, x0 + CELL, y0 + CELL)
    start = (x0 - 100.0, y0 + CELL * rng.uniform(0.3, 0.7))
    main = _pieces(LineString(_wander(rng, start, 90.0, CELL * 1.3, pull=0.08)).intersection(cell))
    junctions: list[tuple[Point, float, float]] = []  # point, heading of main, of branch
    if rng.random() < 0.6:  # an inter-commune road crossing the first one, north to south
        start = (x0 + CELL * rng.uniform(0.25, 0.75), y0 + CELL + 100.0)
        cross = LineString(_wander(rng, start, 180.0, CELL * 1.3, pull=0.08))
        for at in getattr(cross.intersection(main[0]), "geoms", [cross.intersection(main[0])]):
            if isinstance(at, Point):
                junctions.append((at, _along(main[0], main[0].project(at))[1], 180.0))
        main += _pieces(cross.intersection(cell))
    roads: list[LineString] = list(main)
    for _ in range(rng.randint(6, 10)):  # a random tree of smaller main roads
        trunk = rng.choice(roads)
        d = rng.uniform(0.1, 0.9) * trunk.length
        p, h = _along(trunk, d)
        bh = h + rng.choice((-90.0, 90.0)) + rng.gauss(0.0, 15.0)
        branch = LineString(_wander(rng, (p.x, p.y), bh, rng.uniform(400.0, 1500.0), pull=0.05))
        pieces = _pieces(branch.intersection(cell))
        if pieces:
            roads += pieces[:1]
            junctions.append((p, h, bh))
    villages = []
    for road in roads[len(main) :]:  # villages grow along the branches
        p, _ = _along(road, road.length * rng.uniform(0.5, 0.9))
        villages.append(Point(p.x + rng.gauss(0, 60), p.y + rng.gauss(0, 60)))
    inner = cell.buffer(-20.0)
    edges = shapely.voronoi_polygons(MultiPoint(villages), extend_to=cell, only_edges=True)
    borders = [e for e in _pieces(edges.intersection(inner)) if e.length > 150.0]
    hotspots: list[Any] = [p for p, _, _ in junctions]
    m, _ = _along(main[0], main[0].length * rng.uniform(0.3, 0.7))
    hotspots.append(box(m.x + 8, m.y + 8, m.x + 48, m.y + 38))  # the market, beside the road
    hotspots += [Point(v.x + rng.gauss(0, 40), v.y + rng.gauss(0, 40)) for v in villages[:3]]
    areas = [box(v.x - 40, v.y - 30, v.x + 40, v.y + 30) for v in villages[:2]]
    return {"main_road": roads, "village_border": borders, "hotspot": hotspots, "area": areas,
            "_junctions": junctions, "_villages": villages}  # fmt: skip


def _camera_spot(rng: random.Random, layout: dict[str, list[Any]]) -> tuple[float, float, float]:
    """Where a camera is and where it looks: junctions 35 %, roads 50 %, villages 15 %."""
    r = rng.random()
    if r < 0.35 and layout["_junctions"]:
        p, h, bh = rng.choice(layout["_junctions"])
        look = rng.choice((h, h + 180.0, bh))
        return p.x + rng.gauss(0, 8), p.y + rng.gauss(0, 8), look + rng.gauss(0, 10)
    if r < 0.85:
        roads = layout["main_road"]
        road = rng.choices(roads, weights=[x.length for x in roads])[0]
        p, h = _along(road, rng.uniform(0.0, road.length))
        side = rng.choice((-1.0, 1.0)) * rng.uniform(3.0, 10.0)
        x = p.x + side * math.cos(math.radians(h))
        y = p.y - side * math.sin(math.radians(h))
        return x, y, h + rng.choice((0.0, 180.0)) + rng.gauss(0, 10)
    v = rng.choice(layout["_villages"])
    return v.x + rng.gauss(0, 50), v.y + rng.gauss(0, 50), rng.uniform(0, 360)


def _camera(
    rng: random.Random, cam_id: str, commune: str, spot: tuple[float, ...]
) -> dict[str, Any]:
    kind = rng.choices([t for t, _ in TYPES], weights=[w for _, w in TYPES])[0]
    lon, lat = _lonlat(spot[0], spot[1])
    fov = range_m = None
    if rng.random() < 0.5:  # the other half use the defaults of their type
        fov, range_m = {
            "bullet": (rng.uniform(70, 100), rng.uniform(40, 80)),
            "dome": (rng.uniform(90, 120), rng.uniform(20, 40)),
            "ptz": (rng.uniform(45, 65), rng.uniform(80, 150)),
            "fisheye": (360.0, rng.uniform(10, 20)),
        }[kind]
    heading = None if kind == "fisheye" else round(spot[2] % 360.0, 1)
    if rng.random() < 0.005:  # position never surveyed: counted, but cannot cover anything
        lon = lat = heading = None  # type: ignore[assignment]
    return {"id": cam_id, "commune_code": commune, "name": cam_id, "lat": lat, "lon": lon,
            "heading": heading, "fov": fov, "range_m": range_m, "camera_type": kind,
            "funding": "budget", "priority": "normal"}  # fmt: skip


def generate(communes: int, cameras: int, seed: int) -> Province:
    """Generate a province: ``communes`` cells on a square grid, ``cameras`` spread over them."""
    rng, prov = random.Random(seed), Province()
    side = math.ceil(math.sqrt(communes))
    sizes = [rng.uniform(0.6, 1.4) for _ in range(communes)]
    counts = [int(cameras * s / sum(sizes)) for s in sizes]
    for i in range(cameras - sum(counts)):
        counts[i % communes] += 1
    since = datetime.now(UTC) - timedelta(days=3)
    for c in range(communes):
        code = f"{27000 + c:05d}"
        prov.communes.append({"code": code, "name": f"Xã {c + 1}", "province_code": "34"})
        layout = commune_layout(rng, (c % side) * CELL, (c // side) * CELL)
        for kind in ("main_road", "village_border", "hotspot", "area"):
            for j, geom in enumerate(layout[kind]):
                weight = 2.0 if kind == "main_road" and j == 0 else 1.0
                weight = 3.0 if kind == "hotspot" and geom.geom_type == "Polygon" else weight
                prov.areas.append({"id": f"{code}-{kind}-{j}", "commune_code": code,
                                   "kind": kind, "name": "", "weight": weight,
                                   "geometry": _geojson(geom)})  # fmt: skip
                prov.count[kind] = prov.count.get(kind, 0) + 1
                prov.km[kind] = prov.km.get(kind, 0.0) + geom.length / 1000.0
        for k in range(counts[c]):
            cam = _camera(rng, f"cam-{code}-{k:04d}", code, _camera_spot(rng, layout))
            prov.cameras.append(cam)
            x = rng.random()  # 8 % down and 2 % never reported: broken; 4 % degraded
            if x >= 0.08 and x < 0.10:
                continue
            status = "down" if x < 0.08 else "degraded" if x < 0.14 else "ok"
            cause = "unreachable" if status == "down" else None
            prov.states.append({"camera_id": cam["id"], "status": status, "cause": cause,
                                "since": since, "faults": "", "pending_count": 0,
                                "pending_faults": ""})  # fmt: skip
    return prov


def seed_db(url: str, prov: Province) -> Any:
    """Create the schema and bulk-insert the province; return the engine."""
    engine = make_engine(url)
    create_schema(engine)
    tables: list[tuple[Any, list[dict[str, Any]]]] = [
        (models.Province, [{"code": "34", "name": "Tỉnh thử / benchmark province"}]),
        (models.Commune, prov.communes),
        (models.Camera, prov.cameras),
        (models.KeyArea, prov.areas),
        (store.STATE, prov.states),  # what load_province reads; no intervals needed
    ]
    with engine.begin() as conn:
        for table, rows in tables:
            for i in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[i : i + 5000])
    return engine


@dataclass
class Figures:
    """What one database gave: the full recompute rounds and the incremental updates."""

    db: str
    load_s: list[float]  # load_province per round
    full_s: list[float]  # load_province + every summary and gaps, per round
    update_ms: list[float]  # set_working + summary + gaps of the commune
    set_ms: list[float]  # set_working alone
    communes: int = 0
    gaps: dict[str, int] = field(default_factory=dict)
    covered: dict[str, float] = field(default_factory=dict)  # kind -> province fraction


def measure(engine: Any, db: str, rounds: int, changes: int, seed: int) -> Figures:
    """Time ``rounds`` full recomputes, then ``changes`` single-camera state changes."""
    from collector.coverage import load_province

    fig = Figures(db, [], [], [], [])
    covs: dict[str, Any] = {}
    for r in range(rounds):
        t0 = time.perf_counter()
        with engine.connect() as conn:
            covs = load_province(conn)
        t1 = time.perf_counter()
        gaps = [g for cov in covs.values() for g in cov.gaps()]
        summaries = [cov.summary() for cov in covs.values()]
        fig.load_s.append(t1 - t0)
        fig.full_s.append(time.perf_counter() - t0)
        print(f"  {db} round {r + 1}: load {t1 - t0:.2f} s, full {fig.full_s[-1]:.2f} s")
    fig.communes = len(covs)
    fig.gaps = {tag: sum(g.tag == tag for g in gaps) for tag in ("repairable", "no_camera")}
    for kind in summaries[0]:
        total = sum(s[kind].total for s in summaries)
        fig.covered[kind] = sum(s[kind].covered for s in summaries) / total if total else 0.0
    rng = random.Random(seed)
    for _ in range(changes):  # a random camera of a random commune flips its state
        cov = covs[rng.choice(sorted(covs))]
        cam = rng.choice(cov.cameras)
        t0 = time.perf_counter()
        cov.set_working(cam.id, not cam.working)
        t1 = time.perf_counter()
        cov.summary()
        cov.gaps()
        fig.set_ms.append((t1 - t0) * 1000)
        fig.update_ms.append((time.perf_counter() - t0) * 1000)
    return fig


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


INTRO = (
    "## Coverage\n\nFull recompute of coverage for a province (`collector.coverage."
    "load_province` + `summary()` and `gaps()` of every commune, from a real database) and "
    "the incremental update after one camera changes state (`CommuneCoverage.set_working`, "
    "then the commune's `summary()` and `gaps()` again, as the API would serve them; getting "
    "the change to the process holding the coverage is not timed here).\n"
)
LAYOUT = (
    "Each commune: a curving main road across it (60 %: a second one crossing it), a random "
    "tree of smaller roads branching off, villages along them whose Voronoi edges are the "
    "village borders, hotspots at junctions, a market and school gates, an area round two "
    "cultural houses; cameras 35 % at junctions, 50 % along roads looking along them, 15 % "
    "in villages; half with their own fov and range, the rest the defaults of their type."
)


def render(args: argparse.Namespace, prov: Province, rows: list[Figures], notes: list[str]) -> str:
    """Return the markdown section."""
    a, n = args, len(prov.cameras)
    statuses = [r["status"] for r in prov.states]
    types = ", ".join(f"{k} {sum(c['camera_type'] == k for c in prov.cameras) / n:.0%}"
                      for k, _ in TYPES)  # fmt: skip
    broken = (n - len(prov.states) + statuses.count("down")) / n
    c, km = prov.count, prov.km
    lines = [
        INTRO,
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {_machine()}; one process. Generated "
        f"province (seed {a.seed}): {len(prov.communes)} communes of {CELL / 1000:g} by "
        f"{CELL / 1000:g} km, {n:,} cameras ({types}; {broken:.0%} broken: down or never "
        f"reported; {statuses.count('degraded') / n:.0%} degraded), {len(prov.areas):,} key "
        f"areas: {c['main_road']:,} main roads ({km['main_road']:,.0f} km), "
        f"{c['village_border']:,} village borders ({km['village_border']:,.0f} km), "
        f"{c['hotspot']:,} hotspots, {c['area']} areas. {LAYOUT}\n",
        f"Reproduce: `python -m benchmarks.coverage --communes {a.communes} --cameras "
        f"{a.cameras} --db {a.db} --rounds {a.rounds} --changes {a.changes} --seed {a.seed}`\n",
        f"| database | communes | load_province s | full recompute s (median, max of {a.rounds}) "
        f"| update after one change ms (median / p95 / max of {a.changes}) "
        "| of which set_working ms (median / p95) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for f in rows:
        lines.append(
            f"| {f.db} | {f.communes} | {statistics.median(f.load_s):.2f} | "
            f"{statistics.median(f.full_s):.2f}, {max(f.full_s):.2f} | "
            f"{statistics.median(f.update_ms):.1f} / {_p(f.update_ms, 95):.1f} / "
            f"{max(f.update_ms):.1f} | {statistics.median(f.set_ms):.2f} / "
            f"{_p(f.set_ms, 95):.2f} |"
        )
    f = rows[0]
    seen = ", ".join(f"{k} {v:.1%}" for k, v in f.covered.items())
    lines.append(
        f"\nProvince coverage by working cameras: {seen}; gaps: "
        f"{f.gaps['repairable']:,} repairable, {f.gaps['no_camera']:,} no_camera.\n"
    )
    for f in rows:
        worst, p95, top = max(f.full_s), _p(f.update_ms, 95), max(f.update_ms)
        lines += [
            f"- {f.db}, full coverage for the province < {TARGET_FULL_S:g} s: {worst:.2f} s "
            f"(slowest round) — {_verdict(worst < TARGET_FULL_S)}.",
            f"- {f.db}, incremental update after one state change < {TARGET_INCREMENTAL_MS:g} "
            f"ms: p95 {p95:.1f} ms, max {top:.1f} ms — {_verdict(p95 < TARGET_INCREMENTAL_MS)}.",
        ]
    lines += notes
    return "\n".join(lines) + "\n"


def write_section(section: str, doc: Path = DOC) -> None:
    """Replace (or append) the '## Coverage' section of ``doc``, nothing else."""
    replace_section("Coverage", section, doc)


def main(argv: list[str] | None = None) -> int:
    """Run the coverage benchmark; print the section and write it into docs/benchmarks.md."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.coverage", description=__doc__)
    p.add_argument("--communes", type=int, default=100)
    p.add_argument("--cameras", type=int, default=15_000)
    p.add_argument("--db", choices=["both", "sqlite", "postgresql"], default="both")
    p.add_argument("--rounds", type=int, default=3, help="full recomputes")
    p.add_argument("--changes", type=int, default=1000, help="single state changes timed")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = p.parse_args(argv)
    prov = generate(args.communes, args.cameras, args.seed)
    print(f"generated {len(prov.cameras):,} cameras, {len(prov.areas):,} key areas", flush=True)
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    notes: list[str] = []
    if "postgresql" in dbs and find_bindir() is None:
        dbs.remove("postgresql")
        notes.append("- postgresql: not measured, no PostgreSQL binaries on this machine.")
    (work := Path(tempfile.mkdtemp(prefix="camnet-bench-cov-"))).chmod(0o755)  # for PG's user
    rows, servers = [], []
    try:
        for db in dbs:
            url = f"sqlite:///{work}/camnet.db"
            if db == "postgresql":
                servers.append(pg := PostgresServer(work / "pg"))
                pg.start()
                url = pg.url(pg.create_database("camnet_bench"))
            print(f"== {db}: inserting", flush=True)
            engine = seed_db(url, prov)
            try:
                rows.append(measure(engine, db, args.rounds, args.changes, args.seed))
            finally:
                engine.dispose()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    section = render(args, prov, rows, notes)
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
