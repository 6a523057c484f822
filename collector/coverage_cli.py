"""``camnet areas``, ``camnet coverage``, ``camnet placement``: key areas and what cameras see.

  camnet areas import FILE.geojson [--check] [--db URL]
  camnet areas export [--commune C] [--out FILE|-] [--db URL]
  camnet coverage (--commune C | --all) [--geojson OUT] [--min-gap M] [--json] [--db URL]
  camnet placement --commune C [-k 3] [--spacing 50] [--poles FILE.geojson]
                   [--fov 90] [--range 60] [--geojson OUT] [--json] [--db URL]

``areas import`` checks the whole file first: any error, every error is printed as
``file:line: features[i] (id).field: message — what to write instead`` and nothing is
written (exit 2); otherwise the areas are merged by id in one transaction (exit 0).
``coverage`` prints, per class of key area, how much working cameras see, and counts the
gaps (``repairable``: a broken camera would see it; ``no_camera``: none would); with
``--geojson`` it writes the gaps as a FeatureCollection. ``placement`` suggests where
``k`` new cameras would see the most of what is not seen yet (greedy, by weight). The
database is ``--db``, else ``$CAMNET_DB_URL``, else ``$CAMNET_COLLECTOR_DB_URL``, else
``sqlite:///var/camnet.db``. See docs/coverage.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from argparse import RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any

from shapely.geometry import mapping
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from collector import areas, coverage
from collector.areas_io import load_points
from collector.coverage import KINDS, CameraView, ClassCoverage, CommuneCoverage
from collector.db import DEFAULT_URL, create_schema, make_engine
from collector.errors import CollectorError, RegistryError
from collector.models import Commune
from collector.placement import Candidate, Suggestion, candidates_along_roads, suggest


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``camnet areas``, ``camnet coverage`` and ``camnet placement`` to ``sub``."""
    kw: dict[str, Any] = {"description": __doc__, "formatter_class": RawDescriptionHelpFormatter}
    area_p = sub.add_parser("areas", help="khu vực trọng điểm / import or export key areas", **kw)
    actions = area_p.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = actions.add_parser("import", help="kiểm tra rồi nhập / check, then import a file")
    imp.add_argument("file", type=Path, metavar="FILE", help="GeoJSON FeatureCollection")
    imp.add_argument("--check", action="store_true", help="check only, write nothing")
    exp = actions.add_parser("export", help="xuất từ cơ sở dữ liệu / export the database")
    exp.add_argument("--commune", metavar="CODE", help="only this commune (5 digits)")
    exp.add_argument("--out", default="-", metavar="FILE", help="output file, - for stdout")
    cov = sub.add_parser("coverage", help="độ phủ camera / coverage of key areas", **kw)
    which = cov.add_mutually_exclusive_group(required=True)
    which.add_argument("--commune", metavar="CODE", help="one commune (5 digits)")
    which.add_argument("--all", action="store_true", help="every commune (full recompute)")
    cov.add_argument("--min-gap", type=_positive, default=50.0, metavar="M", help="metres (50)")
    cov.add_argument("--sectors", action="store_true", help="--geojson: add the camera views")
    place = sub.add_parser("placement", help="gợi ý camera mới / suggest new cameras", **kw)
    place.add_argument("--commune", required=True, metavar="CODE", help="commune (5 digits)")
    place.add_argument("-k", type=_count, default=3, help="how many new cameras (3)")
    place.add_argument("--spacing", type=_positive, default=50.0, metavar="M", help="metres (50)")
    place.add_argument("--poles", type=Path, metavar="FILE", help="GeoJSON Points: the sites")
    place.add_argument("--fov", type=_positive, default=90.0, help="new cameras' view, ° (90)")
    place.add_argument("--range", dest="range_m", type=_positive, default=60.0, help="metres (60)")
    for p in (cov, place):
        p.add_argument("--geojson", type=Path, metavar="OUT", help="write a FeatureCollection")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    for p in (imp, exp, cov, place):
        p.add_argument("--db", metavar="URL", help="database URL (default: see above)")
    area_p.set_defaults(handler=main_areas)
    cov.set_defaults(handler=main_coverage)
    place.set_defaults(handler=main_placement)


def _positive(text: str) -> float:
    """An argparse type: a number above 0."""
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"phải > 0 / must be above 0: {text}")
    return value


def _count(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"phải ≥ 1 / must be at least 1: {text}")
    return value


def db_url(args: argparse.Namespace) -> str:
    """The database: ``--db``, ``$CAMNET_DB_URL``, ``$CAMNET_COLLECTOR_DB_URL``, default."""
    env = os.environ.get("CAMNET_DB_URL") or os.environ.get("CAMNET_COLLECTOR_DB_URL")
    url: str = args.db or env or DEFAULT_URL
    return url


def open_db(url: str) -> Engine | None:
    """An engine on ``url`` when that database exists and has the registry, else None."""
    path = url.split("///", 1)[1] if url.startswith("sqlite") and "///" in url else ""
    if path and path != ":memory:" and not Path(path).exists():
        return None
    engine = make_engine(url)
    if not inspect(engine).has_table("key_area"):
        engine.dispose()
        return None
    return engine


def print_errors(exc: RegistryError, what: str) -> int:
    """Print every error of ``exc`` after a header naming ``what``; return 2."""
    sys.stderr.write(f"{what}, chưa ghi gì / nothing written ({len(exc.errors)} lỗi / errors):\n")
    sys.stderr.writelines(f"  {error}\n" for error in exc.errors)
    return 2


def main_areas(args: argparse.Namespace) -> int:
    """Handle ``camnet areas``; return 0 (done), 1 (database error) or 2 (invalid file)."""
    url = db_url(args)
    try:
        if args.action == "import":
            return _import(args.file, url, check_only=args.check)
        return _export(args.commune, args.out, url)
    except RegistryError as exc:
        return print_errors(exc, "Khu vực trọng điểm sai / invalid key areas")
    except (CollectorError, SQLAlchemyError) as exc:
        sys.stderr.write(f"Lỗi cơ sở dữ liệu / database error: {exc}\n")
        return 1


def _import(path: Path, url: str, *, check_only: bool) -> int:
    entries = areas.load_areas(path)
    if check_only:
        engine = open_db(url)
        if engine is not None:
            try:
                with Session(engine) as session:
                    areas.check_communes(entries, areas.known_communes(session))
            finally:
                engine.dispose()
        against = "cùng cơ sở dữ liệu / with the database" if engine else "không có CSDL / no DB"
        sys.stdout.write(f"Khu vực hợp lệ / key areas OK ({against}): {len(entries)} areas\n")
        return 0
    engine = make_engine(url)
    try:
        create_schema(engine)
        summary = areas.import_areas(engine, entries)
    finally:
        engine.dispose()
    sys.stdout.write(summary.text() + "\n")
    return 0


def _export(commune: str | None, out: str, url: str) -> int:
    engine = open_db(url)
    if engine is None:
        sys.stderr.write(f"Chưa có cơ sở dữ liệu / no database at {url}: import first\n")
        return 1
    try:
        text = areas.export_areas(engine, commune)
    finally:
        engine.dispose()
    if out == "-":
        sys.stdout.write(text)
        return 0
    Path(out).write_text(text, encoding="utf-8")
    count = text.count('"type": "Feature",')
    sys.stderr.write(f"Đã xuất / exported {count} areas to {out}\n")
    return 0


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` as UTF-8 JSON (Vietnamese names kept readable)."""
    path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")


# -------------------------------------------------------------------------------- coverage

UNIT = {"hotspot": "trọng số / weight", "main_road": "m", "village_border": "m", "area": "m²"}


def _names(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return dict(session.exec(select(Commune.code, Commune.name)).all())


def _unknown(commune: str) -> int:
    sys.stderr.write(
        f"Không có xã / no commune {commune!r} in the database: "
        "nhập sổ camera trước / import the registry first (camnet registry import)\n"
    )
    return 2


def _report(cov: CommuneCoverage, name: str) -> dict[str, Any]:
    """The figures of one commune as plain data (``--json`` and the tables)."""
    working = sum(c.working for c in cov.cameras)
    gaps = cov.gaps()
    return {
        "commune": cov.commune,
        "name": name,
        "cameras": {"total": len(cov.cameras), "working": working, "not_placed": len(cov.skipped)},
        "classes": {k: _figures(c) for k, c in cov.summary().items()},
        "gaps": {tag: sum(g.tag == tag for g in gaps) for tag in ("repairable", "no_camera")},
    }


def _figures(c: ClassCoverage) -> dict[str, Any]:
    unit = UNIT[c.kind].split(" / ")[-1]
    return {"unit": unit, "total": c.total, "covered": c.covered, "fraction": c.fraction}


def _pct(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}"


def _commune_text(r: dict[str, Any]) -> str:
    cams, gaps = r["cameras"], r["gaps"]
    lines = [
        f"Độ phủ / coverage — xã / commune {r['commune']} {r['name']}".rstrip(),
        f"camera: {cams['working']} hoạt động / working of {cams['total']}; "
        f"{cams['not_placed']} thiếu vị trí hoặc hướng / without position or heading",
        f"{'lớp / class':<32} {'đơn vị / unit':<18} {'tổng / total':>15} "
        f"{'phủ / covered':>15} {'%':>6}",
    ]
    for kind, c in r["classes"].items():
        label, unit = f"{areas.KIND_VI[kind]} / {kind}", UNIT[kind]
        lines.append(
            f"{label:<32} {unit:<18} {c['total']:>15,.1f} {c['covered']:>15,.1f} "
            f"{_pct(c['fraction']):>6}"
        )
    lines.append(
        f"khoảng trống / gaps: {gaps['repairable']} sửa được / repairable, "
        f"{gaps['no_camera']} không có camera / no_camera"
    )
    return "\n".join(lines) + "\n"


def main_coverage(args: argparse.Namespace) -> int:
    """Handle ``camnet coverage``: 0 done, 1 no database, 2 unknown commune."""
    engine = open_db(db_url(args))
    if engine is None:
        sys.stderr.write(f"Chưa có cơ sở dữ liệu / no database at {db_url(args)}\n")
        return 1
    try:
        names = _names(engine)
        if args.commune and args.commune not in names:
            return _unknown(args.commune)
        t0 = time.perf_counter()
        with engine.connect() as conn:
            if args.all:
                covs = coverage.load_province(conn, min_gap_m=args.min_gap)
                sys.stderr.write(f"đã tải / loaded {len(covs)} communes in "
                                 f"{time.perf_counter() - t0:.1f} s\n")  # fmt: skip
            else:
                covs = {
                    args.commune: coverage.load_commune(conn, args.commune, min_gap_m=args.min_gap)
                }
    finally:
        engine.dispose()
    reports = []
    for n, (code, cov) in enumerate(sorted(covs.items()), 1):
        reports.append(_report(cov, names.get(code, "")))
        if args.all and (n % 10 == 0 or n == len(covs)):
            sys.stderr.write(f"  {n}/{len(covs)} communes, {time.perf_counter() - t0:.1f} s\n")
    if args.geojson:
        features = [f for cov in covs.values() for f in cov.to_geojson(args.sectors)["features"]]
        write_json(args.geojson, {"type": "FeatureCollection", "features": features})
        sys.stderr.write(f"Đã ghi / wrote {len(features)} features to {args.geojson}\n")
    if args.json:
        doc: Any = reports[0] if args.commune else {"communes": reports}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    elif args.commune:
        sys.stdout.write(_commune_text(reports[0]))
    else:
        sys.stdout.write(_province_text(reports))
    return 0


def _province_text(reports: list[dict[str, Any]]) -> str:
    kinds = "".join(f"{k + ' %':>17}" for k in KINDS)
    lines = [
        f"{'xã/commune':<10} {'camera ok/all':>13}{kinds} {'repairable':>11} {'no_camera':>10}"
    ]
    totals = {k: [0.0, 0.0] for k in KINDS}
    for r in reports:
        pcts = "".join(f"{_pct(r['classes'][k]['fraction']):>17}" for k in KINDS)
        cams, gaps = r["cameras"], r["gaps"]
        ok = f"{cams['working']}/{cams['total']}"
        lines.append(
            f"{r['commune']:<10} {ok:>13}{pcts} {gaps['repairable']:>11} {gaps['no_camera']:>10}"
        )
        for k in KINDS:
            totals[k][0] += r["classes"][k]["total"]
            totals[k][1] += r["classes"][k]["covered"]
    pcts = "".join(f"{_pct(c / t if t else None):>17}" for t, c in totals.values())
    lines.append(f"{'tỉnh / all':<10} {'':>13}{pcts}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- placement


def main_placement(args: argparse.Namespace) -> int:
    """Handle ``camnet placement``: 0 done, 1 no database, 2 unknown commune or bad poles."""
    try:
        poles = load_points(args.poles) if args.poles else None
    except RegistryError as exc:
        return print_errors(exc, "Danh sách cột sai / invalid poles file")
    engine = open_db(db_url(args))
    if engine is None:
        sys.stderr.write(f"Chưa có cơ sở dữ liệu / no database at {db_url(args)}\n")
        return 1
    try:
        if args.commune not in _names(engine):
            return _unknown(args.commune)
        with engine.connect() as conn:
            cov = coverage.load_commune(conn, args.commune)
    finally:
        engine.dispose()
    if poles is not None:
        sites = [Candidate(lon, lat, heads) for lon, lat, heads in poles]
        where = f"{len(sites)} cột / poles from {args.poles}"
    else:
        sites = candidates_along_roads(cov, args.spacing)
        where = (
            f"{len(sites)} điểm dọc đường chính / sites along main roads every {args.spacing:g} m"
        )
    picks = suggest(cov, args.k, sites, fov=args.fov, range_m=args.range_m)
    adds = _adds(cov, picks, args.fov, args.range_m)
    if args.geojson:
        write_json(args.geojson, _placement_geojson(cov, picks, args.fov, args.range_m))
    if args.json:
        doc = [{"rank": n, "lon": s.lon, "lat": s.lat, "heading": s.heading, "gain": s.gain,
                "gain_by_kind": s.gain_by_kind, "adds": a}
               for n, (s, a) in enumerate(zip(picks, adds, strict=True), 1)]  # fmt: skip
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return 0
    out = [
        f"Gợi ý {len(picks)} camera mới / {len(picks)} new cameras for commune {cov.commune} "
        f"(fov {args.fov:g}°, range {args.range_m:g} m; ứng viên / candidates: {where})",
        f"{'#':>2} {'lon':>11} {'lat':>10} {'hướng/heading':>13} {'lợi ích/gain':>12}  "
        "theo lớp / by class",
    ]
    for n, (s, a) in enumerate(zip(picks, adds, strict=True), 1):
        by = ", ".join(f"{k} {g:.3f}" for k, g in s.gain_by_kind.items() if g > 0)
        more = ", ".join(f"{k} +{v:,.1f} {UNIT[k].split(' / ')[-1]}" for k, v in a.items() if v)
        out.append(
            f"{n:>2} {s.lon:>11.6f} {s.lat:>10.6f} {s.heading:>12.1f}° {s.gain:>12.4f}  {by}"
        )
        out.append(f"{'':>3}thêm / adds: {more or '-'}")
    if not picks:
        out.append("không còn gì để phủ thêm / nothing left to gain from these candidates")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _adds(
    cov: CommuneCoverage, picks: list[Suggestion], fov: float, range_m: float
) -> list[dict[str, float]]:
    """What each pick adds to the summary (ground units), on top of the picks before it."""
    before = {k: c.covered for k, c in cov.summary().items()}
    out = []
    views = [CameraView(f"new-{n}", s.lon, s.lat, s.heading, fov, range_m)
             for n, s in enumerate(picks, 1)]  # fmt: skip
    for n in range(1, len(picks) + 1):
        after = CommuneCoverage(cov.commune, cov.cameras + views[:n], cov.areas, cov.min_gap_m)
        now = {k: c.covered for k, c in after.summary().items()}
        out.append({k: round(now[k] - before[k], 2) for k in KINDS})
        before = now
    return out


def _placement_geojson(
    cov: CommuneCoverage, picks: list[Suggestion], fov: float, range_m: float
) -> dict[str, Any]:
    """Each pick as a Point and its view as a Polygon (``feature``: camera / sector)."""
    features: list[dict[str, Any]] = []
    if picks:
        lon, lat = [s.lon for s in picks], [s.lat for s in picks]
        heads = [s.heading for s in picks]
        sec = cov.view_sectors(lon, lat, heads, [fov] * len(picks), [range_m] * len(picks))
        polygons = cov.projection.to_wgs84(sec.polygons)
        for n, (s, poly) in enumerate(zip(picks, polygons, strict=True), 1):
            props = {"rank": n, "heading": s.heading, "fov": fov, "range_m": range_m,
                     "gain": s.gain, "gain_by_kind": s.gain_by_kind}  # fmt: skip
            point = {"type": "Point", "coordinates": [s.lon, s.lat]}
            features.append({"type": "Feature", "geometry": point,
                             "properties": {"feature": "camera", **props}})  # fmt: skip
            features.append({"type": "Feature", "geometry": mapping(poly),
                             "properties": {"feature": "sector", "rank": n}})  # fmt: skip
    return {"type": "FeatureCollection", "features": features}
