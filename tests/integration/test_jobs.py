"""``camnet jobs`` as a process: ``--once``, ``--check-config``, and a clean stop on SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from api import jobs_cli
from api.tasks_flow import TASK
from collector import store
from collector.db import create_schema, make_engine
from collector.state import State
from tests import db_fixtures as dbf
from tests.collector_helpers import seed_registry
from tests.conftest import free_port

postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)

ROOT = Path(__file__).resolve().parents[2]
CAMNET = [sys.executable, "-m", "camnet_cli"]  # the installed `camnet` command


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """cam-1 down (no network) for an hour, as of the real clock."""
    eng = make_engine(db_url)
    create_schema(eng)
    seed_registry(eng, {"00001": ["cam-1", "cam-2"]})
    since = datetime.now(UTC) - timedelta(hours=1)
    with eng.begin() as conn:
        store.set_status_from(conn, "cam-1", since, "down", "", "unreachable")
        row = store.state_row("cam-1", State("down", since, "", "unreachable"), "agent-00001")
        store.upsert(conn, store.STATE, [row], "camera_id")
    yield eng
    eng.dispose()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CAMNET, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )


def count_tasks(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(TASK)) or 0)


def test_once_runs_one_tick_and_the_rollup(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    first = run("jobs", "--once", "--db", url)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "mới / raised 1," in lines[0]
    assert "roll-up" in lines[0]
    assert count_tasks(engine) == 1
    second = run("jobs", "--once", "--db", url)
    assert second.returncode == 0, second.stderr
    assert "mới / raised 0," in second.stdout
    assert count_tasks(engine) == 1


def test_once_without_tables_says_what_to_run(tmp_path: Path) -> None:
    done = run("jobs", "--once", "--db", f"sqlite:///{tmp_path}/empty.db")
    assert done.returncode == 2
    assert "camnet db upgrade" in done.stderr


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="camnet")
    jobs_cli.add_parser(parser.add_subparsers())
    return parser.parse_args(args)


def test_check_config_prints_settings_and_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "tasks.yaml"
    rules.write_text("verify_probes: 5\n")
    url = "postgresql+psycopg://camnet:secret@db/camnet"
    args = parse("jobs", "--check-config", "--db", url, "--rules", str(rules))
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert '"verify_probes":5' in out
    assert '"tick_seconds": 30.0' in out
    assert "secret" not in out


def test_check_config_names_the_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "tasks.yaml"
    rules.write_text("sla_hours:\n  hotspot: 24\n  hotspt: 12\n")
    args = parse("jobs", "--check-config", "--rules", str(rules))
    assert args.handler(args) == 2
    err = capsys.readouterr().err
    assert f"{rules}:3: sla_hours.hotspt" in err
    assert "main_road" in err  # the valid keys


def test_the_process_ticks_serves_metrics_and_stops_on_sigterm(engine: Engine) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CAMNET_JOBS_DB_URL": engine.url.render_as_string(hide_password=False),
        "CAMNET_JOBS_TICK_SECONDS": "0.2",
        "CAMNET_JOBS_METRICS_PORT": str(port),
    }
    proc = subprocess.Popen(
        [*CAMNET, "jobs"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        metrics = ""
        while time.monotonic() < deadline and 'event="raised"} 1.0' not in metrics:
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    metrics = r.read().decode()
            except OSError:
                continue
        assert 'camnet_jobs_tasks_total{event="raised"} 1.0' in metrics
        assert "camnet_jobs_tick_seconds_count" in metrics
        assert count_tasks(engine) == 1
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "camnet jobs stopped" in err
    assert count_tasks(engine) == 1  # many ticks, still one task


def add_reports(engine: Engine, ages_days: list[float]) -> None:
    now = datetime.now(UTC)
    rows = [
        {"report_id": f"{i:032x}", "camera_id": "cam-2", "agent_id": "agent-00001",
         "probed_at": now - timedelta(days=age), "received_at": now - timedelta(days=age),
         "status": "ok", "cause": None, "faults": ""}
        for i, age in enumerate(ages_days)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(store.HEALTH.insert(), rows)


def report_ages(engine: Engine) -> list[float]:
    now = datetime.now(UTC)
    with engine.connect() as conn:
        stamps = conn.scalars(select(store.HEALTH.c.probed_at)).all()
    return sorted(
        round((now - s.replace(tzinfo=s.tzinfo or UTC)).total_seconds() / 86400) for s in stamps
    )


def test_once_deletes_reports_older_than_the_kept_days(engine: Engine) -> None:
    add_reports(engine, [30, 20, 15, 13, 1])
    url = engine.url.render_as_string(hide_password=False)
    keep_all = run(
        "jobs", "--once", "--db", url, env={**os.environ, "CAMNET_JOBS_REPORT_DAYS": "0"}
    )
    assert keep_all.returncode == 0, keep_all.stderr
    assert "old reports deleted: 0" in keep_all.stdout
    assert report_ages(engine) == [1, 13, 15, 20, 30]
    done = run("jobs", "--once", "--db", url, env={**os.environ, "CAMNET_JOBS_REPORT_DAYS": "14"})
    assert done.returncode == 0, done.stderr
    assert "old reports deleted: 3" in done.stdout
    assert report_ages(engine) == [1, 13]


def test_prune_deletes_in_batches(engine: Engine) -> None:
    from api.prune import prune_reports

    add_reports(engine, [9, 8, 7, 6, 5, 0.25])
    assert prune_reports(engine, datetime.now(UTC) - timedelta(days=1), batch=2) == 5
    assert report_ages(engine) == [0]
    assert prune_reports(engine, datetime.now(UTC) - timedelta(days=1), batch=2) == 0
