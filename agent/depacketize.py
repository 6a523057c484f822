"""RTP payloads to H.264 / H.265 access units (RFC 6184, RFC 7798).

aiortsp delivers raw RTP only, so the agent rebuilds NAL units itself:

* H.264: single NAL unit packets, STAP-A (24) and FU-A (28); STAP-B, MTAP and FU-B are
  dropped (interleaved mode is not used by cameras).
* H.265: single NAL unit packets, AP (48) and FU (49); PACI (50) is dropped.

NAL units are collected per RTP timestamp into an access unit; the access unit is done when
the marker bit is set or the timestamp changes. A sequence-number gap marks the access unit
damaged, so a half-received keyframe is never handed to the decoder. Parameter sets (SPS,
PPS, VPS) seen in band are remembered, so a keyframe can be decoded even when the camera
sends them only once or only in the SDP. Memory is bounded: an access unit larger than
``max_au_bytes`` is dropped. With ``keyframe_only`` (a probe), other pictures' NAL data is
skipped at the door, fragments included, without being copied.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Literal

Codec = Literal["h264", "h265"]
START_CODE = b"\x00\x00\x00\x01"
RTP_HEADER = struct.Struct("!BBHII")

H264_IDR = 5
H264_SPS, H264_PPS = 7, 8
H265_IRAP = range(16, 22)  # BLA, IDR_W_RADL, IDR_N_LP, CRA
H265_VPS, H265_SPS, H265_PPS = 32, 33, 34


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """The fields of one RTP packet the agent needs."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket | None:
    """Parse an RTP packet (RFC 3550); return None for anything that is not RTP v2."""
    if len(data) < RTP_HEADER.size:
        return None
    b0, b1, seq, ts, _ssrc = RTP_HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        return None
    offset = RTP_HEADER.size + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if b0 & 0x20:  # padding
        end -= data[-1]
    if offset >= end:
        return None
    return RtpPacket(b1 & 0x7F, bool(b1 & 0x80), seq, ts, data[offset:end])


def nal_type(codec: Codec, nal: bytes) -> int:
    """Return the NAL unit type of ``nal`` (header included)."""
    return (nal[0] & 0x1F) if codec == "h264" else (nal[0] >> 1) & 0x3F


def is_parameter_set(codec: Codec, kind: int) -> bool:
    """Return True for SPS/PPS (and VPS for H.265)."""
    if codec == "h264":
        return kind in (H264_SPS, H264_PPS)
    return kind in (H265_VPS, H265_SPS, H265_PPS)


def is_keyframe_nal(codec: Codec, kind: int) -> bool:
    """Return True when the NAL unit type starts a decodable picture (IDR / IRAP)."""
    return kind == H264_IDR if codec == "h264" else kind in H265_IRAP


@dataclass(slots=True)
class AccessUnit:
    """All NAL units of one picture (one RTP timestamp)."""

    timestamp: int
    nals: list[bytes] = field(default_factory=list)
    damaged: bool = False

    @property
    def size(self) -> int:
        """Bytes of NAL data held."""
        return sum(len(n) for n in self.nals)


class Depacketizer:
    """Rebuild access units from the RTP packets of one H.264 or H.265 stream."""

    def __init__(
        self, codec: Codec, max_au_bytes: int = 8 * 1024 * 1024, keyframe_only: bool = False
    ) -> None:
        self.codec: Codec = codec
        self.keyframe_only = keyframe_only  # a probe needs only keyframes and parameter sets
        self.max_au_bytes = max_au_bytes
        self.parameter_sets: dict[int, bytes] = {}
        self.packets = 0
        self.access_units = 0
        self.dropped_nals = 0
        self._au: AccessUnit | None = None
        self._fragment: bytearray | None = None
        self._last_seq: int | None = None
        self._hdr = 1 if codec == "h264" else 2

    def add_sprop(self, nals: list[bytes]) -> None:
        """Remember parameter sets announced in the SDP."""
        for nal in nals:
            if nal and is_parameter_set(self.codec, nal_type(self.codec, nal)):
                self.parameter_sets[nal_type(self.codec, nal)] = nal

    def push(self, pkt: RtpPacket) -> list[AccessUnit]:
        """Feed one RTP packet; return the access units it completes (usually none or one)."""
        done = self._enter(pkt.sequence, pkt.timestamp)
        for nal in self._nals_of(pkt.payload):
            self._add_nal(nal)
        if pkt.marker:
            self._finish_into(done)
        return done

    def skip(self, sequence: int, timestamp: int, marker: bool) -> list[AccessUnit]:
        """Account for a packet whose NAL data is not wanted (``keyframe_only``).

        Sequence, timestamp and marker still count: a gap must still mark a picture
        damaged, and the packet may end the picture before it.
        """
        done = self._enter(sequence, timestamp)
        self._fragment = None
        if marker:
            self._finish_into(done)
        return done

    def unwanted(self, payload_first: int, payload_second: int, payload_third: int) -> bool:
        """Return True when a payload starting with these bytes carries no wanted NAL data."""
        if not self.keyframe_only:
            return False
        if self.codec == "h264":
            kind = payload_first & 0x1F
            if kind == 28:  # FU-A: the type is in every fragment's FU header
                kind = payload_second & 0x1F
            elif kind > 23:
                return False  # aggregation: look inside on the slow path
        else:
            kind = (payload_first >> 1) & 0x3F
            if kind == 49:  # FU: the type is in every fragment's FU header
                kind = payload_third & 0x3F
            elif kind >= 48:
                return False
        return not self._wanted(kind)

    def _enter(self, sequence: int, timestamp: int) -> list[AccessUnit]:
        self.packets += 1
        done: list[AccessUnit] = []
        if self._au is not None and timestamp != self._au.timestamp:
            self._finish_into(done)  # the previous picture ended without a marker
        gap = self._last_seq is not None and sequence != (self._last_seq + 1) & 0xFFFF
        self._last_seq = sequence
        if self._au is None:
            self._au = AccessUnit(timestamp)
        if gap:
            self._au.damaged = True
            self._fragment = None
        return done

    def _finish_into(self, done: list[AccessUnit]) -> None:
        au, self._au, self._fragment = self._au, None, None
        if au is not None and au.nals:
            self.access_units += 1
            done.append(au)

    def _add_nal(self, nal: bytes) -> None:
        assert self._au is not None
        if len(nal) <= self._hdr:
            return
        kind = nal_type(self.codec, nal)
        if is_parameter_set(self.codec, kind):
            self.parameter_sets[kind] = nal
        if self._au.size + len(nal) > self.max_au_bytes:
            self._au.damaged = True
            self.dropped_nals += 1
            return
        self._au.nals.append(nal)

    def _nals_of(self, payload: bytes) -> list[bytes]:
        if len(payload) <= self._hdr:
            return []
        kind = nal_type(self.codec, payload)
        aggregate, fragment = (24, 28) if self.codec == "h264" else (48, 49)
        if kind == aggregate:
            return _split_aggregate(payload, self._hdr)
        if kind == fragment:
            nal = self._defragment(payload)
            return [nal] if nal is not None else []
        if (self.codec == "h264" and 1 <= kind <= 23) or (self.codec == "h265" and kind < 48):
            self._fragment = None
            return [payload] if self._wanted(kind) else []
        self.dropped_nals += 1
        return []

    def _wanted(self, kind: int) -> bool:
        if not self.keyframe_only:
            return True
        return is_keyframe_nal(self.codec, kind) or is_parameter_set(self.codec, kind)

    def _defragment(self, payload: bytes) -> bytes | None:
        hdr = self._hdr
        if len(payload) < hdr + 2:
            return None
        fu = payload[hdr]
        start, end = bool(fu & 0x80), bool(fu & 0x40)
        if start:
            if not self._wanted(fu & (0x1F if self.codec == "h264" else 0x3F)):
                self._fragment = None  # a P-frame: skip its fragments without copying them
                return None
            if self.codec == "h264":
                header = bytes([(payload[0] & 0xE0) | (fu & 0x1F)])
            else:
                header = bytes([(payload[0] & 0x81) | ((fu & 0x3F) << 1), payload[1]])
            self._fragment = bytearray(header)
        elif self._fragment is None:
            return None  # middle of a NAL whose start we missed
        self._fragment += payload[hdr + 1 :]
        if len(self._fragment) > self.max_au_bytes:
            self._fragment = None
            self.dropped_nals += 1
            if self._au is not None:
                self._au.damaged = True
            return None
        if end:
            nal, self._fragment = bytes(self._fragment), None
            return nal
        return None

    def keyframe_bitstream(self, au: AccessUnit) -> bytes | None:
        """Return Annex-B bytes (parameter sets + picture) if ``au`` is a whole keyframe."""
        if au.damaged:
            return None
        kinds = [nal_type(self.codec, n) for n in au.nals]
        if not any(is_keyframe_nal(self.codec, k) for k in kinds):
            return None
        needed = (H264_SPS, H264_PPS) if self.codec == "h264" else (H265_VPS, H265_SPS, H265_PPS)
        if any(k not in self.parameter_sets and k not in kinds for k in needed):
            return None
        head = [self.parameter_sets[k] for k in needed if k not in kinds]
        return b"".join(START_CODE + n for n in [*head, *au.nals])


def _split_aggregate(payload: bytes, hdr: int) -> list[bytes]:
    nals: list[bytes] = []
    pos = hdr
    while pos + 2 <= len(payload):
        (size,) = struct.unpack_from("!H", payload, pos)
        pos += 2
        if size == 0 or pos + size > len(payload):
            break
        nals.append(payload[pos : pos + size])
        pos += size
    return nals
