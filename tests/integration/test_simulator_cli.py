"""``camnet simulate`` as a process: prints URLs, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from tests import simulator_fixtures as fx
from tests.conftest import free_port
from tests.simulator_fixtures import ffprobe

sim_cache_dir = fx.sim_cache_dir  # fixture, until conftest lists the plugin


async def test_cli_serves_and_stops_on_sigterm(sim_cache_dir: Path) -> None:
    base, control = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.simulator.cli",
        "--cameras",
        "1",
        "--width",
        "320",
        "--height",
        "180",
        "--base-port",
        str(base),
        "--control-port",
        str(control),
        "--cache",
        str(sim_cache_dir / "cli"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not any("Ctrl-C" in line for line in lines):
            raw = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert raw, "simulator exited early"
            lines.append(raw.decode())
        text = "".join(lines)
        assert f"rtsp://127.0.0.1:{base}/live" in text
        assert f"http://127.0.0.1:{control}/cameras" in text
        assert "Đang phát / serving" in text
        streams = await ffprobe(f"rtsp://127.0.0.1:{base}/live")
        assert streams[0]["codec_name"] == "h264"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, err.decode()
    assert "Đã dừng / stopped" in out.decode()


async def test_cli_reports_a_bad_scenario(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cameras: [{id: a, fps: 0}]\n", encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.simulator.cli",
        "--scenario",
        str(path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert str(path) in err.decode()
    assert "cameras.0.fps" in err.decode()
