"""Real H.264 bitstream pieces and an RTP packetizer (RFC 6184) for the test servers.

The SPS/PPS and slices come from libx264 through PyAV, encoded once per process, so
the SDP's ``sprop-parameter-sets`` and the non-IDR slices a hostile server floods with
are exactly what a camera would send; only the keyframes are withheld.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import re
import struct

WIDTH, HEIGHT, FPS = 640, 360, 15
CLOCK_RATE = 90_000
PAYLOAD_TYPE = 96
MTU = 1400  # RTP payload budget, like most cameras (fits an Ethernet frame)

NAL_SLICE = 1
NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8
_FU_A = 28
_START_CODE = re.compile(b"\x00\x00\x00\x01|\x00\x00\x01")


@dataclasses.dataclass(frozen=True)
class H264Material:
    """One short libx264 encode, split into NAL units (without start codes)."""

    sps: bytes
    pps: bytes
    idr: tuple[bytes, ...]
    non_idr_frames: tuple[tuple[bytes, ...], ...]

    @property
    def sprop_parameter_sets(self) -> str:
        """The SDP ``sprop-parameter-sets`` value: base64 SPS, base64 PPS."""
        return ",".join(base64.b64encode(n).decode("ascii") for n in (self.sps, self.pps))

    @property
    def profile_level_id(self) -> str:
        """The SDP ``profile-level-id`` value: profile_idc, constraints, level_idc in hex."""
        return self.sps[1:4].hex().upper()


def split_annexb(data: bytes) -> list[bytes]:
    """Split an Annex B byte stream into NAL units."""
    return [nal.rstrip(b"\x00") for nal in _START_CODE.split(data) if nal.strip(b"\x00")]


def nal_type(nal: bytes) -> int:
    """Return the NAL unit type (low 5 bits of the header byte)."""
    return nal[0] & 0x1F


@functools.cache
def h264_material(frames: int = 2 * FPS) -> H264Material:
    """Encode a moving test pattern with libx264 and keep its parameter sets and slices."""
    import av  # venv only; imported here so servers without video never load FFmpeg
    import numpy as np

    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        # One IDR at the start and none after; one slice per frame.
        "x264-params": "keyint=1000:min-keyint=1000:scenecut=0:bframes=0:threads=1",
    }
    columns = np.arange(WIDTH, dtype=np.uint16)[None, :]
    rows = np.arange(HEIGHT, dtype=np.uint16)[:, None]
    packets: list[bytes] = []
    for i in range(frames):
        rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        rgb[:, :, 0] = (columns + 8 * i) % 256
        rgb[:, :, 1] = (rows + 4 * i) % 256
        x = (20 * i) % (WIDTH - 60)
        rgb[150:210, x : x + 60] = 255  # a moving white square
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets.extend(bytes(p) for p in codec.encode(frame))
    packets.extend(bytes(p) for p in codec.encode(None))

    sps = pps = b""
    idr: list[bytes] = []
    non_idr: list[tuple[bytes, ...]] = []
    for packet in packets:
        nals = split_annexb(packet)
        for nal in nals:
            if nal_type(nal) == NAL_SPS:
                sps = nal
            elif nal_type(nal) == NAL_PPS:
                pps = nal
            elif nal_type(nal) == NAL_IDR:
                idr.append(nal)
        slices = tuple(n for n in nals if nal_type(n) == NAL_SLICE)
        if slices:
            non_idr.append(slices)
    if not (sps and pps and idr and non_idr):
        raise RuntimeError("libx264 did not produce SPS, PPS, IDR and non-IDR slices")
    return H264Material(sps, pps, tuple(idr), tuple(non_idr))


def sdp(material: H264Material, *, address: str = "127.0.0.1") -> str:
    """Return a DESCRIBE body announcing one H.264 video track with control ``trackID=0``."""
    fmtp = (
        f"packetization-mode=1;profile-level-id={material.profile_level_id};"
        f"sprop-parameter-sets={material.sprop_parameter_sets}"
    )
    lines = [
        "v=0",
        f"o=- 0 0 IN IP4 {address}",
        "s=camnet test stream",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "a=control:*",
        "a=range:npt=0-",
        f"m=video 0 RTP/AVP {PAYLOAD_TYPE}",
        f"a=rtpmap:{PAYLOAD_TYPE} H264/{CLOCK_RATE}",
        f"a=fmtp:{PAYLOAD_TYPE} {fmtp}",
        f"a=framerate:{FPS}",
        "a=control:trackID=0",
    ]
    return "\r\n".join(lines) + "\r\n"


class RtpPacketizer:
    """Turn access units (lists of NAL units) into RTP packets, single NAL or FU-A."""

    def __init__(self, ssrc: int = 0x43414D4E, mtu: int = MTU) -> None:
        self.ssrc = ssrc
        self.mtu = mtu
        self.seq = 0
        self.timestamp = 0

    def access_unit(self, nals: tuple[bytes, ...] | list[bytes]) -> list[bytes]:
        """Return the RTP packets of one frame; the marker bit is set on the last one."""
        payloads: list[bytes] = []
        for nal in nals:
            if len(nal) <= self.mtu:
                payloads.append(nal)
                continue
            indicator = (nal[0] & 0xE0) | _FU_A
            body = nal[1:]
            step = self.mtu - 2
            for start in range(0, len(body), step):
                flags = 0x80 if start == 0 else 0
                if start + step >= len(body):
                    flags |= 0x40
                fu_header = flags | nal_type(nal)
                payloads.append(bytes([indicator, fu_header]) + body[start : start + step])
        packets = []
        for i, payload in enumerate(payloads):
            marker = 0x80 if i == len(payloads) - 1 else 0
            header = struct.pack(
                "!BBHII", 0x80, marker | PAYLOAD_TYPE, self.seq, self.timestamp, self.ssrc
            )
            packets.append(header + payload)
            self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + CLOCK_RATE // FPS) & 0xFFFFFFFF
        return packets


def interleaved(channel: int, packet: bytes) -> bytes:
    """Frame a packet for RTSP interleaved TCP transport (RFC 2326 §10.12)."""
    return b"$" + bytes([channel]) + struct.pack("!H", len(packet)) + packet
