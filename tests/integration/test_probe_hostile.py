"""Every hostile or broken RTSP peer ends in its exact cause, within the deadline, bounded."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortsp.rtsp.connection import RTSPConnection
from aiortsp.rtsp.errors import RTSPTimeoutError

from agent.probe import probe
from agent.rtsp import GuardedConnection, ProbeOptions
from tests.server_fixtures import HostileFactory
from tests.server_fixtures import hostile_server as hostile_server

TCP = ProbeOptions(timeout=3.0, transport="tcp", rtp_idle=1.5)
SLACK = 1.0  # scheduling slack on a loaded 2-core CI machine


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Collect what reaches the event loop's exception handler (e.g. InvalidStateError)."""
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    yield errors
    loop.set_exception_handler(None)


@pytest.mark.parametrize(
    ("kind", "cause", "options"),
    [
        ("garbage", "rtsp_error", {}),
        ("garbage_http", "rtsp_error", {}),
        ("no_reply", "rtsp_timeout", {}),
        ("endless_header", "rtsp_error", {"rate": 5_000_000}),
        ("endless_header_lines", "rtsp_error", {"rate": 5_000_000}),
        ("huge_sdp", "rtsp_error", {"rate": None}),
        ("rtp_flood_no_keyframe", "no_keyframe", {"rate": None}),
        ("no_video", "no_video", {}),
        ("rtp_stops", "no_video", {}),
    ],
)
async def test_hostile_server_ends_in_its_cause_with_bounded_memory(
    hostile_server: HostileFactory, kind: str, cause: str, options: dict[str, Any]
) -> None:
    server = await hostile_server(kind, **options)  # type: ignore[arg-type]
    tracemalloc.start()
    try:
        report = await probe(server.url, TCP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.cause == cause, report.detail
    assert report.status == "down"
    assert report.timings["total"] <= TCP.timeout + SLACK
    assert peak < 8 * 1024 * 1024, f"{kind}: probe held {peak / 1e6:.1f} MB"


async def test_rtp_stopping_is_told_apart_from_never_starting(
    hostile_server: HostileFactory,
) -> None:
    never = await probe((await hostile_server("no_video")).url, TCP)
    stopped = await probe((await hostile_server("rtp_stops", rtp_packets=5)).url, TCP)
    assert "no RTP" in (never.detail or "")
    assert "stopped" in (stopped.detail or "")


async def test_duplicate_replies_are_ignored(hostile_server: HostileFactory) -> None:
    server = await hostile_server("duplicate_reply")
    report = await probe(server.url, TCP)
    assert report.cause not in ("rtsp_error", "rtsp_timeout"), report.detail
    assert server.methods[:1] == ["DESCRIBE"]


async def _late_reply_after_timeout(cls: type[RTSPConnection], url_port: int) -> None:
    conn = (
        cls("127.0.0.1", url_port, None, None)
        if cls is GuardedConnection
        else cls("127.0.0.1", url_port, timeout=5)
    )
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: conn, "127.0.0.1", url_port)
    try:
        with pytest.raises(RTSPTimeoutError):
            await conn.send_request("OPTIONS", f"rtsp://127.0.0.1:{url_port}/stream", timeout=0.3)
        await asyncio.sleep(1.0)  # the late reply arrives now, for a request that timed out
    finally:
        conn.close()


async def test_late_reply_does_not_crash_the_guarded_connection(
    hostile_server: HostileFactory, loop_errors: list[dict[str, Any]], caplog: Any
) -> None:
    server = await hostile_server("late_reply", delay=0.6)
    await _late_reply_after_timeout(GuardedConnection, server.port)
    assert not loop_errors
    assert "InvalidStateError" not in caplog.text


async def test_reply_to_a_timed_out_request_is_ignored() -> None:
    """The exact race of aiortsp 1.4: wait_for cancelled the request future, then its reply
    arrives before the request is forgotten. Plain aiortsp hits InvalidStateError, prints a
    traceback and declares the connection broken; the guarded one ignores the stale reply."""
    conn = GuardedConnection("127.0.0.1", 1, None, None)
    late: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    late.cancel()
    conn.active_requests[7] = late
    conn.data_received(b"RTSP/1.0 200 OK\r\nCSeq: 7\r\nContent-Length: 0\r\n\r\n")
    assert conn.failure is None
    assert not conn.result.done()  # the connection lives on

    plain = RTSPConnection("127.0.0.1", 1)
    plain.active_requests[7] = late
    plain.data_received(b"RTSP/1.0 200 OK\r\nCSeq: 7\r\nContent-Length: 0\r\n\r\n")
    error = plain.result.exception()  # plain aiortsp declares the whole connection broken
    assert isinstance(error.__cause__, asyncio.InvalidStateError)


@pytest.fixture
async def full_backlog() -> AsyncIterator[int]:
    """A port whose accept queue is full: the kernel drops new SYNs, so connect hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    await asyncio.sleep(0.1)
    yield port
    for s in fillers:
        s.close()
    listener.close()


async def test_connect_that_never_completes_is_timeout(full_backlog: int) -> None:
    report = await probe(f"rtsp://127.0.0.1:{full_backlog}/x", ProbeOptions(timeout=1.5))
    assert report.cause == "timeout", report.detail
    assert report.timings["total"] <= 1.5 + SLACK


async def test_refused_connection_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        report = await probe(f"rtsp://127.0.0.1:{port}/x", ProbeOptions(timeout=2))
    assert report.cause == "unreachable"


async def test_sdp_without_h264_or_h265_is_unsupported_codec() -> None:
    sdp = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 26\r\n"
    sdp += b"a=rtpmap:26 JPEG/90000\r\na=control:track1\r\n"

    handled = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await answer(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            handled.set()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while request := await reader.readuntil(b"\r\n\r\n"):
            cseq = next(
                line.split(b":")[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"cseq")
            )
            body = sdp if request.startswith(b"DESCRIBE") else b""
            head = b"RTSP/1.0 200 OK\r\nCSeq: " + cseq + b"\r\nPublic: OPTIONS, DESCRIBE\r\n"
            head += b"Content-Type: application/sdp\r\n" if body else b""
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        report = await probe(f"rtspt://127.0.0.1:{port}/mjpeg", ProbeOptions(timeout=3))
        await asyncio.wait_for(handled.wait(), 5)  # Python 3.11's wait_closed() does not wait
    finally:
        server.close()
        await server.wait_closed()
    assert report.cause == "unsupported_codec"
    assert "JPEG" in (report.detail or "")
