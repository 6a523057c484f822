"""The probe against Debian's GStreamer RTSP server: H.264 and H.265, TCP and UDP, auth."""

from __future__ import annotations

import json
import logging

import pytest

from agent.probe import probe
from agent.rtsp import ProbeOptions
from tests.server_fixtures import GstRtspServer
from tests.server_fixtures import gst_rtsp_server as gst_rtsp_server

pytestmark = pytest.mark.gstreamer


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize(("mount", "codec"), [("/h264", "h264"), ("/h265", "h265")])
async def test_probe_reads_gstreamer_streams(
    gst_rtsp_server: GstRtspServer, mount: str, codec: str, transport: str
) -> None:
    gst_rtsp_server.require(mount)
    report = await probe(gst_rtsp_server.url(mount), ProbeOptions(timeout=8, transport=transport))
    assert report.cause is None, report.detail
    assert report.stream.codec == codec
    assert (report.stream.width, report.stream.height) == (640, 360)
    assert report.stream.fps is not None
    assert report.stream.fps == pytest.approx(15, rel=0.1)  # gst_rtsp.py serves 15 fps
    assert {"connect", "describe", "setup", "play", "keyframe", "decode_judge"} <= set(
        report.timings
    )


async def test_probe_authenticates_and_never_shows_the_password(
    gst_rtsp_server: GstRtspServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = gst_rtsp_server.url_with_credentials("/secure")
    bad = good.replace(gst_rtsp_server.password, "wrong-password")
    none = gst_rtsp_server.url("/secure")
    ok, wrong, missing = [
        await probe(u, ProbeOptions(timeout=8, transport="tcp")) for u in (good, bad, none)
    ]
    assert ok.cause is None, ok.detail
    assert wrong.cause == "auth_failed"
    assert missing.cause == "auth_failed"
    text = caplog.text + "".join(r.model_dump_json() for r in (ok, wrong, missing))
    assert gst_rtsp_server.password not in text
    assert "wrong-password" not in text
    assert json.loads(ok.model_dump_json())["url"] == none
