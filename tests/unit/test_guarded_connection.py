"""The guarded RTSP connection splits interleaved RTP and replies in any read pattern."""

from __future__ import annotations

import asyncio
import random
import struct

import pytest

from agent.rtsp import GuardedConnection


def frame(channel: int, payload: bytes) -> bytes:
    return struct.pack("!cBH", b"$", channel, len(payload)) + payload


@pytest.mark.parametrize("seed", range(5))
async def test_frames_and_replies_survive_any_cut(seed: int) -> None:
    rng = random.Random(seed)
    conn = GuardedConnection("127.0.0.1", 1, None, None)
    got: list[bytes] = []
    channel = conn.register_rtp(got.append)
    rtcp = conn.register_rtp(lambda _b: None)
    reply: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    conn.active_requests[3] = reply
    payloads = [bytes([i % 256]) * rng.randrange(1, 3000) for i in range(60)]
    stream = b"".join(frame(channel, p) for p in payloads[:30])
    stream += frame(rtcp, b"rtcp") + b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 4\r\n\r\nbody"
    stream += b"".join(frame(channel, p) for p in payloads[30:])
    pos = 0
    while pos < len(stream):  # reads of random sizes, cutting frames and the reply anywhere
        step = rng.choice([1, 3, 7, 100, 1500, 9000])
        conn.data_received(stream[pos : pos + step])
        pos += step
    assert got == payloads
    assert reply.done()
    assert reply.result().content == "body"  # type: ignore[attr-defined]
    assert conn.failure is None
