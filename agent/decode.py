"""Decode one keyframe with PyAV and scale it for the picture judgment.

One decoder context per keyframe, single-threaded: a probe decodes one picture, and many
probes run side by side, so frame threads would only add latency and memory. PyAV errors
are mapped here to ``ProbeError("decode_error")``.
"""

from __future__ import annotations

from typing import cast

import av
import numpy as np
from av.video.codeccontext import VideoCodecContext
from numpy.typing import NDArray

from agent.depacketize import Codec
from agent.errors import ProbeError

DECODERS: dict[Codec, str] = {"h264": "h264", "h265": "hevc"}


def decode_keyframe(codec: Codec, bitstream: bytes) -> av.VideoFrame:
    """Decode the Annex-B ``bitstream`` of one keyframe (parameter sets included)."""
    try:
        ctx = cast(VideoCodecContext, av.CodecContext.create(DECODERS[codec], "r"))
        ctx.thread_count = 1
        frames = list(ctx.decode(av.Packet(bitstream)))
        frames += ctx.decode(None)
    except (av.FFmpegError, ValueError) as exc:
        raise ProbeError("decode_error", f"{codec} decoder rejected the keyframe: {exc}") from exc
    video = [f for f in frames if isinstance(f, av.VideoFrame)]
    if not video:
        raise ProbeError("decode_error", f"{codec} decoder returned no picture for the keyframe")
    return video[0]


def analysis_image(frame: av.VideoFrame, width: int) -> NDArray[np.uint8]:
    """Return ``frame`` as BGR, scaled (area) to ``width`` keeping the aspect ratio."""
    if frame.width <= width:
        return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
    height = max(2, round(frame.height * width / frame.width / 2) * 2)
    small = frame.reformat(width=width, height=height, format="bgr24", interpolation="AREA")
    return np.asarray(small.to_ndarray(), dtype=np.uint8)


def keep_freed_memory(mmap_threshold: int = 64 << 20, trim_threshold: int = 128 << 20) -> bool:
    """Ask glibc to reuse freed decoder buffers instead of returning them to the OS.

    Every probe allocates and frees a few large picture buffers. With glibc's defaults they
    are mmap'ed and unmapped each time: about 1,600 page faults and 3.6 ms of kernel time
    per 720p probe, doubling decode+judge CPU (measured: 8.8 ms -> 4.8 ms). The price is
    that up to ``trim_threshold`` bytes of freed heap stay resident. Returns False where the
    C library has no ``mallopt`` (not glibc).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, mmap_threshold)) and bool(
        mallopt(m_trim_threshold, trim_threshold)
    )
