"""Decoding keyframes: errors map to decode_error; freed buffers are reused, not unmapped."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from skimage import data

from agent.decode import analysis_image, decode_keyframe
from agent.errors import ProbeError


def keyframe_720p() -> bytes:
    """A real photograph at 1280x720, encoded as one H.264 IDR like a camera's keyframe."""
    photo = cv2.resize(np.asarray(data.astronaut()), (1280, 720), interpolation=cv2.INTER_AREA)
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = 1280, 720, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"preset": "ultrafast", "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(photo, format="rgb24")
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


def test_freed_memory_setting_applies_on_glibc() -> None:
    """The agent's entry points ask glibc to keep freed picture buffers (see the probe
    benchmark for its effect on CPU per probe)."""
    from agent.decode import keep_freed_memory

    assert keep_freed_memory()
