"""Decoding keyframes: errors map to decode_error; freed buffers are reused, not unmapped."""

from __future__ import annotations

import resource
from fractions import Fraction

import av
import numpy as np
import pytest

from agent.decode import analysis_image, decode_keyframe, keep_freed_memory
from agent.errors import ProbeError


def keyframe_720p() -> bytes:
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = 1280, 720, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"preset": "ultrafast", "tune": "zerolatency"}
    img = np.add.outer(np.arange(720), np.arange(1280)).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(np.stack([img] * 3, axis=-1), format="rgb24")
    frame.pts = 0
    return b"".join(bytes(p) for p in [*enc.encode(frame), *enc.encode(None)])


def test_decode_and_scale_a_real_keyframe() -> None:
    frame = decode_keyframe("h264", keyframe_720p())
    assert (frame.width, frame.height) == (1280, 720)
    image = analysis_image(frame, 640)
    assert image.shape == (360, 640, 3)
    assert image.dtype == np.uint8


def test_garbage_is_a_decode_error() -> None:
    with pytest.raises(ProbeError) as info:
        decode_keyframe("h265", b"\x00\x00\x00\x01" + bytes(range(256)) * 4)
    assert info.value.cause == "decode_error"


def test_freed_picture_buffers_are_reused() -> None:
    assert keep_freed_memory()  # glibc on every machine camnet supports
    bitstream = keyframe_720p()
    for _ in range(3):
        analysis_image(decode_keyframe("h264", bitstream), 640)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        analysis_image(decode_keyframe("h264", bitstream), 640)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
    assert faults < 100, f"{faults:.0f} page faults per decode: buffers are being unmapped"
