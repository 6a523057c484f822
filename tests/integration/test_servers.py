"""The test servers themselves: GStreamer interop with ffprobe, and each hostile kind.

The hostile tests talk to the servers with a raw asyncio socket, so they check the
servers, not our client; the probe's robustness tests build on these.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator

import pytest

from tests.server_fixtures import GstRtspServer, HostileFactory
from tests.server_fixtures import gst_rtsp_server as gst_rtsp_server  # fixture, found by name
from tests.server_fixtures import hostile_server as hostile_server  # fixture, found by name
from tests.servers import h264
from tests.servers.hostile import HostileServer

FFPROBE_TIMEOUT = 20.0


# --- GStreamer interoperability peer ---------------------------------------------------


def ffprobe(url: str, transport: str) -> subprocess.CompletedProcess[str]:
    """Run ffprobe on ``url`` over ``transport`` and return the finished process."""
    ffprobe_bin = shutil.which("ffprobe")
    if ffprobe_bin is None:
        pytest.skip("ffprobe not installed (Debian package ffmpeg)")
    command = [ffprobe_bin, "-v", "error", "-rtsp_transport", transport]
    command += ["-timeout", "5000000", "-select_streams", "v:0"]
    command += ["-show_entries", "stream=codec_name,width,height", "-of", "json", url]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=FFPROBE_TIMEOUT, check=False
    )


@pytest.mark.gstreamer
@pytest.mark.ffmpeg
@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize(("mount", "codec"), [("/h264", "h264"), ("/h265", "hevc")])
def test_ffprobe_reads_gstreamer_stream(
    gst_rtsp_server: GstRtspServer, mount: str, codec: str, transport: str
) -> None:
    gst_rtsp_server.require(mount)
    result = ffprobe(gst_rtsp_server.url(mount), transport)
    assert result.returncode == 0, result.stderr
    (stream,) = json.loads(result.stdout)["streams"]
    assert stream == {"codec_name": codec, "width": 640, "height": 360}


@pytest.mark.gstreamer
@pytest.mark.ffmpeg
def test_gstreamer_secure_mount_needs_credentials(gst_rtsp_server: GstRtspServer) -> None:
    refused = ffprobe(gst_rtsp_server.url("/secure"), "tcp")
    assert refused.returncode != 0
    assert "401" in refused.stderr
    allowed = ffprobe(gst_rtsp_server.url_with_credentials("/secure"), "tcp")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["streams"][0]["codec_name"] == "h264"


# --- hostile servers, through a raw socket client --------------------------------------


class RawClient:
    """Just enough RTSP client to check what a hostile server sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.cseq = 0

    async def request(self, method: str, url: str, **headers: str) -> None:
        """Send one request; header names use ``_`` for ``-``."""
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}"]
        lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def response(self, within: float = 2.0) -> tuple[str, dict[str, str], bytes]:
        """Read one complete response: status line, lower-cased headers, body."""
        async with asyncio.timeout(within):
            head = await self.reader.readuntil(b"\r\n\r\n")
            status, *lines = head.decode().split("\r\n")
            headers = {}
            for line in filter(None, lines):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    async def read_for(self, seconds: float, limit: int = 1 << 30) -> bytes:
        """Collect what arrives within ``seconds`` (at most ``limit`` bytes)."""
        data = bytearray()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while len(data) < limit and (chunk := await self.reader.read(65536)):
                    data += chunk
        return bytes(data)

    async def play(self, url: str) -> None:
        """Run OPTIONS, DESCRIBE, SETUP (TCP interleaved) and PLAY, checking each is 200."""
        steps: list[tuple[str, str, dict[str, str]]] = [
            ("OPTIONS", url, {}),
            ("DESCRIBE", url, {"Accept": "application/sdp"}),
            ("SETUP", f"{url}/trackID=0", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}),
            ("PLAY", url, {"Session": "4D1A2B3C", "Range": "npt=0.000-"}),
        ]
        for method, target, headers in steps:
            await self.request(method, target, **headers)
            status, answer, _ = await self.response()
            assert status == "RTSP/1.0 200 OK", (method, status)
            assert answer["cseq"] == str(self.cseq)


@contextlib.asynccontextmanager
async def raw_client(server: HostileServer) -> AsyncIterator[RawClient]:
    """Connect to ``server`` and close the socket on exit."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        yield RawClient(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def rtp_nal_types(data: bytes) -> list[int]:
    """NAL types of the RTP packets in an interleaved byte stream (FU-A: the inner type)."""
    types = []
    while len(data) >= 4 and data[0:1] == b"$":
        size = int.from_bytes(data[2:4], "big")
        if len(data) < 4 + size:
            break
        payload = data[4 + 12 : 4 + size]
        kind = payload[0] & 0x1F
        types.append(payload[1] & 0x1F if kind == 28 else kind)
        data = data[4 + size :]
    return types


async def wait_until_closed(server: HostileServer) -> None:
    """Wait (2 s at most) for the server to see every client connection gone."""
    async with asyncio.timeout(2.0):
        await server.idle.wait()


def test_h264_material_is_real() -> None:
    material = h264.h264_material()
    assert h264.nal_type(material.sps) == h264.NAL_SPS
    assert h264.nal_type(material.pps) == h264.NAL_PPS
    assert material.profile_level_id.startswith(("42", "4D", "64"))
    assert all(h264.nal_type(n) == h264.NAL_SLICE for f in material.non_idr_frames for n in f)
    assert base64.b64decode(material.sprop_parameter_sets.split(",")[0]) == material.sps


async def test_garbage(hostile_server: HostileFactory) -> None:
    srv = await hostile_server("garbage")
    async with raw_client(srv) as client:
        await client.request("OPTIONS", srv.url)
        data = await client.read_for(0.3)
    assert len(data) >= 16
    assert data[0] >= 0x80  # neither "RTSP" nor "$"
    assert srv.methods == ["OPTIONS"]
    assert srv.bytes_sent == len(data)


async def test_garbage_http(hostile_server: HostileFactory) -> None:
    srv = await hostile_server("garbage_http")
    async with raw_client(srv) as client:
        await client.request("OPTIONS", srv.url)
        status, headers, body = await client.response()
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "text/html"
    assert body.startswith(b"<html>")


async def test_no_reply(hostile_server: HostileFactory) -> None:
    srv = await hostile_server("no_reply")
    async with raw_client(srv) as client:
        await client.request("OPTIONS", srv.url)
        await client.request("DESCRIBE", srv.url)
        assert await client.read_for(0.5) == b""
    assert srv.methods == ["OPTIONS", "DESCRIBE"]
    await wait_until_closed(srv)
    assert srv.bytes_sent == 0


@pytest.mark.parametrize("kind", ["endless_header", "endless_header_lines"])
async def test_endless_header_is_endless_and_paced(
    hostile_server: HostileFactory, kind: str
) -> None:
    rate = 2_000_000
    srv = await hostile_server(kind, rate=rate)  # type: ignore[arg-type]
    async with raw_client(srv) as client:
        await client.request("OPTIONS", srv.url)
        started = time.monotonic()
        data = await client.read_for(1.0)
        elapsed = time.monotonic() - started
    assert data.startswith(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nX-Junk")
    assert b"\r\n\r\n" not in data  # the header block never ends
    if kind == "endless_header":
        assert data.count(b"\r\n") == 2  # ... and neither does its third line
    else:
        assert data.count(b"\r\n") > 1000
    assert 0.3 * rate * elapsed < len(data) < 1.5 * rate * elapsed + 64 * 1024
    await wait_until_closed(srv)  # the server noticed the client leaving
    sent = srv.bytes_sent
    await asyncio.sleep(0.1)
    assert srv.bytes_sent == sent


async def test_huge_sdp(hostile_server: HostileFactory) -> None:
    srv = await hostile_server("huge_sdp", rate=10_000_000)
    async with raw_client(srv) as client:
        await client.request("OPTIONS", srv.url)
        status, headers, _ = await client.response()
        assert status == "RTSP/1.0 200 OK"
        assert "DESCRIBE" in headers["public"]
        await client.request("DESCRIBE", srv.url, Accept="application/sdp")
        head = await client.reader.readuntil(b"\r\n\r\n")
        assert b"Content-Length: 50000000\r\n" in head
        body = await client.read_for(0.5)
    assert body.startswith(b"v=0\r\n")
    assert b"a=x-junk:" in body
    assert 1_000_000 < len(body) < 50_000_000
    await wait_until_closed(srv)


async def test_rtp_flood_no_keyframe(hostile_server: HostileFactory) -> None:
    srv = await hostile_server("rtp_flood_no_keyframe", rate=5_000_000)
    async with raw_client(srv) as client:
        await client.request("OPTIONS", srv.url)
        _, options, _ = await client.response()
        assert "PLAY" in options["public"]
        await client.request("DESCRIBE", srv.url)
        _, _, sdp = await client.response()
        assert b"sprop-parameter-sets=" in sdp
        await client.request(
            "SETUP", f"{srv.url}/trackID=0", Transport="RTP/AVP/TCP;interleaved=0-1"
        )
        _, setup, _ = await client.response()
        assert setup["transport"] == "RTP/AVP/TCP;unicast;interleaved=0-1"
        await client.request("PLAY", srv.url, Session=setup["session"].split(";")[0])
        status, _, _ = await client.response()
        assert status == "RTSP/1.0 200 OK"
        data = await client.read_for(0.5)
    types = rtp_nal_types(data)
    assert len(types) > 100
    assert set(types) == {h264.NAL_SLICE}
    await wait_until_closed(srv)
    assert srv.rtp_packets_sent >= len(types)


async def test_late_reply(hostile_server: HostileFactory) -> None:
    srv = await hostile_server("late_reply", delay=0.5)
    async with raw_client(srv) as client:
        await client.request("OPTIONS", srv.url)
        assert await client.read_for(0.3) == b""
        status, headers, _ = await client.response(within=1.0)
        assert (status, headers["cseq"]) == ("RTSP/1.0 200 OK", "1")
        assert await client.read_for(0.1) == b""  # connection kept open
        assert srv.open_connections == 1


@pytest.mark.parametrize("gap", [0.0, 0.05])
async def test_duplicate_reply(hostile_server: HostileFactory, gap: float) -> None:
    srv = await hostile_server("duplicate_reply", duplicate_gap=gap)
    async with raw_client(srv) as client:
        await client.request("OPTIONS", srv.url)
        first = await client.response()
        second = await client.response()
    assert first == second
    assert first[1]["cseq"] == "1"


@pytest.mark.parametrize("kind", ["no_video", "rtp_stops"])
async def test_media_stops(hostile_server: HostileFactory, kind: str) -> None:
    srv = await hostile_server(kind, rtp_packets=5)  # type: ignore[arg-type]
    async with raw_client(srv) as client:
        await client.play(srv.url)
        data = await client.read_for(0.4)
        await client.request("GET_PARAMETER", srv.url, Session="4D1A2B3C")
        status, _, _ = await client.response()  # still answering keepalives
    assert status == "RTSP/1.0 200 OK"
    expected = 0 if kind == "no_video" else 5
    assert rtp_nal_types(data) == [h264.NAL_SLICE] * expected
    assert srv.rtp_packets_sent == expected
    assert srv.methods == ["OPTIONS", "DESCRIBE", "SETUP", "PLAY", "GET_PARAMETER"]


async def test_close_aborts_clients_that_do_not_read() -> None:
    """Exit is bounded even when a client stops reading and the send buffer is full."""
    async with HostileServer("rtp_flood_no_keyframe", rate=None) as srv:
        reader, writer = await asyncio.open_connection(srv.host, srv.port)
        client = RawClient(reader, writer)
        await client.play(srv.url)
        await asyncio.sleep(0.2)  # the flood fills the socket buffers; nobody reads
        started = time.monotonic()
        await srv.close()
        assert time.monotonic() - started < 1.0
        assert srv.open_connections == 0
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        HostileServer("teapot")  # type: ignore[arg-type]
