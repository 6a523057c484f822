"""Hostile RTSP servers, in-process on asyncio, to test that probes survive broken cameras.

Usage::

    async with HostileServer("garbage") as srv:
        await probe(srv.url)  # rtsp://127.0.0.1:PORT/stream
        assert srv.connections == 1

Kinds (``KINDS``):

- ``garbage``: answers every request with random binary bytes.
- ``garbage_http``: answers every request with an HTTP/1.1 response.
- ``no_reply``: reads requests forever, never answers.
- ``endless_header``: ``RTSP/1.0 200 OK``, ``CSeq``, then one header line that never ends.
- ``endless_header_lines``: the same, but endless complete header lines, never a blank one.
- ``huge_sdp``: OPTIONS fine; DESCRIBE announces ``Content-Length: 50000000`` and streams it.
- ``rtp_flood_no_keyframe``: correct dialogue (SETUP TCP interleaved), then after PLAY a
  flood of RTP carrying only non-IDR H.264 slices (NAL type 1), forever.
- ``late_reply``: answers each request only after ``delay`` seconds, keeps the connection.
  With ``delay`` equal to an in-process aiortsp 1.4 client's request timeout, the reply
  lands while the timed-out request's cancelled future is still registered and aiortsp
  raises InvalidStateError in ``data_received``; a longer delay is silently dropped.
- ``duplicate_reply``: answers each request twice with the same CSeq.
- ``no_video``: correct dialogue up to PLAY, then no RTP at all.
- ``rtp_stops``: correct dialogue, ``rtp_packets`` non-IDR RTP packets after PLAY, then none.

Every byte stream is paced at ``rate`` bytes/s (``None``: as fast as the socket drains)
and stops when the client disconnects or the context exits; the exit aborts every client
connection and awaits every handler task, so nothing is left running. Counters on the
object (``connections``, ``requests``, ``bytes_sent``, ``rtp_packets_sent``...) are for
assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import typing
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Literal, Self

from tests.servers import h264

Kind = Literal[
    "garbage",
    "garbage_http",
    "no_reply",
    "endless_header",
    "endless_header_lines",
    "huge_sdp",
    "rtp_flood_no_keyframe",
    "late_reply",
    "duplicate_reply",
    "no_video",
    "rtp_stops",
]
KINDS: tuple[Kind, ...] = typing.get_args(Kind)
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
SESSION = "4D1A2B3C"
CHUNK = 16 * 1024
_MEDIA_KINDS = ("rtp_flood_no_keyframe", "rtp_stops")


@dataclasses.dataclass(frozen=True)
class Request:
    """One request a client sent (header names lower-cased)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def cseq(self) -> str:
        """The CSeq header as sent, ``""`` when missing."""
        return self.headers.get("cseq", "")


def response(
    cseq: str, status: str = "200 OK", headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """Build one RTSP/1.0 response."""
    lines = [f"RTSP/1.0 {status}", f"CSeq: {cseq}", "Server: camnet-hostile"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Conn:
    """One client connection: request reader and paced writer."""

    def __init__(
        self, server: HostileServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.channel = 0  # interleaved RTP channel the client asked for in SETUP
        self._paced = 0
        self._started = asyncio.get_running_loop().time()

    async def read_request(self) -> Request | None:
        """Return the next request, skipping interleaved frames (RTCP); None on EOF."""
        try:
            while True:
                first = await self.reader.readexactly(1)
                if first in b"\r\n":
                    continue
                if first == b"$":
                    channel_and_size = await self.reader.readexactly(3)
                    size = int.from_bytes(channel_and_size[1:], "big")
                    await self.reader.readexactly(size)
                    self.server.bytes_received += 4 + size
                    continue
                head = first + await self.reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("utf-8", "replace").split("\r\n")
                headers = {}
                for line in header_lines:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await self.reader.readexactly(int(headers.get("content-length", "0")))
                self.server.bytes_received += len(head) + len(body)
                method, url, *_ = [*request_line.split(" "), "", ""]
                request = Request(method, url, headers, body)
                self.server.requests.append(request)
                return request
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None

    async def send(self, data: bytes, *, paced: bool = False) -> None:
        """Write and drain; with ``paced``, keep under ``server.rate`` bytes/s."""
        self.writer.write(data)
        self.server.bytes_sent += len(data)
        await self.writer.drain()
        rate = self.server.rate
        if not paced:
            return
        if rate is None:
            await asyncio.sleep(0)  # drain() does not yield while the buffer is low
            return
        self._paced += len(data)
        ahead = self._paced / rate - (asyncio.get_running_loop().time() - self._started)
        await asyncio.sleep(max(ahead, 0))

    async def send_forever(self, chunks: Callable[[], bytes]) -> None:
        """Send ``chunks()`` paced, until the client goes away or the task is cancelled."""
        while True:
            await self.send(chunks(), paced=True)


class HostileServer:
    """An RTSP server on 127.0.0.1 (free port) that misbehaves as ``kind`` says."""

    def __init__(
        self,
        kind: Kind,
        *,
        rate: float | None = 2_000_000,
        delay: float = 2.0,
        sdp_size: int = 50_000_000,
        rtp_packets: int = 5,
        duplicate_gap: float = 0.0,
        seed: int = 0,
        path: str = "/stream",
    ) -> None:
        """Configure the server; nothing listens before ``async with``.

        Args:
            kind: how to misbehave, one of ``KINDS``.
            rate: bytes/s for the endless/huge/flood streams; None for as fast as drained.
            delay: seconds ``late_reply`` waits before each answer.
            sdp_size: the announced and sent DESCRIBE body size for ``huge_sdp``.
            rtp_packets: RTP packets ``rtp_stops`` sends before going silent.
            duplicate_gap: seconds between the two copies of a ``duplicate_reply`` answer;
                0 sends both in one write, so a client sees them in one read.
            seed: seed of the ``garbage`` bytes.
            path: the stream path in ``url``.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        self.kind = kind
        self.rate = rate
        self.delay = delay
        self.sdp_size = sdp_size
        self.rtp_packets = rtp_packets
        self.duplicate_gap = duplicate_gap
        self.path = path
        self.host = "127.0.0.1"
        self.port = 0
        self.connections = 0
        self.open_connections = 0
        self.idle = asyncio.Event()  # set while no client is connected
        self.idle.set()
        self.requests: list[Request] = []
        self.bytes_sent = 0
        self.bytes_received = 0
        self.rtp_packets_sent = 0
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        handlers: dict[Kind, Callable[[_Conn], Awaitable[None]]] = {
            "garbage": self._garbage,
            "garbage_http": self._garbage_http,
            "no_reply": self._no_reply,
            "endless_header": self._endless_header,
            "endless_header_lines": self._endless_header,
            "huge_sdp": self._dialogue,
            "rtp_flood_no_keyframe": self._dialogue,
            "late_reply": self._late_reply,
            "duplicate_reply": self._duplicate_reply,
            "no_video": self._dialogue,
            "rtp_stops": self._dialogue,
        }
        self._handler = handlers[kind]

    @property
    def url(self) -> str:
        """The stream URL, ``rtsp://127.0.0.1:PORT/stream``."""
        return f"rtsp://{self.host}:{self.port}{self.path}"

    @property
    def methods(self) -> list[str]:
        """Methods of the requests received so far, in order."""
        return [r.method for r in self.requests]

    async def __aenter__(self) -> Self:
        h264.h264_material()  # encode now (cached per process), not in a timed dialogue
        self._server = await asyncio.start_server(self._on_connect, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop listening, abort every client connection and await every handler."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0)  # let handlers of just-accepted connections register
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self.open_connections += 1
        self.idle.clear()
        try:
            if not self._closing:
                await self._handler(_Conn(self, reader, writer))
        except ConnectionError:
            pass  # the client went away: the normal end of every hostile stream
        except asyncio.CancelledError:
            # Only close() cancels these tasks. Ending normally matters: on Python 3.11,
            # asyncio.streams calls task.exception() on the finished handler, which raises
            # for a cancelled task and gets logged as "Exception in callback".
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()  # close() would wait to flush to a client not reading
            self.open_connections -= 1
            if not self.open_connections:
                self.idle.set()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    # --- kinds -------------------------------------------------------------------------

    async def _garbage(self, conn: _Conn) -> None:
        while await conn.read_request() is not None:
            size = self._rng.randrange(16, 512)
            # First byte >= 0x80: never "R" (RTSP) nor "$" (interleaved), never UTF-8 text.
            await conn.send(bytes([0x80 | self._rng.randrange(128)]) + self._rng.randbytes(size))

    async def _garbage_http(self, conn: _Conn) -> None:
        body = b"<html><body><h1>Web admin</h1></body></html>"
        head = (
            "HTTP/1.1 200 OK\r\nServer: lighttpd/1.4\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        )
        while await conn.read_request() is not None:
            await conn.send(head.encode() + body)

    async def _no_reply(self, conn: _Conn) -> None:
        while await conn.read_request() is not None:
            pass

    async def _endless_header(self, conn: _Conn) -> None:
        request = await conn.read_request()
        if request is None:
            return
        await conn.send(f"RTSP/1.0 200 OK\r\nCSeq: {request.cseq}\r\n".encode())
        if self.kind == "endless_header":
            await conn.send(b"X-Junk: ")
            await conn.send_forever(lambda: b"a" * CHUNK)
        line_number = 0

        def lines() -> bytes:
            nonlocal line_number
            out = []
            for _ in range(CHUNK // 128):
                line_number += 1
                out.append(f"X-Junk-{line_number}: {'a' * 100}\r\n".encode())
            return b"".join(out)

        await conn.send_forever(lines)

    async def _late_reply(self, conn: _Conn) -> None:
        while (request := await conn.read_request()) is not None:
            await asyncio.sleep(self.delay)
            await conn.send(self._answer(conn, request))

    async def _duplicate_reply(self, conn: _Conn) -> None:
        while (request := await conn.read_request()) is not None:
            answer = self._answer(conn, request)
            if self.duplicate_gap <= 0:
                await conn.send(answer + answer)
                continue
            await conn.send(answer)
            await asyncio.sleep(self.duplicate_gap)
            await conn.send(answer)

    async def _dialogue(self, conn: _Conn) -> None:
        """A correct RTSP dialogue; the kind decides DESCRIBE's body and what follows PLAY."""
        media: asyncio.Task[None] | None = None
        try:
            while (request := await conn.read_request()) is not None:
                if self.kind == "huge_sdp" and request.method == "DESCRIBE":
                    await self._huge_describe(conn, request)
                    continue
                await conn.send(self._answer(conn, request))
                if request.method == "PLAY" and media is None and self.kind in _MEDIA_KINDS:
                    media = asyncio.create_task(self._stream(conn))
                if request.method == "TEARDOWN":
                    break
        finally:
            if media is not None:
                media.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await media

    async def _huge_describe(self, conn: _Conn, request: Request) -> None:
        head = response(
            request.cseq,
            headers={
                "Content-Base": f"{self.url}/",
                "Content-Type": "application/sdp",
                "Content-Length": str(self.sdp_size),
            },
        )
        await conn.send(head)
        line = b"a=x-junk:" + b"a" * 90 + b"\r\n"
        sent = 0
        pending = h264.sdp(h264.h264_material()).encode()  # valid, then junk attributes
        while sent < self.sdp_size:
            while len(pending) < CHUNK:
                pending += line
            chunk, pending = pending[: min(CHUNK, self.sdp_size - sent)], pending[CHUNK:]
            await conn.send(chunk, paced=True)
            sent += len(chunk)

    async def _stream(self, conn: _Conn) -> None:
        material = h264.h264_material()
        packetizer = h264.RtpPacketizer()
        budget = self.rtp_packets if self.kind == "rtp_stops" else None
        while True:
            for frame in material.non_idr_frames:
                for packet in packetizer.access_unit(frame):
                    if budget is not None and self.rtp_packets_sent >= budget:
                        return
                    await conn.send(h264.interleaved(conn.channel, packet), paced=True)
                    self.rtp_packets_sent += 1

    def _answer(self, conn: _Conn, request: Request) -> bytes:
        """The answer a well-behaved H.264 camera gives (TCP interleaved only)."""
        cseq, method = request.cseq, request.method
        session = {"Session": f"{SESSION};timeout=60"}
        if method == "OPTIONS":
            return response(cseq, headers={"Public": PUBLIC})
        if method == "DESCRIBE":
            body = h264.sdp(h264.h264_material()).encode()
            headers = {"Content-Base": f"{self.url}/", "Content-Type": "application/sdp"}
            return response(cseq, headers=headers, body=body)
        if method == "SETUP":
            transport = request.headers.get("transport", "")
            if "interleaved=" not in transport:
                return response(cseq, "461 Unsupported Transport")
            channels = transport.split("interleaved=", 1)[1].split(";", 1)[0]
            conn.channel = int(channels.split("-", 1)[0])
            session["Transport"] = f"RTP/AVP/TCP;unicast;interleaved={channels}"
            return response(cseq, headers=session)
        if method == "PLAY":
            session["RTP-Info"] = f"url={self.url}/trackID=0;seq=0;rtptime=0"
            session["Range"] = "npt=0.000-"
            return response(cseq, headers=session)
        if method in ("PAUSE", "TEARDOWN", "GET_PARAMETER", "SET_PARAMETER"):
            return response(cseq, headers=session)
        return response(cseq, "405 Method Not Allowed", headers={"Allow": PUBLIC})
