"""``camnet agent`` end to end against real RTSP servers: reports, history, metrics."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.config import AgentConfig, CameraConfig, Expected
from agent.daemon import run
from tests.conftest import free_port
from tests.server_fixtures import GstRtspServer
from tests.server_fixtures import gst_rtsp_server as gst_rtsp_server

pytestmark = pytest.mark.gstreamer


def site(tmp_path: Path, gst: GstRtspServer, **extra: Any) -> AgentConfig:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    cameras = [
        CameraConfig(id="cam-h264", url=gst.url("/h264")),
        CameraConfig(
            id="cam-secure",
            url=gst.url("/secure"),
            username=gst.user,
            password=SecretStr(gst.password),
            expected=Expected(width=1920, height=1080),
        ),
        CameraConfig(id="cam-dead", url=f"rtsp://127.0.0.1:{dead_port}/x"),
    ]
    return AgentConfig(
        agent_id="test-agent",
        commune="00127",
        timeout=8,
        state_dir=tmp_path / "state",
        reports=str(tmp_path / "reports.jsonl"),
        cameras=cameras,
        **extra,
    )


async def test_one_round_writes_a_report_per_camera(
    tmp_path: Path, gst_rtsp_server: GstRtspServer
) -> None:
    config = site(tmp_path, gst_rtsp_server)
    await run(config, once=True)
    text = (tmp_path / "reports.jsonl").read_text(encoding="utf-8")
    reports = {r["camera_id"]: r for r in map(json.loads, text.splitlines())}
    assert set(reports) == {"cam-h264", "cam-secure", "cam-dead"}
    assert reports["cam-h264"]["cause"] is None
    assert reports["cam-dead"]["cause"] == "unreachable"
    assert "low_resolution" in reports["cam-secure"]["faults"]  # 640x360 served, 1080p declared
    assert gst_rtsp_server.password not in text
    assert (tmp_path / "state" / "cam-h264" / "history.npz").exists()
    assert not (tmp_path / "state" / "cam-dead" / "history.npz").exists()


async def _get(port: int, path: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data.decode()


async def test_daemon_serves_metrics_and_stops_on_cancel(
    tmp_path: Path, gst_rtsp_server: GstRtspServer
) -> None:
    port = free_port()
    config = site(tmp_path, gst_rtsp_server, interval=1.0, metrics_port=port)
    task = asyncio.create_task(run(config))
    reports = tmp_path / "reports.jsonl"
    for _ in range(100):
        await asyncio.sleep(0.1)
        if reports.exists() and len(reports.read_text().splitlines()) >= 6:
            break
    page = await _get(port, "/metrics")
    assert "200 OK" in page
    assert 'camnet_agent_probes_total{cause="unreachable",status="down"}' in page
    assert "camnet_agent_probe_duration_seconds_count" in page
    last = {r["camera_id"]: r["status"] for r in map(json.loads, reports.read_text().splitlines())}
    down = sum(1 for status in last.values() if status == "down")
    assert f'camnet_agent_cameras{{status="down"}} {down}.0' in page
    assert "404" in await _get(port, "/")
    task.cancel()
    await task  # run() ends cleanly on cancellation (SIGTERM does the same)
    assert len(reports.read_text().splitlines()) >= 6  # probed again on the schedule
    with pytest.raises(ConnectionRefusedError):
        await _get(port, "/metrics")
