"""``camnet evaluate``: the yearly evaluation as JSON, CSV, XLSX or PDF.

  camnet evaluate --year 2026                       JSON on stdout (all communes)
  camnet evaluate --year 2026 --format xlsx --out danh-gia-2026.xlsx --district 001
  camnet evaluate --year 2026 --format pdf --out bao-cao.pdf --commune 00001
  camnet evaluate --year 2026 --evidence chung-cu/   + the rows behind every figure
  camnet evaluate --rubric thang-diem.yaml --check-config

Each run is recorded (``evaluation_record``: SHA-256 and the JSON); the run says whether
the figures differ from the previous record of the same year, scope and rubric. Progress
goes to stderr, one line per step with its time. Exit codes: 0 done, 2 wrong input (a
rubric, period or scope problem, named with file, line and fix), 1 anything else.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from api.evaluation.compute import evaluate
from api.evaluation.period import PeriodError, period_for
from api.evaluation.result import record, to_json
from api.evaluation.rubric import Rubric
from collector.db import DEFAULT_URL, make_engine
from collector.yaml_rules import RulesError

FORMATS = ("json", "csv", "xlsx", "pdf")
BINARY = ("xlsx", "pdf")


def add_parser(sub: Any) -> None:
    """Register ``evaluate``."""
    p = sub.add_parser(
        "evaluate",
        help="yearly ANTT evaluation / đánh giá năm (JSON, CSV, XLSX, PDF)",
        description="Per-commune camera figures over the evaluation period (16/11 of the "
        "year before to 15/11), scored with a rubric. docs/evaluation.md",
    )
    p.add_argument("--year", type=int, help="the year the period ends in, e.g. 2026")
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument("--out", type=Path, help="output file (json/csv: stdout when left out)")
    p.add_argument("--db", help="database URL ($CAMNET_API_DB_URL)")
    p.add_argument("--rubric", type=Path, help="rubric YAML ($CAMNET_API_EVALUATION_RUBRIC)")
    p.add_argument("--period-start", help="first day DD/MM (default 16/11)")
    p.add_argument("--commune", action="append", default=[], help="5-digit code; repeat")
    p.add_argument("--district", help="3-digit district code")
    p.add_argument("--province", help="2-digit province code")
    p.add_argument("--evidence", type=Path, metavar="DIR", help="also export the rows used")
    p.add_argument("--no-record", action="store_true", help="do not record the result")
    p.add_argument("--check-config", action="store_true", help="check the rubric and exit")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=main)


def _fail(message: str) -> int:
    sys.stderr.write(f"camnet evaluate: {message}\n")
    return 2


def scope_of(conn: Connection, args: argparse.Namespace) -> tuple[list[str] | None, str]:
    """The commune codes asked for (None: all) and the scope's name."""
    from api.evaluation.figures import COMMUNE

    c = COMMUNE.c
    if args.commune:
        return sorted(set(args.commune)), "communes:" + ",".join(sorted(set(args.commune)))
    if args.district:
        codes = conn.scalars(select(c.code).where(c.district_code == args.district)).all()
        return list(codes), f"district:{args.district}"
    if args.province:
        codes = conn.scalars(select(c.code).where(c.province_code == args.province)).all()
        return list(codes), f"province:{args.province}"
    return None, "all"


class _Progress:
    """One stderr line as each step starts (``[###....] 3/7 status (1.2 s)``), then the total."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.t0 = quiet, time.perf_counter()

    def __call__(self, step: str, n: int, total: int) -> None:
        if not self.quiet:
            bar = "#" * n + "." * (total - n)
            spent = time.perf_counter() - self.t0
            sys.stderr.write(f"[{bar}] {n}/{total} {step} ({spent:.1f} s)\n")
            sys.stderr.flush()

    def done(self, what: str) -> None:
        if not self.quiet:
            sys.stderr.write(f"{what} ({time.perf_counter() - self.t0:.1f} s)\n")


def main(args: argparse.Namespace) -> int:
    """Run ``camnet evaluate``."""
    rubric_file = args.rubric or os.environ.get("CAMNET_API_EVALUATION_RUBRIC") or None
    try:
        rubric = Rubric.load(rubric_file)
    except RulesError as exc:
        return _fail(f"thang điểm sai / rubric problems:\n{exc}")
    if args.check_config:
        n = len(rubric.criteria)
        sys.stdout.write(f"Thang điểm / rubric {rubric.name} {rubric.version}: {n} tiêu chí, ok\n")
        return 0
    if args.year is None:
        return _fail("cần --year (ví dụ --year 2026) / --year is required")
    start = args.period_start or os.environ.get("CAMNET_API_EVALUATION_PERIOD_START", "16/11")
    try:
        period = period_for(args.year, start)
    except PeriodError as exc:
        return _fail(str(exc))
    if args.format in BINARY and args.out is None:
        return _fail(f"--format {args.format} cần --out FILE / needs --out FILE")
    engine = make_engine(args.db or os.environ.get("CAMNET_API_DB_URL", DEFAULT_URL))
    progress = _Progress(args.quiet)
    maps = None
    try:
        with engine.begin() as conn:
            scope, name = scope_of(conn, args)
            if scope == []:
                return _fail(f"không có xã nào trong phạm vi {name} / no commune in {name}")
            result = evaluate(conn, period, rubric, scope=scope, scope_name=name, progress=progress)
            if not args.no_record:
                record(conn, result, "cli")
            if args.evidence is not None:
                from api.evaluation.evidence import write_evidence

                args.evidence.mkdir(parents=True, exist_ok=True)
                write_evidence(conn, result, args.evidence)
            if args.format == "pdf":
                from api.evaluation.pdf_map import load_maps

                maps = load_maps(conn, result)
    finally:
        engine.dispose()
    _write(result, args, maps)
    progress.done(_summary(result))
    return 0


def _write(result: Any, args: argparse.Namespace, maps: Any) -> None:
    out: Path | None = args.out
    if args.format == "json":
        data = to_json(result)
        if out is None:
            sys.stdout.buffer.write(data)
        else:
            out.write_bytes(data)
    elif args.format == "csv":
        from api.evaluation.tables import write_csv

        if out is None:
            write_csv(result, sys.stdout)
        else:
            with out.open("w", encoding="utf-8", newline="") as fh:
                write_csv(result, fh)
    elif args.format == "xlsx":
        from api.evaluation.tables import write_xlsx

        write_xlsx(result, out)  # type: ignore[arg-type]
    else:
        from api.evaluation.pdf import write_pdf

        write_pdf(result, out, maps)  # type: ignore[arg-type]


def _summary(result: Any) -> str:
    change = {
        None: "lần đầu / first record",
        True: "KHÁC lần trước / CHANGED",
        False: "như lần trước / unchanged",
    }
    return (
        f"{len(result.communes)} xã, năm {result.period.year}: sha256 {result.sha256[:16]}… "
        f"({change[result.changed]})"
    )
