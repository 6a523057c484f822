"""Real clients (ffprobe, OpenCV, PyAV) read every kind of stream the simulator serves."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests import simulator_fixtures as fx
from tests.simulator_fixtures import (
    SimFactory,
    decode_frames,
    ffprobe,
)

# Fixtures, until tests/conftest.py lists tests.simulator_fixtures in pytest_plugins.
simulator = fx.simulator
sim_cache_dir = fx.sim_cache_dir

pytestmark = pytest.mark.ffmpeg

CAMERAS = [
    {"id": "h264-digest", "codec": "h264", "auth": "digest"},
    {"id": "h264-basic-pcmu", "codec": "h264", "auth": "basic", "audio": "pcmu"},
    {"id": "h265-basic-aac", "codec": "h265", "auth": "basic", "audio": "aac"},
    {"id": "h265-digest", "codec": "h265", "auth": "digest", "width": 640, "height": 360},
    {"id": "h264-aac-open", "codec": "h264", "audio": "aac"},
]
EXPECTED = {
    "h264-digest": ("h264", 320, 180, None),
    "h264-basic-pcmu": ("h264", 320, 180, "pcm_mulaw"),
    "h265-basic-aac": ("hevc", 320, 180, "aac"),
    "h265-digest": ("hevc", 640, 360, None),
    "h264-aac-open": ("h264", 320, 180, "aac"),
}


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_ffprobe_reads_every_stream_kind(simulator: SimFactory, transport: str) -> None:
    sim = await simulator({"cameras": CAMERAS})
    results = await asyncio.gather(*(ffprobe(c.url, transport) for c in sim.cameras.values()))
    for cam_id, streams in zip(sim.cameras, results, strict=True):
        codec, width, height, audio = EXPECTED[cam_id]
        video = [s for s in streams if s["codec_type"] == "video"]
        assert len(video) == 1, (cam_id, streams)
        assert (video[0]["codec_name"], video[0]["width"], video[0]["height"]) == (
            codec,
            width,
            height,
        ), cam_id
        sounds = [s["codec_name"] for s in streams if s["codec_type"] == "audio"]
        assert sounds == ([audio] if audio else []), cam_id


def _opencv_read(url: str) -> tuple[bool, tuple[int, ...]]:
    import cv2

    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    try:
        ok, frame = cap.read()
        return ok, (frame.shape if ok else ())
    finally:
        cap.release()


@pytest.mark.parametrize("codec", ["h264", "h265"])
async def test_opencv_reads_a_frame(simulator: SimFactory, codec: str) -> None:
    sim = await simulator({"cameras": [{"id": "cv", "codec": codec, "auth": "digest"}]})
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="test-opencv") as pool:
        ok, shape = await asyncio.wait_for(
            loop.run_in_executor(pool, _opencv_read, sim.cameras["cv"].url), 20
        )
    assert ok
    assert shape == (180, 320, 3)


async def test_decoded_picture_has_content_and_moves(simulator: SimFactory) -> None:
    sim = await simulator({"cameras": [{"id": "pic", "scene": "coffee"}]})
    frames = await decode_frames(sim.cameras["pic"].url, count=12)
    first, last = frames[0].astype(np.float32), frames[-1].astype(np.float32)
    assert first.std() > 30  # a real photograph, not a flat test card
    assert np.abs(first - last).mean() > 1.0  # pan/zoom and moving shapes


async def test_low_resolution_and_low_fps_are_real(simulator: SimFactory) -> None:
    sim = await simulator(
        {
            "cameras": [
                {"id": "lowres", "fault": "low_resolution", "width": 640, "height": 360},
                {"id": "lowfps", "fault": "low_fps"},
            ]
        }
    )
    lowres, lowfps = await asyncio.gather(
        ffprobe(sim.cameras["lowres"].url), ffprobe(sim.cameras["lowfps"].url)
    )
    assert (lowres[0]["width"], lowres[0]["height"]) == (320, 180)
    num, den = (int(x) for x in lowfps[0]["r_frame_rate"].split("/"))
    assert num / den <= 6
