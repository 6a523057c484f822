"""KeyframeCollector on raw RTP bytes: P-frames skipped cheaply, the keyframe kept whole."""

from __future__ import annotations

import struct

import pytest

from agent.decode import decode_keyframe
from agent.depacketize import Codec
from agent.rtp import KeyframeCollector
from tests.unit.test_depacketize import encode_nals, packetize


def raw_packets(codec: Codec, units: list[list[bytes]], first_ts: int = 0) -> list[bytes]:
    out, seq = [], 500
    for i, nals in enumerate(units):
        for pkt in packetize(codec, nals, ts=first_ts + 3600 * i, seq=seq):
            seq += 1
            header = struct.pack(
                "!BBHII",
                0x80,
                (0x80 if pkt.marker else 0) | 96,
                pkt.sequence,
                pkt.timestamp,
                0x1234,
            )
            out.append(header + pkt.payload)
    return out


@pytest.mark.parametrize("codec", ["h264", "h265"])
async def test_joins_mid_gop_and_keeps_only_the_keyframe(codec: Codec) -> None:
    units = encode_nals(codec, frames=6)
    stream = [*units[1:], units[0]]  # P-frames first, as when joining mid-GOP
    collector = KeyframeCollector(codec, 96)
    for data in raw_packets(codec, stream):
        collector.feed(data)
    assert collector.keyframe is not None
    assert decode_keyframe(codec, collector.keyframe).width == 320
    assert collector.fps() == pytest.approx(25.0)  # 3600 ticks of 90 kHz per picture
    assert collector.done.is_set()
    p_bytes = sum(len(n) for nals in units[1:] for n in nals)
    assert len(collector.keyframe) < sum(len(n) for n in units[0]) + 64  # no P data inside
    assert p_bytes > 0


@pytest.mark.parametrize("codec", ["h264", "h265"])
async def test_a_lost_packet_inside_the_keyframe_is_never_decoded(codec: Codec) -> None:
    units = encode_nals(codec, frames=3)
    packets = raw_packets(codec, [units[1], units[0]])
    key_packets = [i for i, p in enumerate(packets) if struct.unpack_from("!I", p, 4)[0] == 3600]
    del packets[key_packets[len(key_packets) // 2]]
    collector = KeyframeCollector(codec, 96)
    for data in packets:
        collector.feed(data)
    assert collector.keyframe is None
    assert collector.packets == len(packets)


async def test_other_payload_types_and_garbage_are_ignored() -> None:
    collector = KeyframeCollector("h264", 96)
    collector.feed(b"\x80\x08" + b"\x00" * 30)  # PCMA audio on the same channel
    collector.feed(b"garbage that is not RTP at all")
    assert collector.packets == 0
    assert collector.first_packet_at is None
