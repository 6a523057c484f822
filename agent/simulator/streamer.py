"""The live timeline of one camera: which frame is on air now, and who receives it.

Each camera runs its clip in a loop at real-time pace, and a client that joins receives the
frame on air at that moment, in the middle of a GOP. A looped clip holds only a few
keyframes, and a real camera never shows the same picture twice (its OSD clock moves on):
so when a client joins an idle camera, the timeline is re-phased to join mid-GOP before the
*next* keyframe of the clip in turn. Consecutive probes thus never get the same keyframe,
while a ``frozen`` clip (one picture repeated) still looks frozen. Sequence
numbers and timestamps are per camera (as in cameras that share one encoder between
sessions); PLAY answers them in RTP-Info. Nothing is computed while nobody is playing: one
``loop.call_at`` timer per camera runs only while at least one session plays.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import struct
from dataclasses import dataclass, field

from agent.simulator.rtp import Track, rtp_packets

MAX_CATCH_UP = 1.0  # seconds of frames sent at once after a stall; older frames are skipped
MAX_BUFFER = 8 * 1024 * 1024  # a TCP client this far behind is dropped, like a real camera
_CH = struct.Struct("!cBH")


@dataclass(eq=False)
class Session:
    """An RTSP session: where to send each track (TCP channel or UDP address)."""

    id: str
    writer: asyncio.WriteTransport | None = None
    channels: dict[int, int] = field(default_factory=dict)
    udp: dict[int, tuple[str, int]] = field(default_factory=dict)
    last_seen: float = 0.0


class _TrackState:
    def __init__(self, track: Track, t0: float, phase: int, rng: random.Random) -> None:
        self.track, self.t0, self.phase = track, t0, phase
        self.next_k = 0
        self.seq = rng.randrange(0, 0x10000)
        self.ssrc = rng.randrange(1, 0xFFFFFFFF)
        self.ts_base = rng.randrange(0, 0x100000000)

    def due(self, now: float) -> int:
        return math.floor((now - self.t0) * self.track.rate)

    def timestamp(self, k: int) -> int:
        return (self.ts_base + self.track.timestamp(k)) & 0xFFFFFFFF


class _Udp(asyncio.DatagramProtocol):
    """Server side of a UDP RTP/RTCP port: receiver reports keep UDP sessions alive."""

    def __init__(self, stream: LiveStream) -> None:
        self.stream = stream

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        del data
        self.stream.touch(str(addr[0]))


class LiveStream:
    """Per-camera timeline: tracks, playing sessions, the frame timer, UDP endpoints."""

    def __init__(self, host: str, seed: int, session_timeout: float = 60.0) -> None:
        self.host = host
        self.rng = random.Random(seed)  # noqa: S311 - timeline phases, not secrets
        self.session_timeout = session_timeout
        self.tracks: list[_TrackState] = []
        self.sessions: set[Session] = set()
        self.paused = False  # no_rtp / silent: sessions stay, nothing is sent
        self.udp: dict[int, tuple[asyncio.DatagramTransport, asyncio.DatagramTransport]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self.frames_sent = 0
        self._turn = self.rng.randrange(1 << 16)  # which keyframe the next idle join reaches

    def set_tracks(self, tracks: list[Track], *, restart: bool) -> None:
        """Use ``tracks``; ``restart`` starts video at its first frame (an IDR) now."""
        now = self._loop.time()
        old = self.tracks
        self.tracks = []
        for i, track in enumerate(tracks):
            prev = old[i] if i < len(old) and old[i].track.kind == track.kind else None
            if prev is not None and prev.track is track:
                self.tracks.append(prev)
                continue
            phase = 0 if restart else self.rng.randrange(len(track.frames))
            state = _TrackState(track, now, phase, self.rng)
            if prev is not None:  # continue numbering so clients see one stream
                state.seq, state.ssrc = prev.seq, prev.ssrc
                state.ts_base = prev.timestamp(prev.due(now))
            state.next_k = state.due(now)
            self.tracks.append(state)
        if self.sessions:
            self._schedule()

    def rtp_info(self, index: int) -> tuple[int, int]:
        """Return (next seq, next rtptime) of track ``index`` for PLAY's RTP-Info."""
        st = self.tracks[index]
        k = max(st.next_k, st.due(self._loop.time()))
        return st.seq, st.timestamp(k)

    def ssrc(self, index: int) -> int:
        """Return the SSRC of track ``index``."""
        return self.tracks[index].ssrc

    async def udp_ports(self, index: int) -> tuple[int, int]:
        """Return the server RTP/RTCP port pair of track ``index``, opening it on first use."""
        if index not in self.udp:
            loop = self._loop
            for _ in range(20):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                    probe.bind((self.host, 0))
                    port = probe.getsockname()[1] & ~1
                try:
                    rtp, _ = await loop.create_datagram_endpoint(
                        lambda: _Udp(self), local_addr=(self.host, port)
                    )
                except OSError:
                    continue
                try:
                    rtcp, _ = await loop.create_datagram_endpoint(
                        lambda: _Udp(self), local_addr=(self.host, port + 1)
                    )
                except OSError:
                    rtp.close()
                    continue
                self.udp[index] = (rtp, rtcp)
                break
            else:
                raise OSError("no free UDP port pair")
        sock = self.udp[index][0].get_extra_info("sockname")
        return sock[1], sock[1] + 1

    def touch(self, host: str) -> None:
        """Note activity from ``host`` (RTCP receiver report) for UDP session timeouts."""
        now = self._loop.time()
        for s in self.sessions:
            if any(addr[0] == host for addr in s.udp.values()):
                s.last_seen = now

    def play(self, session: Session) -> None:
        """Start sending to ``session`` from the frame on air now."""
        session.last_seen = self._loop.time()
        if not self.sessions:
            now = self._loop.time()
            for st in self.tracks:
                st.next_k = st.due(now)
            if self.tracks and self.tracks[0].track.kind == "video":
                self._rephase(self.tracks[0])
        self.sessions.add(session)
        self._schedule()

    def _rephase(self, st: _TrackState) -> None:
        """Put the frame on air a few frames before the next keyframe in turn (mid-GOP)."""
        keys = [i for i, key in enumerate(st.track.keyframes) if key]
        n = len(st.track.frames)
        if not keys or n < 2:
            return
        self._turn += 1
        target = keys[self._turn % len(keys)]
        gap = (keys[(keys.index(target) - 1) % len(keys)] - target) % n or n
        before = self.rng.randrange(1, max(2, gap))  # 1..gap-1 frames of the previous GOP
        st.phase = (target - before - st.next_k) % n

    def stop(self, session: Session) -> None:
        """Stop sending to ``session`` (PAUSE, TEARDOWN or connection closed)."""
        self.sessions.discard(session)
        if not self.sessions and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        """Stop the timer and close the UDP ports."""
        for s in list(self.sessions):
            self.stop(s)
        for rtp, rtcp in self.udp.values():
            rtp.close()
            rtcp.close()
        self.udp.clear()

    def _schedule(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if not self.tracks:
            self._handle = None
            return
        when = min(st.t0 + st.next_k / st.track.rate for st in self.tracks)
        self._handle = self._loop.call_at(when, self._tick)

    def _tick(self) -> None:
        self._handle = None
        now = self._loop.time()
        self._expire(now)
        if not self.sessions:
            return
        for index, st in enumerate(self.tracks):
            due = st.due(now)
            if due - st.next_k > MAX_CATCH_UP * st.track.rate:
                st.next_k = due
            while st.next_k <= due:
                if not self.paused:
                    self._send(index, st, st.next_k)
                st.next_k += 1
        self._schedule()

    def _expire(self, now: float) -> None:
        for s in list(self.sessions):
            if s.udp and now - s.last_seen > self.session_timeout:
                self.stop(s)

    def _send(self, index: int, st: _TrackState, k: int) -> None:
        track = st.track
        payloads = track.frames[(k + st.phase) % len(track.frames)]
        packets = rtp_packets(payloads, track.pt, st.seq, st.timestamp(k), st.ssrc)
        st.seq = (st.seq + len(packets)) & 0xFFFF
        if index == 0:
            self.frames_sent += 1
        blobs: dict[int, bytes] = {}
        for s in list(self.sessions):
            if s.writer is not None and index in s.channels:
                ch = s.channels[index]
                blob = blobs.get(ch)
                if blob is None:
                    blob = blobs[ch] = b"".join([_CH.pack(b"$", ch, len(p)) + p for p in packets])
                if s.writer.is_closing() or s.writer.get_write_buffer_size() > MAX_BUFFER:
                    s.writer.close()
                    self.stop(s)
                    continue
                s.writer.write(blob)
            elif index in s.udp and index in self.udp:
                sendto = self.udp[index][0].sendto
                addr = s.udp[index]
                for p in packets:
                    sendto(p, addr)
