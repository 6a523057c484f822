"""``camnet registry``: nhập / xuất sổ camera — import and export the official inventory.

  camnet registry import FILE [FILE ...] [--check] [--format F] [--db URL]
  camnet registry export [--format yaml|csv|geojson] [--table cameras|communes]
                         [--out FILE|-] [--db URL]
  camnet registry acl [--out FILE|-] [--db URL]

Import reads YAML, CSV and GeoJSON (by suffix, or ``--format``) and checks every file
first, together and against the database. Any error: all of them are printed as
``file:line: field: message — what to write instead`` and nothing is written (exit 2).
Otherwise every entry is merged by its code/id in one transaction (exit 0); a database
error writes nothing either (exit 1). ``--check`` only checks.

Export writes the database in a format import reads back unchanged; CSV and GeoJSON hold
the cameras only (CSV ``--table communes``: the communes). The database is ``--db``, else
``$CAMNET_DB_URL``, else ``$CAMNET_COLLECTOR_DB_URL``, else ``sqlite:///var/camnet.db``.

``acl`` writes mosquitto's ACL file for the registered agents (``collector.broker_acl``):
each agent, logged in with its agent id, may publish only under its own commune and id.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from collector.db import DEFAULT_URL, create_schema, make_engine
from collector.errors import CollectorError, RegistryError
from collector.registry import (
    KIND_VI,
    KINDS,
    check_registry,
    combine,
    import_registry,
    known_in_db,
)
from collector.registry_io import FORMATS, export_registry, load_registry


def add_parser(sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add ``camnet registry`` (with ``import`` and ``export``) to ``sub``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "registry",
        help="nhập/xuất sổ camera / import or export the camera registry",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = actions.add_parser("import", help="kiểm tra rồi nhập / check, then import files")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".yaml .csv .geojson")
    imp.add_argument("--check", action="store_true", help="check only, write nothing")
    imp.add_argument("--format", choices=FORMATS, help="file format (default: from the suffix)")
    exp = actions.add_parser("export", help="xuất từ cơ sở dữ liệu / export the database")
    exp.add_argument("--format", choices=FORMATS, default="yaml", help="default: yaml")
    exp.add_argument(
        "--table", choices=("cameras", "communes"), default="cameras", help="CSV: which list"
    )
    exp.add_argument("--out", default="-", metavar="FILE", help="output file, - for stdout")
    acl = actions.add_parser("acl", help="tệp ACL cho mosquitto / mosquitto ACL file")
    acl.add_argument("--out", default="-", metavar="FILE", help="output file, - for stdout")
    for action in (imp, exp, acl):
        action.add_argument("--db", metavar="URL", help="database URL (default: see above)")
    p.set_defaults(handler=main)
    return p


def main(args: argparse.Namespace) -> int:
    """Handle ``camnet registry``; return 0 (done), 1 (database error) or 2 (invalid)."""
    url = args.db or os.environ.get("CAMNET_DB_URL") or os.environ.get("CAMNET_COLLECTOR_DB_URL")
    url = url or DEFAULT_URL
    try:
        if args.action == "import":
            return _import(args.files, args.format, url, check_only=args.check)
        if args.action == "acl":
            return _acl(args.out, url)
        return _export(args.format, args.table, args.out, url)
    except RegistryError as exc:
        sys.stderr.write(
            f"Sổ camera sai, chưa ghi gì / invalid registry, nothing written "
            f"({len(exc.errors)} lỗi / errors):\n"
        )
        sys.stderr.writelines(f"  {error}\n" for error in exc.errors)
        return 2
    except (CollectorError, SQLAlchemyError) as exc:
        sys.stderr.write(f"Lỗi cơ sở dữ liệu / database error: {exc}\n")
        return 1


def _import(files: list[Path], fmt: str | None, url: str, *, check_only: bool) -> int:
    registries, errors = [], []
    for path in files:
        try:
            registries.append(load_registry(path, fmt))
        except RegistryError as exc:
            errors += exc.errors
    if errors:
        raise RegistryError(errors)
    registry = combine(registries)
    if check_only:
        known = _known(url)
        check_registry(registry, known)
        counts = ", ".join(f"{len(registry.entries(k))} {KIND_VI[k]}" for k in KINDS)
        against = "cùng cơ sở dữ liệu / with the database" if known else "không có CSDL / no DB"
        sys.stdout.write(f"Sổ camera hợp lệ / registry OK ({against}): {counts}\n")
        return 0
    engine = make_engine(url)
    try:
        create_schema(engine)
        summary = import_registry(engine, registry)
    finally:
        engine.dispose()
    sys.stdout.write(summary.text() + "\n")
    return 0


def _sqlite_file_missing(url: str) -> bool:
    path = url.split("///", 1)[1] if url.startswith("sqlite") and "///" in url else ""
    return bool(path) and path != ":memory:" and not Path(path).exists()


def _known(url: str) -> dict[str, set[str]] | None:
    """What the database already holds, or None when there is no database yet."""
    if _sqlite_file_missing(url):
        return None
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table("camera"):
            return None
        with Session(engine) as session:
            return known_in_db(session)
    finally:
        engine.dispose()


def _export(fmt: str, table: str, out: str, url: str) -> int:
    if _sqlite_file_missing(url):
        sys.stderr.write(f"Chưa có cơ sở dữ liệu / no database at {url}: import first\n")
        return 1
    engine = make_engine(url)
    try:
        text = export_registry(engine, fmt, table)
    finally:
        engine.dispose()
    if out == "-":
        sys.stdout.write(text)
        return 0
    # Excel opens a CSV as UTF-8 (Vietnamese names intact) only when it starts with a BOM.
    Path(out).write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
    sys.stderr.write(f"Đã xuất / exported {fmt} to {out}\n")
    return 0


def _acl(out: str, url: str) -> int:
    from collector.broker_acl import mosquitto_acl, registered_agents

    if _sqlite_file_missing(url):
        sys.stderr.write(f"Chưa có cơ sở dữ liệu / no database at {url}: import first\n")
        return 1
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            agents = registered_agents(conn)
    finally:
        engine.dispose()
    try:
        text = mosquitto_acl(agents)
    except ValueError as exc:
        sys.stderr.write(f"Không tạo được ACL / cannot write the ACL: {exc}\n")
        return 2
    if out == "-":
        sys.stdout.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")
        sys.stderr.write(f"ACL: {len(agents)} trạm biên / agents -> {out}\n")
    return 0
