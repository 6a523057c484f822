"""RTP payloads and SDP: H.264 (RFC 6184), H.265 (RFC 7798), AAC (RFC 3640) and PCMU.

Payloads are computed once per clip (``Track``); sending a frame then only prefixes a
12-byte RTP header to each payload (``rtp_packets``).
"""

from __future__ import annotations

import base64
import math
import struct
from dataclasses import dataclass
from functools import cache

import numpy as np

from agent.simulator.media import Clip

MTU = 1400
VIDEO_PT, AAC_PT, PCMU_PT = 96, 97, 0
AAC_RATE, AAC_FRAME = 16000, 1024
PCMU_RATE, PCMU_FRAME = 8000, 160
_HEADER = struct.Struct("!BBHII")


def packetize_h264(nal: bytes, mtu: int = MTU) -> list[bytes]:
    """Return RTP payloads of one H.264 NAL unit: a single NAL unit packet or FU-A fragments."""
    if len(nal) <= mtu:
        return [nal]
    indicator = bytes([(nal[0] & 0xE0) | 28])
    kind = nal[0] & 0x1F
    body = nal[1:]
    chunks = [body[i : i + mtu - 2] for i in range(0, len(body), mtu - 2)]
    out = []
    for i, chunk in enumerate(chunks):
        flags = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
        out.append(indicator + bytes([flags | kind]) + chunk)
    return out


def packetize_h265(nal: bytes, mtu: int = MTU) -> list[bytes]:
    """Return RTP payloads of one H.265 NAL unit: a single NAL unit packet or FU (type 49)."""
    if len(nal) <= mtu:
        return [nal]
    header = bytes([(nal[0] & 0x81) | (49 << 1), nal[1]])
    kind = (nal[0] >> 1) & 0x3F
    body = nal[2:]
    chunks = [body[i : i + mtu - 3] for i in range(0, len(body), mtu - 3)]
    out = []
    for i, chunk in enumerate(chunks):
        flags = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
        out.append(header + bytes([flags | kind]) + chunk)
    return out


def rtp_packets(payloads: list[bytes], pt: int, seq: int, ts: int, ssrc: int) -> list[bytes]:
    """Return RTP packets for one frame; the marker bit is set on the last one."""
    pack = _HEADER.pack
    last = len(payloads) - 1
    return [
        pack(0x80, pt | (0x80 if i == last else 0), (seq + i) & 0xFFFF, ts, ssrc) + p
        for i, p in enumerate(payloads)
    ]


@dataclass
class Track:
    """One RTP stream of a clip: payloads per frame, its clock and its SDP media section."""

    kind: str
    pt: int
    clock: int
    rate: float
    frames: list[list[bytes]]
    keyframes: list[bool]
    sdp: list[str]

    def timestamp(self, index: int) -> int:
        """Return the RTP timestamp offset of absolute frame ``index``."""
        return round(index * self.clock / self.rate) & 0xFFFFFFFF


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def video_track(clip: Clip, width: int, height: int, fps: int) -> Track:
    """Return the video track of ``clip``; the SDP declares ``width``x``height``@``fps``."""
    pack = packetize_h264 if clip.codec == "h264" else packetize_h265
    frames = [[p for nal in nals for p in pack(nal)] for nals in clip.units]
    p = clip.params
    if clip.codec == "h264":
        fmtp = "packetization-mode=1"
        if "sps" in p and "pps" in p:
            fmtp += f";profile-level-id={p['sps'][1:4].hex()}"
            fmtp += f";sprop-parameter-sets={_b64(p['sps'])},{_b64(p['pps'])}"
        rtpmap = "H264/90000"
    else:
        fmtp = ";".join(f"sprop-{k}={_b64(p[k])}" for k in ("vps", "sps", "pps") if k in p)
        rtpmap = "H265/90000"
    sdp = [
        f"m=video 0 RTP/AVP {VIDEO_PT}",
        f"a=rtpmap:{VIDEO_PT} {rtpmap}",
        f"a=fmtp:{VIDEO_PT} {fmtp}",
        f"a=framerate:{fps}",
        f"a=framesize:{VIDEO_PT} {width}-{height}",
        f"a=x-dimensions:{width},{height}",
    ]
    return Track("video", VIDEO_PT, 90000, clip.fps, frames, clip.keyframes, sdp)


def _tone(rate: int, seconds: float) -> np.ndarray:
    """A gentle street-like sound: two tones with slow beating plus noise, in [-1, 1]."""
    t = np.arange(int(rate * seconds), dtype=np.float64) / rate
    rng = np.random.default_rng(7)
    wave = 0.2 * np.sin(2 * math.pi * 440 * t) * (0.6 + 0.4 * np.sin(2 * math.pi * 0.5 * t))
    wave += 0.08 * np.sin(2 * math.pi * 660 * t) + 0.04 * rng.standard_normal(t.size)
    return np.clip(wave, -1.0, 1.0)


def mulaw(samples: np.ndarray) -> bytes:
    """Encode float samples in [-1, 1] as G.711 mu-law bytes."""
    pcm = np.clip(samples * 32767, -32768, 32767).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    mag = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    coded = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return bytes(coded.tobytes())


@cache
def pcmu_track(seconds: float = 4.0) -> Track:
    """Return a looped PCMU (G.711 mu-law, PT 0, 8 kHz, 20 ms packets) track."""
    data = mulaw(_tone(PCMU_RATE, seconds))
    frames = [[data[i : i + PCMU_FRAME]] for i in range(0, len(data), PCMU_FRAME)]
    sdp = [f"m=audio 0 RTP/AVP {PCMU_PT}", f"a=rtpmap:{PCMU_PT} PCMU/{PCMU_RATE}"]
    return Track("audio", PCMU_PT, PCMU_RATE, PCMU_RATE / PCMU_FRAME, frames, [], sdp)


@cache
def aac_track(seconds: float = 4.0) -> Track:
    """Return a looped AAC-LC (16 kHz mono, mpeg4-generic AAC-hbr) track, encoded once."""
    import av

    ctx = av.CodecContext.create("aac", "w")
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate, ctx.layout, ctx.format = AAC_RATE, "mono", "fltp"
    ctx.bit_rate = 32000
    wave = _tone(AAC_RATE, seconds).astype(np.float32)
    aus: list[bytes] = []
    for n, i in enumerate(range(0, wave.size - AAC_FRAME + 1, AAC_FRAME)):
        frame = av.AudioFrame.from_ndarray(
            wave[i : i + AAC_FRAME].reshape(1, -1), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = AAC_RATE, n * AAC_FRAME
        aus.extend(bytes(p) for p in ctx.encode(frame))
    aus.extend(bytes(p) for p in ctx.encode(None))
    frames = [[struct.pack("!HH", 16, len(au) << 3) + au] for au in aus if au]
    # AudioSpecificConfig: AAC-LC (2), 16 kHz (index 8), mono (1).
    config = f"{(2 << 11) | (8 << 7) | (1 << 3):04x}"
    fmtp = (
        "streamtype=5;profile-level-id=15;mode=AAC-hbr;sizelength=13;indexlength=3;"
        f"indexdeltalength=3;config={config}"
    )
    sdp = [
        f"m=audio 0 RTP/AVP {AAC_PT}",
        f"a=rtpmap:{AAC_PT} MPEG4-GENERIC/{AAC_RATE}/1",
        f"a=fmtp:{AAC_PT} {fmtp}",
    ]
    return Track("audio", AAC_PT, AAC_RATE, AAC_RATE / AAC_FRAME, frames, [], sdp)
