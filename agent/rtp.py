"""Receive a camera's RTP until one whole keyframe has arrived.

``KeyframeCollector`` is fed raw RTP packets (from TCP-interleaved frames or UDP
datagrams), rebuilds access units with ``agent.depacketize`` and keeps only what a probe
needs: the first whole keyframe (as Annex-B bytes, ready for the decoder), a few access-unit
timestamps to measure the frame rate, and counters that tell ``no_video`` (nothing, or RTP
that stopped) from ``no_keyframe`` (RTP flowing, never a keyframe). Nothing else is kept,
so an RTP flood costs CPU for the probe's deadline but no memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections import deque
from typing import Any

from agent.depacketize import Codec, Depacketizer, parse_rtp

log = logging.getLogger(__name__)

RTP_CLOCK = 90_000
#: Access units to see (keyframe included) before the frame rate is trusted.
FPS_ACCESS_UNITS = 4


class KeyframeCollector:
    """Collect the first whole keyframe of a stream and measure its frame rate."""

    def __init__(self, codec: Codec, payload_type: int | None, fps_window: float = 1.0) -> None:
        self.codec: Codec = codec
        self.payload_type = payload_type
        self.fps_window = fps_window
        self.depacketizer = Depacketizer(codec, keyframe_only=True)
        self.keyframe: bytes | None = None
        self.keyframe_at: float | None = None
        self.first_packet_at: float | None = None
        self.last_packet_at: float | None = None
        self.bytes = 0
        self.packets_after_key = 0
        self.done = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._timestamps: deque[int] = deque(maxlen=64)
        self._timer: asyncio.TimerHandle | None = None

    @property
    def packets(self) -> int:
        """RTP packets of the video payload type received so far."""
        return self.depacketizer.packets + self.packets_after_key

    def feed(self, data: bytes) -> None:
        """Handle one RTP packet of the video track.

        Most packets a probe receives belong to pictures before the keyframe; those are
        recognised from a few header bytes and only counted, never copied or parsed.
        """
        if len(data) < 15 or data[0] >> 6 != 2:
            return
        if self.payload_type is not None and data[1] & 0x7F != self.payload_type:
            return
        timestamp = int.from_bytes(data[4:8], "big")
        now = self._loop.time()
        if self.first_packet_at is None:
            self.first_packet_at = now
        self.last_packet_at = now
        self.bytes += len(data)
        if not self._timestamps or self._timestamps[-1] != timestamp:
            self._timestamps.append(timestamp)  # one per picture: the frame rate
        if self.done.is_set():
            return
        if self.keyframe is not None:
            self.packets_after_key += 1
            if len(self._timestamps) >= FPS_ACCESS_UNITS:
                self.finish()
            return
        dep = self.depacketizer
        if data[0] & 0x3F == 0 and dep.unwanted(data[12], data[13], data[14]):
            # no padding, CSRC or extension: the payload starts at byte 12
            done = dep.skip((data[2] << 8) | data[3], timestamp, bool(data[1] & 0x80))
        else:
            pkt = parse_rtp(data)
            if pkt is None:
                return
            done = dep.push(pkt)
        for au in done:
            if self.keyframe is None:
                bitstream = self.depacketizer.keyframe_bitstream(au)
                if bitstream is not None:
                    self.keyframe, self.keyframe_at = bitstream, now
                    self._timer = self._loop.call_later(self.fps_window, self.done.set)
        if self.keyframe is not None and len(self._timestamps) >= FPS_ACCESS_UNITS:
            self.finish()

    def finish(self) -> None:
        """Stop collecting (keyframe had, or the probe gives up)."""
        if self._timer is not None:
            self._timer.cancel()
        self.done.set()

    def fps(self) -> float | None:
        """Frame rate from the RTP timestamps of consecutive access units, if measurable."""
        ts = list(self._timestamps)
        if len(ts) < 2:
            return None
        span = sum((b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(ts))
        if span <= 0 or span > RTP_CLOCK * 60:
            return None
        return round((len(ts) - 1) * RTP_CLOCK / span, 2)


class _UdpSink(asyncio.DatagramProtocol):
    def __init__(self, collector: KeyframeCollector | None, peer_host: str) -> None:
        self.collector = collector
        self.peer_host = peer_host

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.collector is not None and addr[0] == self.peer_host:
            self.collector.feed(data)


class UdpPair:
    """An even/odd pair of UDP ports (RTP, RTCP) bound next to the RTSP connection."""

    def __init__(self) -> None:
        self.rtp: asyncio.DatagramTransport | None = None
        self.rtcp: asyncio.DatagramTransport | None = None
        self.port = 0

    async def open(self, local_host: str, peer_host: str, collector: KeyframeCollector) -> None:
        """Bind the pair; RTP datagrams from ``peer_host`` go to ``collector``."""
        loop = asyncio.get_running_loop()
        for _ in range(32):
            rtp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtcp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtp_sock.bind((local_host, 0))
                port = rtp_sock.getsockname()[1]
                if port % 2:
                    raise OSError("odd port")  # noqa: TRY301 - retry with another pair
                rtcp_sock.bind((local_host, port + 1))
            except OSError:
                rtp_sock.close()
                rtcp_sock.close()
                continue
            with contextlib.suppress(OSError):
                rtp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2 * 1024 * 1024)
            self.rtp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpSink(collector, peer_host), sock=rtp_sock
            )
            self.rtcp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpSink(None, peer_host), sock=rtcp_sock
            )
            self.port = port
            return
        raise OSError("no free pair of UDP ports for RTP/RTCP")

    def close(self) -> None:
        """Close both sockets."""
        for t in (self.rtp, self.rtcp):
            if t is not None:
                t.close()
