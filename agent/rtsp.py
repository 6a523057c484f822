"""The RTSP session of a probe, on aiortsp, ending in one exact cause.

aiortsp (1.4) gives the RTSP connection, its parser, Basic/Digest auth and the SDP parser.
This module adds what a probe of untrusted cameras needs on top of it:

* ``GuardedConnection``: aiortsp's ``data_received`` crashes with ``InvalidStateError`` when
  a reply arrives after its request timed out, or twice; it prints tracebacks on garbage and
  buffers an endless header without limit. The guarded version ignores stale and duplicate
  replies, bounds header size and turns garbage into ``rtsp_error``.
* ``fetch_keyframe``: DESCRIBE, SETUP (TCP-interleaved or UDP), PLAY, RTP until a whole
  keyframe, TEARDOWN — all within one deadline. No OPTIONS: a probe needs nothing it
  answers, and TEARDOWN is sent without waiting (closing the connection ends the session).
  Every third-party exception is mapped here to ``ProbeError`` with its cause.

aiortsp logs whole requests (Authorization included) at DEBUG; its logger here is pinned to
INFO so credentials never reach a log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from aiortsp.rtsp.connection import RTSPConnection
from aiortsp.rtsp.errors import RTSPConnectionError, RTSPResponseError, RTSPTimeoutError
from aiortsp.rtsp.parser import HTTPLikeMsg
from aiortsp.rtsp.sdp import SDP
from aiortsp.rtsp.session import sanitize_rtsp_url

from agent.depacketize import Codec
from agent.errors import ProbeError
from agent.messages import Cause
from agent.rtp import KeyframeCollector, UdpPair

log = logging.getLogger(__name__)
WIRE_LOG = logging.getLogger("camnet.agent.rtsp.wire")
WIRE_LOG.setLevel(logging.INFO)  # never DEBUG: aiortsp dumps Authorization headers there

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_LINES = 256
STATIC_AUDIO = {"0": "pcmu", "8": "pcma", "14": "mpa"}


@dataclass
class ProbeOptions:
    """How one probe behaves."""

    timeout: float = 10.0
    transport: str = "auto"  # auto: rtspt:// -> tcp, rtsp:// -> udp (aiortsp's convention)
    rtp_idle: float = 3.0  # no RTP for this long after PLAY (or since the last packet): no_video
    fps_window: float = 1.0  # after the keyframe, wait at most this long to measure fps


@dataclass
class Keyframe:
    """What the network part of a probe produced."""

    codec: Codec
    bitstream: bytes
    fps: float | None
    audio: str | None
    timings: dict[str, float] = field(default_factory=dict)


class GuardedConnection(RTSPConnection):  # type: ignore[misc]
    """aiortsp's connection, hardened against hostile or broken cameras."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None) -> None:
        super().__init__(host, port, username, password, logger=WIRE_LOG, timeout=60)
        self.failure: ProbeError | None = None
        self._rtp: dict[int, Callable[[bytes], None]] = {}
        self._carry = b""  # a partial interleaved frame waiting for its end

    def register_rtp(self, callback: Callable[[bytes], None]) -> int:
        """Register a handler of interleaved packets' bytes; return its channel."""
        channel: int = self.register_binary_handler(lambda b: callback(b.data))
        self._rtp[channel] = callback
        return channel

    def data_received(self, data: bytes) -> None:
        """Dispatch replies and interleaved RTP; fail cleanly on anything else.

        Interleaved frames at the front of a read are split here by walking an offset:
        aiortsp's parser copies the rest of the buffer for every frame, which grows with
        the square of the read size. Anything else goes through aiortsp's parser.
        """
        if self._carry:
            data, self._carry = self._carry + data, b""
        pos = self._split_interleaved(data)
        if pos < len(data):
            self._parse(data[pos:] if pos else data)

    def _split_interleaved(self, data: bytes) -> int:
        if self.parser.pending_msg is not None or self.parser._prev_data:
            return 0  # aiortsp is in the middle of a message: let it finish
        pos, end = 0, len(data)
        while pos < end and data[pos] == 0x24:  # '$'
            if pos + 4 > end:
                break
            stop = pos + 4 + ((data[pos + 2] << 8) | data[pos + 3])
            if stop > end:
                break
            handler = self._rtp.get(data[pos + 1])
            if handler is not None:
                handler(data[pos + 4 : stop])
            pos = stop
        if pos < end and data[pos] == 0x24:  # a frame cut by the read: wait for its end
            self._carry = data[pos:]
            return end
        return pos

    def _parse(self, data: bytes) -> None:
        try:
            for msg in self.parser.parse(data):
                if msg.type == "response":
                    fut = self.active_requests.get(msg.cseq)
                    if fut is not None and not fut.done():  # stale or duplicate: ignore
                        fut.set_result(msg)
                elif msg.type == "binary":
                    handler = self.binary_handlers.get(msg.id)
                    if handler is not None:
                        handler(msg)
                elif msg.type == "request":
                    self.on_request(msg)
            pending = self.parser.pending_msg
            if isinstance(pending, HTTPLikeMsg) and pending.headers is None:
                size = len(pending._untreated_data) + sum(
                    len(k) + len(v) for k, v in pending.headerlist
                )
                if size > MAX_HEADER_BYTES or len(pending.headerlist) > MAX_HEADER_LINES:
                    self.fail(ProbeError("rtsp_error", "reply header too long"))
        except Exception as exc:  # noqa: BLE001 - any parser failure is the camera's garbage
            self.fail(
                ProbeError("rtsp_error", f"unparsable reply from camera ({type(exc).__name__})")
            )

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail pending requests; never leave an unretrieved future behind."""
        del exc  # the cause is in self.failure when it matters
        self._transport = None
        error = self.failure or ProbeError("rtsp_error", "camera closed the connection")
        for fut in self.active_requests.values():
            if not fut.done():
                fut.set_exception(error)

    def fail(self, error: ProbeError) -> None:
        """Record the first failure, fail pending requests and close the socket."""
        if self.failure is None:
            self.failure = error
        for fut in self.active_requests.values():
            if not fut.done():
                fut.set_exception(error)
        if self._transport is not None:
            self._transport.close()


async def request(
    conn: GuardedConnection, method: str, url: str, budget: float, headers: dict[str, Any]
) -> Any:
    """Send one RTSP request and map every failure to a ``ProbeError``."""
    if conn.failure is not None:
        raise conn.failure
    if not conn.running:
        raise ProbeError("rtsp_error", f"camera closed the connection before {method}")
    if budget <= 0:
        raise ProbeError("rtsp_timeout", f"no time left for {method}")
    try:
        return await conn.send_request(method, url, headers=dict(headers), timeout=budget)
    except RTSPResponseError as exc:
        status = exc.response.status if exc.response is not None else None
        causes: dict[int, Cause] = {401: "auth_failed", 404: "not_found"}
        cause: Cause = causes.get(status or 0, "rtsp_error")
        raise ProbeError(cause, f"{method} answered {status}") from exc
    except RTSPTimeoutError as exc:
        raise ProbeError("rtsp_timeout", f"no answer to {method} in time") from exc
    except RTSPConnectionError as exc:
        raise ProbeError("rtsp_error", f"connection lost during {method}") from exc


def send_and_forget(
    conn: GuardedConnection, method: str, url: str, headers: dict[str, Any]
) -> None:
    """Send a request without waiting for its answer (TEARDOWN before closing)."""
    if not conn.running:
        return
    headers = dict(headers)
    if conn._auth is not None:
        conn._auth.make_auth(method, url, headers)
    conn.send_message(f"{method} {url} RTSP/1.0", conn._next_seq(), headers)


def _video_codec(media: dict[str, Any]) -> Codec | None:
    encoding = str(media.get("attributes", {}).get("rtpmap", {}).get("encoding", "")).upper()
    return {"H264": "h264", "H265": "h265", "HEVC": "h265"}.get(encoding)  # type: ignore[return-value]


def _audio_codec(sdp: SDP) -> str | None:
    media = sdp.get_media("audio")
    if media is None:
        return None
    rtpmap = media.get("attributes", {}).get("rtpmap")
    if isinstance(rtpmap, dict) and rtpmap.get("encoding"):
        return str(rtpmap["encoding"]).lower()
    fmt = str(media.get("format", "")).split()[0] if media.get("format") else ""
    return STATIC_AUDIO.get(fmt, "unknown")


def _sprop_nals(codec: Codec, fmtp: dict[str, Any]) -> list[bytes]:
    keys = ["sprop-parameter-sets"] if codec == "h264" else ["sprop-vps", "sprop-sps", "sprop-pps"]
    nals: list[bytes] = []
    for key in keys:
        for part in str(fmtp.get(key, "")).split(","):
            with contextlib.suppress(binascii.Error, ValueError):
                if part.strip():
                    nals.append(base64.b64decode(part.strip() + "=" * (-len(part.strip()) % 4)))
    return nals


def _parse_sdp(text: str) -> SDP:
    try:
        return SDP(text)
    except Exception as exc:  # aiortsp's regex parser may raise anything
        raise ProbeError("rtsp_error", "SDP could not be parsed") from exc


async def fetch_keyframe(url: str, options: ProbeOptions, deadline: float) -> Keyframe:
    """Run the RTSP session for ``url`` until one whole keyframe, before ``deadline``.

    ``deadline`` is an event-loop time. Raises ``ProbeError`` with the exact cause.
    """
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    if parts.scheme not in ("rtsp", "rtspt") or not parts.hostname:
        raise ProbeError("rtsp_error", "URL must be rtsp://host[:port]/path or rtspt://...")
    tcp = options.transport == "tcp" or (options.transport == "auto" and parts.scheme == "rtspt")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    base_url = sanitize_rtsp_url(url)
    timings: dict[str, float] = {}
    t0 = loop.time()

    def left() -> float:
        return deadline - loop.time()

    def mark(step: str) -> None:
        timings[step] = round(loop.time() - t0 - sum(timings.values()), 4)

    conn = GuardedConnection(parts.hostname, parts.port or 554, user, password)
    udp = UdpPair()
    try:
        try:
            async with asyncio.timeout(max(left(), 0)):
                await loop.create_connection(lambda: conn, parts.hostname, parts.port or 554)
        except TimeoutError as exc:
            raise ProbeError("timeout", "TCP connect did not finish in time") from exc
        except OSError as exc:
            raise ProbeError("unreachable", f"cannot connect: {exc.strerror or exc}") from exc
        mark("connect")

        reply = await request(conn, "DESCRIBE", base_url, left(), {"Accept": "application/sdp"})
        mark("describe")
        content_base = reply.headers.get("content-base")
        if isinstance(content_base, str) and content_base.startswith("rtsp"):
            base_url = content_base
        sdp = _parse_sdp(reply.content)
        media = sdp.get_media("video")
        codec = _video_codec(media) if media else None
        if media is None or codec is None:
            offered = media.get("attributes", {}).get("rtpmap", {}) if media else {}
            raise ProbeError("unsupported_codec", f"no H.264/H.265 video in SDP ({offered})")
        collector = KeyframeCollector(codec, sdp.media_payload_type("video"), options.fps_window)
        collector.depacketizer.add_sprop(
            _sprop_nals(codec, media.get("attributes", {}).get("fmtp", {}) or {})
        )

        if tcp:
            rtp_id = conn.register_rtp(collector.feed)
            rtcp_id = conn.register_rtp(lambda _b: None)
            transport = f"RTP/AVP/TCP;unicast;interleaved={rtp_id}-{rtcp_id}"
        else:
            sock: Any = conn._transport
            local, peer = sock.get_extra_info("sockname")[0], sock.get_extra_info("peername")[0]
            await udp.open(local, peer, collector)
            transport = f"RTP/AVP;unicast;client_port={udp.port}-{udp.port + 1}"
        setup_url = sdp.setup_url(base_url, media_type="video")
        reply = await request(conn, "SETUP", setup_url, left(), {"Transport": transport})
        session = str(reply.headers.get("session", "")).split(";")[0].strip()
        if not session:
            raise ProbeError("rtsp_error", "SETUP answer has no Session header")
        mark("setup")
        await request(conn, "PLAY", base_url, left(), {"Session": session, "Range": "npt=0.000-"})
        mark("play")

        await _wait_for_keyframe(collector, conn, options, deadline)
        mark("keyframe")
        assert collector.keyframe is not None
        send_and_forget(conn, "TEARDOWN", base_url, {"Session": session})
        return Keyframe(codec, collector.keyframe, collector.fps(), _audio_codec(sdp), timings)
    finally:
        udp.close()
        conn.close()


async def _wait_for_keyframe(
    collector: KeyframeCollector, conn: GuardedConnection, options: ProbeOptions, deadline: float
) -> None:
    loop = asyncio.get_running_loop()
    played_at = loop.time()
    while not collector.done.is_set():
        now = loop.time()
        if conn.failure is not None:
            raise conn.failure
        if not conn.running and collector.keyframe is None:
            raise ProbeError("no_video", "camera closed the connection during PLAY")
        last = collector.last_packet_at or played_at
        if now - last > options.rtp_idle:
            what = "no RTP after PLAY" if collector.packets == 0 else "RTP stopped"
            raise ProbeError("no_video", f"{what} for {options.rtp_idle:g} s")
        if now >= deadline:
            if collector.keyframe is not None:
                break
            if collector.packets == 0:
                raise ProbeError("no_video", "no RTP after PLAY before the deadline")
            raise ProbeError(
                "no_keyframe", f"{collector.packets} RTP packets, no whole keyframe in time"
            )
        wait = min(deadline, last + options.rtp_idle) - now
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(wait, 0.01)):  # 3.11's wait_for can lose a cancel
                await collector.done.wait()
    collector.finish()
