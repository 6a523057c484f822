"""Disk per stored row: ``health_report`` and ``status_interval`` on PostgreSQL and SQLite.

``python -m benchmarks.storage [--rows 1000000]`` creates camnet's schema (Alembic, as
``camnet db upgrade``), inserts generated rows shaped like real ones (32-hex report ids,
``cam-NNNNNN`` cameras of a 150,000-camera province, 1,000 agents, ~7 % of reports down
or degraded with a cause or faults), and reports the bytes per row of table and indexes
(PostgreSQL: ``pg_relation_size`` / ``pg_indexes_size`` after ``VACUUM ANALYZE``; SQLite:
``dbstat``). docs/scale.md sizes a province's disk with these figures.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from benchmarks.doc import DOC, replace_section
from benchmarks.probe import _machine
from collector.db import create_schema, make_engine
from tests.db_fixtures import PostgresServer

#: One generated row per ``i`` (PostgreSQL ``generate_series`` and SQLite's recursive CTE).
HEALTH_SELECT = """
SELECT {md5} AS report_id,
       'cam-' || substr('000000' || (i % 150000), -6, 6) AS camera_id,
       'agent-' || (i % 1000) AS agent_id,
       {at} AS probed_at, {at} AS received_at,
       CASE WHEN i % 30 = 0 THEN 'down' WHEN i % 25 = 0 THEN 'degraded' ELSE 'ok' END,
       CASE WHEN i % 60 = 0 THEN 'unreachable' END,
       CASE WHEN i % 25 = 0 THEN 'blurred' ELSE '' END
"""
INTERVAL_SELECT = """
SELECT 'cam-' || substr('000000' || (i % 150000), -6, 6),
       CASE WHEN i % 3 = 0 THEN 'down' WHEN i % 3 = 1 THEN 'ok' ELSE 'degraded' END,
       CASE WHEN i % 3 = 0 THEN 'unreachable' END,
       CASE WHEN i % 3 = 2 THEN 'blurred' ELSE '' END,
       {at}, {at}
"""
HEALTH_COLS = "report_id, camera_id, agent_id, probed_at, received_at, status, cause, faults"
INTERVAL_COLS = 'camera_id, status, cause, faults, start, "end"'


def postgres(rows: int, work: Path) -> dict[str, tuple[float, float]]:
    """Bytes per row (table, indexes) of both tables on a PostgreSQL the test fixture runs."""
    server = PostgresServer(work / "pg")
    server.start()
    try:
        name = server.create_database("camnet_storage")
        engine = make_engine(server.url(name))
        create_schema(engine)
        engine.dispose()
        at = "now() - (i || ' s')::interval"
        with psycopg.connect(server.conninfo(name), autocommit=True) as conn:
            series = f" FROM generate_series(1, {rows}) AS i"
            health = HEALTH_SELECT.format(md5="md5(i::text)", at=at)
            conn.execute(f"INSERT INTO health_report ({HEALTH_COLS}) {health}{series}")
            interval = INTERVAL_SELECT.format(at=at)
            conn.execute(f"INSERT INTO status_interval ({INTERVAL_COLS}) {interval}{series}")
            conn.execute("VACUUM ANALYZE")
            out = {}
            for table in ("health_report", "status_interval"):
                size = f"SELECT pg_relation_size('{table}'), pg_indexes_size('{table}')"
                data, index = conn.execute(size).fetchone() or (0, 0)
                out[table] = (data / rows, index / rows)
            return out
    finally:
        server.stop()


def sqlite(rows: int, work: Path) -> dict[str, tuple[float, float]]:
    """Bytes per row (table, indexes) of both tables in a SQLite file (``dbstat``)."""
    path = work / "camnet.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    try:
        series = f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows})"
        at = "datetime('now', '-' || i || ' seconds')"
        md5 = "printf('%032x', i * 2654435761)"
        health = HEALTH_SELECT.format(md5=md5, at=at)
        conn.execute(f"INSERT INTO health_report ({HEALTH_COLS}) {series} {health} FROM s")
        interval = INTERVAL_SELECT.format(at=at)
        conn.execute(f"INSERT INTO status_interval ({INTERVAL_COLS}) {series} {interval} FROM s")
        conn.commit()
        conn.execute("VACUUM")
        out = {}
        for table in ("health_report", "status_interval"):
            data = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?", (table,))
            index = conn.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name IN "
                "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?)",
                (table,),
            )
            out[table] = ((data.fetchone()[0] or 0) / rows, (index.fetchone()[0] or 0) / rows)
        return out
    finally:
        conn.close()


def render(rows: int, figures: dict[str, dict[str, tuple[float, float]]], seconds: float) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Storage",
        "",
        "Disk per stored row of the two tables that grow with the fleet: `health_report` "
        "(every accepted report once, the deduplication key) and `status_interval` (the "
        "history the ratio, tasks and evaluation use). Generated rows shaped like real ones "
        "(see `benchmarks/storage.py`); PostgreSQL sizes after `VACUUM ANALYZE`, SQLite from "
        "`dbstat` after `VACUUM`.",
        "",
        f"{now}; {_machine()}; Python {platform.python_version()}, "
        f"PostgreSQL as the test fixture starts it, SQLite {sqlite3.sqlite_version}; "
        f"{rows:,} rows per table; run time {seconds:.0f} s.",
        "",
        f"Reproduce: `.venv/bin/python -m benchmarks.storage --rows {rows}`",
        "",
        "| database | table | table bytes/row | index bytes/row | total bytes/row |",
        "|---|---|---:|---:|---:|",
    ]
    for db, tables in figures.items():
        for table, (data, index) in tables.items():
            lines.append(f"| {db} | `{table}` | {data:.0f} | {index:.0f} | {data + index:.0f} |")
    pg = sum(figures["postgresql"]["health_report"])
    per_day = 150_000 * 1440 * pg / 1e9
    lines += [
        "",
        f"- A province (150,000 cameras, one probe a minute: 216 million reports a day) adds "
        f"{per_day:.0f} GB of `health_report` a day on PostgreSQL: reports must be pruned or "
        "partitioned by day (docs/scale.md).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure, print the section and write it into docs/benchmarks.md."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.storage", description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows per table")
    p.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    (work := Path(tempfile.mkdtemp(prefix="camnet-bench-storage-"))).chmod(0o755)
    try:
        figures = {"postgresql": postgres(args.rows, work), "sqlite": sqlite(args.rows, work)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    section = render(args.rows, figures, time.perf_counter() - t0)
    print(section)
    if not args.no_write:
        replace_section("Storage", section, DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
