"""RTP -> access units, on real H.264/H.265 NAL units from libx264/libx265."""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import numpy as np
import pytest

from agent.decode import decode_keyframe
from agent.depacketize import Codec, Depacketizer, RtpPacket, nal_type, parse_rtp


def encode_nals(codec: Codec, frames: int = 3) -> list[list[bytes]]:
    """Encode a moving gradient; return the NAL units of each access unit."""
    enc = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    enc.width, enc.height, enc.pix_fmt = 320, 180, "yuv420p"
    enc.time_base = Fraction(1, 10)
    enc.options = (
        {"tune": "zerolatency", "preset": "ultrafast"}
        if codec == "h264"
        else {"preset": "ultrafast", "x265-params": "log-level=none:bframes=0"}
    )
    units: list[list[bytes]] = []
    for i in range(frames):
        img = np.add.outer(np.arange(180), np.arange(320) + 7 * i).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(np.stack([img] * 3, axis=-1), format="rgb24")
        frame.pts = i
        for pkt in [*enc.encode(frame)]:
            units.append(split_annexb(bytes(pkt)))
    for pkt in enc.encode(None):
        units.append(split_annexb(bytes(pkt)))
    return units


def split_annexb(data: bytes) -> list[bytes]:
    parts = data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return [p for p in parts if p]


def rtp(seq: int, ts: int, payload: bytes, marker: bool = False, pt: int = 96) -> RtpPacket:
    return RtpPacket(pt, marker, seq & 0xFFFF, ts, payload)


def packetize(
    codec: Codec, nals: list[bytes], ts: int, seq: int, mtu: int = 300
) -> list[RtpPacket]:
    """Small NALs in one aggregation packet, big ones as fragments, marker on the last."""
    hdr = 1 if codec == "h264" else 2
    out: list[bytes] = []
    small = [n for n in nals if len(n) < 60]
    if len(small) >= 2:  # STAP-A / AP
        head = bytes([24]) if codec == "h264" else bytes([48 << 1, 1])
        out.append(head + b"".join(struct.pack("!H", len(n)) + n for n in small))
    else:
        out.extend(small)
    for nal in (n for n in nals if len(n) >= 60):
        if len(nal) <= mtu:
            out.append(nal)
            continue
        body = nal[hdr:]
        chunks = [body[i : i + mtu] for i in range(0, len(body), mtu)]
        for i, chunk in enumerate(chunks):
            flags = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
            if codec == "h264":
                head = bytes([(nal[0] & 0xE0) | 28, flags | (nal[0] & 0x1F)])
            else:
                head = bytes([(nal[0] & 0x81) | (49 << 1), nal[1], flags | nal_type(codec, nal)])
            out.append(head + chunk)
    return [rtp(seq + i, ts, p, marker=i == len(out) - 1) for i, p in enumerate(out)]


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_fragmented_keyframe_is_rebuilt_and_decodes(codec: Codec) -> None:
    units = encode_nals(codec)
    dep = Depacketizer(codec)
    seq, done = 100, []
    for i, nals in enumerate(units):
        for pkt in packetize(codec, nals, ts=3000 + 9000 * i, seq=seq):
            seq += 1
            done += dep.push(pkt)
    assert len(done) == len(units)
    assert [n for au in done for n in au.nals] == [n for nals in units for n in nals]
    bitstream = dep.keyframe_bitstream(done[0])
    assert bitstream is not None
    frame = decode_keyframe(codec, bitstream)
    assert (frame.width, frame.height) == (320, 180)
    assert dep.keyframe_bitstream(done[1]) is None  # a P-frame is not a keyframe


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_lost_fragment_marks_the_keyframe_damaged(codec: Codec) -> None:
    nals = encode_nals(codec, frames=1)[0]
    packets = packetize(codec, nals, ts=0, seq=65530)  # wraps the sequence number too
    assert len(packets) > 3
    del packets[2]
    dep = Depacketizer(codec)
    done = [au for p in packets for au in dep.push(p)]
    assert len(done) == 1
    assert done[0].damaged
    assert dep.keyframe_bitstream(done[0]) is None


def test_parameter_sets_from_sdp_complete_a_bare_idr() -> None:
    nals = encode_nals("h264", frames=1)[0]
    params = [n for n in nals if nal_type("h264", n) in (7, 8)]
    idr_only = [n for n in nals if nal_type("h264", n) == 5]
    dep = Depacketizer("h264")
    au = next(au for p in packetize("h264", idr_only, 0, 1) for au in dep.push(p))
    assert dep.keyframe_bitstream(au) is None  # no SPS/PPS known yet
    dep.add_sprop(params)
    bitstream = dep.keyframe_bitstream(au)
    assert bitstream is not None
    assert decode_keyframe("h264", bitstream).width == 320


def test_timestamp_change_closes_an_access_unit_without_marker() -> None:
    dep = Depacketizer("h264")
    assert dep.push(rtp(1, 0, bytes([0x61, 1, 2, 3]))) == []
    done = dep.push(rtp(2, 3000, bytes([0x61, 4, 5, 6]), marker=True))
    assert [au.timestamp for au in done] == [0, 3000]


def test_oversized_access_unit_is_dropped_not_buffered() -> None:
    dep = Depacketizer("h264", max_au_bytes=1000)
    start = bytes([0x7C, 0x85])  # FU-A start of an IDR
    middle = bytes([0x7C, 0x05])
    dep.push(rtp(1, 0, start + b"x" * 600))
    assert dep.push(rtp(2, 0, middle + b"x" * 600)) == []
    done = dep.push(rtp(3, 0, bytes([0x7C, 0x45]) + b"x" * 10, marker=True))
    assert done == [] or done[0].damaged
    assert dep.dropped_nals >= 1


def test_parse_rtp_handles_csrc_extension_padding_and_garbage() -> None:
    payload = b"\x65abc"
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 1, 0x80 | 96, 7, 1234, 99)
    packet = header + b"CSRC" + struct.pack("!HH", 0xBEDE, 1) + b"EXT!" + payload + b"\x00\x02"
    parsed = parse_rtp(packet)
    assert parsed is not None
    assert (parsed.payload, parsed.marker, parsed.sequence, parsed.payload_type) == (
        payload,
        True,
        7,
        96,
    )
    assert parse_rtp(b"\x00" * 20) is None  # version 0
    assert parse_rtp(b"\x80") is None


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_keyframe_only_skips_other_pictures_but_keeps_the_keyframe(codec: Codec) -> None:
    units = encode_nals(codec, frames=4)
    keep_all, key_only = Depacketizer(codec), Depacketizer(codec, keyframe_only=True)
    seq, kept, only = 1, [], []
    for i, nals in enumerate([*units[1:], units[0]]):  # P-frames first, like a mid-GOP join
        for pkt in packetize(codec, nals, ts=9000 * (i + 1), seq=seq):
            seq += 1
            kept += keep_all.push(pkt)
            only += key_only.push(pkt)
    assert sum(au.size for au in only) < sum(au.size for au in kept)
    keys = [b for au in only if (b := key_only.keyframe_bitstream(au)) is not None]
    assert len(keys) == 1
    assert decode_keyframe(codec, keys[0]).width == 320
