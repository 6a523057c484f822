"""``camnet demo`` as a user runs it: a process that shows cameras breaking and working."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from collector import store
from collector.db import make_engine
from collector.models_ops import RepairTask
from tests.conftest import free_block

ALL_WORK = "working ratio: Xã A 4/4 (100 %) · Xã B 4/4 (100 %) · Xã C 4/4 (100 %)"


def broke_after_all_worked(lines: list[str]) -> bool:
    """All twelve cameras worked, then the script's black camera took commune A to 3/4."""
    first = next((i for i, line in enumerate(lines) if ALL_WORK in line), None)
    return first is not None and any("Xã A 3/4 (75 %)" in x for x in lines[first:])


def repaired_after_broke(lines: list[str]) -> bool:
    """...and the script's repairs brought commune A back to 4/4."""
    first = next((i for i, line in enumerate(lines) if ALL_WORK in line), None)
    if first is None:
        return False
    broke = next((i for i in range(first, len(lines)) if "Xã A 3/4 (75 %)" in lines[i]), None)
    return broke is not None and any("Xã A 4/4 (100 %)" in x for x in lines[broke:])


def task_raised(var: Path) -> bool:
    """Whether the demo's jobs raised a task for the scripted black camera."""
    engine = make_engine(f"sqlite:///{var / 'camnet.db'}")
    try:
        with engine.connect() as conn:
            return bool(
                conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(RepairTask.__table__)  # type: ignore[attr-defined]
                    .where(RepairTask.camera_id == "xa-a-cam-2")  # type: ignore[arg-type]
                )
            )
    except sa.exc.OperationalError:  # not created yet
        return False
    finally:
        engine.dispose()


def alert_logged(var: Path) -> bool:
    """Whether camnet alerts posted the black camera's camera_down to the demo webhook."""
    path = var / "alerts.jsonl"
    if not path.exists():
        return False
    notices = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return any(
        n["data"]["kind"] == "camera_down"
        and any(item["camera_id"] == "xa-a-cam-2" for item in n["data"]["items"])
        for n in notices
    )


@pytest.mark.timeout(240)  # a whole break-and-repair cycle of the script (~90 s) and stop
def test_demo_shows_live_reports_and_stops_cleanly(tmp_path: Path) -> None:
    # cameras on base-1 .. base+12, then metrics, MQTT and API: all below the ephemeral
    # range (in it, the demo's own connections could take a port before it listens)
    block = free_block(17)
    base = block + 1
    command = [sys.executable, "-m", "camnet_cli", "demo", "--interval", "3"]
    command += ["--base-port", str(base), "--metrics-port", str(block + 14)]
    command += ["--mqtt-port", str(block + 15)]
    api_port = block + 16
    command += ["--api-port", str(api_port)]
    command += ["--var", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    raw = b""
    login_page = b""
    lines: list[str] = []
    started = time.monotonic()
    deadline = started + 150
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                raw += os.read(fd, 65536)
                lines = raw.decode(errors="replace").splitlines()
            if (
                broke_after_all_worked(lines)
                and sum("✔" in x for x in lines) >= 8
                and task_raised(tmp_path)
                and alert_logged(tmp_path)
                and repaired_after_broke(lines)
            ):
                # the whole demo cycle, from the command to a repaired camera (target 2 min)
                sys.stdout.write(
                    f"demo: broke and repaired in {time.monotonic() - started:.0f} s\n"
                )
                login_page = urllib.request.urlopen(
                    f"http://127.0.0.1:{api_port}/login", timeout=10
                ).read()
                break
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    lines = (raw + out).decode(errors="replace").splitlines()
    text = "\n".join(lines)
    assert proc.returncode == 0, text
    assert "metrics" in text
    assert f"http://127.0.0.1:{api_port}/" in text  # the dashboard URL and a demo login
    assert "admin / camnet-demo" in text
    assert "Đăng nhập" in login_page.decode()
    assert "hình đen" in text, text  # the script blacks out xa-a-cam-2 after 15 s
    assert sum("✔" in line for line in lines) >= 8, text
    assert "Đã dừng / stopped." in text
    assert "🔔 cảnh báo / alert:" in text  # camnet alerts -> the demo's local webhook
    assert alert_logged(tmp_path)
    # the chain: agents → MQTT → collector → SQLite; the ratio follows the broken camera
    assert broke_after_all_worked(lines), text
    assert repaired_after_broke(lines), text
    assert time.monotonic() - started < 150
    engine = make_engine(f"sqlite:///{tmp_path / 'camnet.db'}")
    try:
        with engine.connect() as conn:
            stored = conn.scalar(sa.select(sa.func.count()).select_from(store.HEALTH))
            black = conn.scalar(
                sa.select(sa.func.count())
                .select_from(store.INTERVAL)
                .where(
                    store.INTERVAL.c.camera_id == "xa-a-cam-2", store.INTERVAL.c.status == "down"
                )
            )
    finally:
        engine.dispose()
    assert stored is not None
    assert stored >= 8
    assert black == 1
    # camnet jobs ran in the demo: the blacked-out camera got a repair task
    assert task_raised(tmp_path)
    reports = [json.loads(x) for x in (tmp_path / "reports.jsonl").read_text().splitlines()]
    assert {r["camera_id"] for r in reports} >= {"xa-a-cam-1", "xa-b-cam-4"}
    assert "camnet123" not in (tmp_path / "reports.jsonl").read_text()
