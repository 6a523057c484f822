"""Clips: render a scene with a fault, encode it once with PyAV, cache it on disk.

A clip is a short loop (``clip_seconds``, a whole number of GOPs) encoded with libx264 or
libx265 (ultrafast, zerolatency, no B-frames, fixed GOP, SPS/PPS(/VPS) repeated in-band
before every IDR). The cache file name is a SHA-256 of the render parameters and
``CLIP_VERSION``; the file holds the access units in Annex B form, each length-prefixed.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np

from agent.simulator.faults import Image, RenderPlan, apply_picture_fault, plan_for
from agent.simulator.scenes import SceneRenderer, draw_osd, scene_label

CLIP_VERSION = 3
_MAGIC = b"CAMNETCLIP1\n"
H264_IDR, H264_SPS, H264_PPS = 5, 7, 8
H265_VPS, H265_SPS, H265_PPS = 32, 33, 34


@dataclass(frozen=True)
class ClipKey:
    """Everything that changes the encoded bytes of a clip."""

    scene: str
    fault: str
    codec: str
    width: int
    height: int
    fps: int
    gop: float
    seconds: float
    day: str = ""

    def digest(self) -> str:
        """Return the cache file stem: a hash of the fields and ``CLIP_VERSION``."""
        text = json.dumps({**asdict(self), "v": CLIP_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def nal_type(codec: str, nal: bytes) -> int:
    """Return the NAL unit type of ``nal`` (H.264: 5 bits; H.265: 6 bits)."""
    return nal[0] & 0x1F if codec == "h264" else (nal[0] >> 1) & 0x3F


def is_keyframe_nal(codec: str, nal: bytes) -> bool:
    """Return True for IDR (H.264) or IRAP (H.265) slices and parameter sets."""
    t = nal_type(codec, nal)
    if codec == "h264":
        return t in (H264_IDR, H264_SPS, H264_PPS)
    return 16 <= t <= 23 or t in (H265_VPS, H265_SPS, H265_PPS)


def split_nals(annexb: bytes) -> list[bytes]:
    """Split an Annex B byte string at its start codes; return NAL units without them."""
    nals: list[bytes] = []
    starts: list[int] = []
    i = annexb.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = annexb.find(b"\x00\x00\x01", i + 3)
    for n, start in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(annexb)
        nal = annexb[start:end].rstrip(b"\x00") if n + 1 < len(starts) else annexb[start:end]
        if nal:
            nals.append(nal)
    return nals


@dataclass
class Clip:
    """An encoded loop: access units as NAL unit lists, with the stream's parameter sets."""

    codec: str
    width: int
    height: int
    fps: int
    units: list[list[bytes]]
    keyframes: list[bool]
    params: dict[str, bytes]

    @classmethod
    def from_access_units(cls, key: ClipKey, plan: RenderPlan, aus: list[bytes]) -> Clip:
        """Build a clip from Annex B access units, collecting SPS/PPS(/VPS) for the SDP."""
        units = [split_nals(au) for au in aus]
        params: dict[str, bytes] = {}
        names = (
            {H264_SPS: "sps", H264_PPS: "pps"}
            if key.codec == "h264"
            else {H265_VPS: "vps", H265_SPS: "sps", H265_PPS: "pps"}
        )
        keyframes = []
        for nals in units:
            types = [nal_type(key.codec, n) for n in nals]
            for nal, t in zip(nals, types, strict=True):
                if t in names and names[t] not in params:
                    params[names[t]] = nal
            if key.codec == "h264":
                keyframes.append(H264_IDR in types)
            else:
                keyframes.append(any(16 <= t <= 23 for t in types))
        return cls(key.codec, plan.width, plan.height, plan.fps, units, keyframes, params)

    def without_keyframes(self) -> Clip:
        """Return the clip with IDR/IRAP access units and parameter sets removed."""
        units, keys = [], []
        for nals in self.units:
            kept = [n for n in nals if not is_keyframe_nal(self.codec, n)]
            if kept and len(kept) == len(nals):
                units.append(kept)
                keys.append(False)
        return Clip(self.codec, self.width, self.height, self.fps, units, keys, self.params)


def render_frames(key: ClipKey, plan: RenderPlan, count: int) -> Iterator[Image]:
    """Yield ``count`` BGR pictures of ``key.scene`` rendered with ``plan``, OSD burnt in."""
    renderer = SceneRenderer(key.scene, plan.width, plan.height, period=count / plan.fps)
    rng = np.random.default_rng(20240601)
    label = scene_label(key.scene)
    start = datetime.now(UTC).astimezone().replace(microsecond=0)
    still = renderer.picture(0.0, plan.shift, plan.angle) if plan.freeze else None
    for i in range(count):
        t = 0.0 if plan.freeze else i / plan.fps
        pic = still.copy() if still is not None else renderer.picture(t, plan.shift, plan.angle)
        pic = apply_picture_fault(plan.fault, pic, rng)
        draw_osd(pic, label, start + timedelta(seconds=t))
        yield pic


def encode(key: ClipKey, plan: RenderPlan) -> list[bytes]:
    """Render and encode the clip; return its access units (Annex B), IDR first."""
    import av  # heavy import kept out of module import (STYLE.md)

    gop = max(1, round(key.gop * plan.fps))
    count = gop * max(1, round(key.seconds * plan.fps / gop))
    common = f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1:bframes=0"
    if key.codec == "h264":
        name, opts = "libx264", {"x264-params": common}
    else:
        name = "libx265"
        opts = {"x265-params": f"{common}:open-gop=0:log-level=error:info=0"}
    ctx = av.CodecContext.create(name, "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = plan.width, plan.height, "yuv420p"
    ctx.time_base = Fraction(1, plan.fps)
    ctx.framerate = Fraction(plan.fps, 1)
    ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "30", **opts}
    aus: list[bytes] = []
    for i, pic in enumerate(render_frames(key, plan, count)):
        frame = av.VideoFrame.from_ndarray(pic, format="bgr24").reformat(format="yuv420p")
        frame.pts = i
        aus.extend(bytes(p) for p in ctx.encode(frame))
    aus.extend(bytes(p) for p in ctx.encode(None))
    return aus


def _write(path: Path, aus: list[bytes]) -> None:
    tmp = path.with_suffix(f".tmp{id(aus)}")
    parts = [_MAGIC, struct.pack("!I", len(aus))]
    for au in aus:
        parts += [struct.pack("!I", len(au)), au]
    tmp.write_bytes(b"".join(parts))
    tmp.replace(path)  # atomic: a reader never sees half a clip


def _read(path: Path) -> list[bytes] | None:
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    if not blob.startswith(_MAGIC):
        return None
    pos = len(_MAGIC)
    (count,) = struct.unpack_from("!I", blob, pos)
    pos += 4
    aus = []
    for _ in range(count):
        (size,) = struct.unpack_from("!I", blob, pos)
        aus.append(blob[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return aus if pos == len(blob) else None


def load_clip(key: ClipKey, cache_dir: Path | None) -> Clip:
    """Return the clip for ``key``, from ``cache_dir`` when there, else encode and store it."""
    plan = plan_for(key.fault, key.width, key.height, key.fps)
    path = cache_dir / f"{key.codec}-{key.digest()}.clip" if cache_dir else None
    aus = _read(path) if path else None
    if aus is None:
        aus = encode(key, plan)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(path, aus)
    return Clip.from_access_units(key, plan, aus)
