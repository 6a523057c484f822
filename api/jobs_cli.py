"""``camnet jobs``: repair tasks every tick and the daily roll-up (see docs/tasks.md).

  camnet jobs [--db URL] [--rules FILE]     run until SIGTERM / Ctrl-C
  camnet jobs --once [--db URL] [--rules FILE]
  camnet jobs --check-config [--db URL] [--rules FILE]

``--once`` runs one task tick and the roll-up, prints one line and exits 0 (1 when the
database failed). ``--check-config`` loads the settings and the rules, prints them and
exits 0, or prints every error (file, line, what to write instead) and exits 2.
Settings: environment ``CAMNET_JOBS_*`` (DB_URL, TICK_SECONDS, RULES_FILE, METRICS_HOST,
METRICS_PORT; 0 turns metrics off); the flags win over the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from argparse import RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any

from pydantic import ValidationError


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``camnet jobs`` to ``sub``."""
    parser = sub.add_parser(
        "jobs",
        help="nhiệm vụ sửa chữa, tổng hợp ngày / repair tasks and the daily roll-up",
        description=__doc__,
        formatter_class=RawDescriptionHelpFormatter,
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--once", action="store_true", help="one tick + roll-up, then exit")
    what.add_argument("--check-config", action="store_true", help="print the settings, exit")
    parser.add_argument("--db", metavar="URL", help="database URL ($CAMNET_JOBS_DB_URL)")
    parser.add_argument(
        "--rules", type=Path, metavar="FILE", help="YAML task rules ($CAMNET_JOBS_RULES_FILE)"
    )
    parser.set_defaults(handler=main_jobs)


def main_jobs(args: argparse.Namespace) -> int:
    """Handle ``camnet jobs``; return the exit code."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from api.jobs import Jobs, JobsMetrics, JobsSettings, run_jobs
    from api.task_rules import RulesError, TaskRules
    from collector.db import make_engine

    overrides = {"db_url": args.db, "rules_file": args.rules}
    try:
        settings = JobsSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        sys.stderr.write("Cấu hình sai / invalid settings (CAMNET_JOBS_* or flags):\n")
        for err in exc.errors():
            sys.stderr.write(f"  {'.'.join(map(str, err['loc']))}: {err['msg']}\n")
        return 2
    try:
        rules = TaskRules.load(settings.rules_file) if settings.rules_file else TaskRules()
    except RulesError as exc:
        sys.stderr.write(f"Tệp quy tắc sai / invalid rules file:\n{exc}\n")
        return 2
    if args.check_config:
        shown = settings.model_dump(mode="json")
        shown["db_url"] = make_url(settings.db_url).render_as_string(hide_password=True)
        sys.stdout.write(f"Cấu hình hợp lệ / settings OK: {json.dumps(shown)}\n")
        sys.stdout.write(f"Quy tắc / rules: {rules.model_dump_json()}\n")
        return 0
    logging.basicConfig(
        level=logging.WARNING if args.once else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    engine = make_engine(settings.db_url)
    try:
        if not inspect(engine).has_table("repair_task"):
            sys.stderr.write(
                f"{engine.url.render_as_string(hide_password=True)}: chưa có bảng nhiệm vụ / "
                "no repair_task table — run `camnet db upgrade --db URL` first\n"
            )
            return 2
        if not args.once:
            run_jobs(settings, rules, engine)
            return 0
        jobs = Jobs(engine, rules, JobsMetrics(), report_days=settings.report_days)
        result = jobs.run_tick()
        days = jobs.run_rollup()
        pruned = jobs.run_prune()
    finally:
        engine.dispose()
    rolled = "bỏ qua / skipped" if days is None else f"{days} ngày-xã / commune-days"
    rolled += f"; báo cáo cũ đã xoá / old reports deleted: {'?' if pruned is None else pruned}"
    if result is None:
        sys.stdout.write(f"tick thất bại / tick failed (see the log); roll-up: {rolled}\n")
        return 1
    sys.stdout.write(f"{result.summary()}; tổng hợp ngày / roll-up: {rolled}\n")
    return 0
