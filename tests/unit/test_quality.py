"""Picture judgment on frames made from real photographs, as a user of the agent sees it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import ValidationError
from skimage import data

from agent.history import CameraHistory
from agent.quality import ANALYSIS_WIDTH, Thresholds, judge, stream_faults

Image = NDArray[np.uint8]
T0 = datetime(2024, 5, 12, 10, 0, tzinfo=UTC)
TH = Thresholds()


def photo(name: str = "astronaut", size: tuple[int, int] = (1280, 720)) -> Image:
    """A 16:9 crop of a scikit-image photograph, scaled to ``size``, as BGR."""
    rgb = getattr(data, name)()
    h, w = rgb.shape[:2]
    ch = min(h, w * 9 // 16)
    crop = np.ascontiguousarray(rgb[(h - ch) // 2 : (h - ch) // 2 + ch, : ch * 16 // 9])
    bgr = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
    return np.asarray(cv2.resize(bgr, size, interpolation=cv2.INTER_CUBIC), np.uint8)


def osd(img: Image, at: datetime = T0) -> Image:
    """Burn in a camera clock and name in white with a black outline, like real cameras."""
    out = img.copy()
    h, w = out.shape[:2]
    scale, th = h / 720 * 0.9, max(1, h // 360)
    for text, org in (
        (at.strftime("%Y-%m-%d %H:%M:%S"), (20, h // 14)),
        ("CAM 07", (w - 160 * h // 720, h - 14)),
    ):
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), th + 2, cv2.LINE_AA)
        cv2.putText(
            out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), th, cv2.LINE_AA
        )
    return out


def noise(img: Image, sigma: float, seed: int = 0) -> Image:
    n = np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(img + n, 0, 255).astype(np.uint8)


def jpeg(img: Image, q: int = 70) -> Image:
    return np.asarray(cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])[1], 1))


def night(img: Image) -> Image:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    g *= 70 / g.mean()  # IR lights the scene dimmer than day, evenly grey
    return noise(cv2.cvtColor(g.astype(np.uint8), cv2.COLOR_GRAY2BGR), 4, seed=3)


def faults(img: Image, history: CameraHistory | None = None, **kw: float) -> list[str]:
    return list(judge(img, history, Thresholds(**kw), T0).faults)


FAULTS: dict[str, Callable[[Image], Image]] = {
    "black": lambda im: osd(noise(np.full_like(im, 8), 1.5)),
    "covered": lambda im: osd(noise(np.full_like(im, (60, 90, 130)), 2)),
    "blurred": lambda im: osd(cv2.GaussianBlur(im, (0, 0), im.shape[1] * 0.006)),
    "noisy": lambda im: osd(noise(im, 30)),
    "too_dark": lambda im: osd(cv2.convertScaleAbs(im, alpha=0.2)),
    "too_bright": lambda im: osd(cv2.convertScaleAbs(im, alpha=0.3, beta=180)),
    "color_cast": lambda im: osd(cv2.transform(im, np.diag([1.6, 0.8, 0.7]).astype(np.float32))),
}


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket"])
@pytest.mark.parametrize("size", [(1920, 1080), (640, 360)])
def test_clean_photographs_have_no_fault(name: str, size: tuple[int, int]) -> None:
    img = jpeg(osd(noise(photo(name, size), 1.5)), 60)
    assert faults(img) == []


@pytest.mark.parametrize("name", ["astronaut", "coffee", "rocket"])
def test_night_ir_picture_is_normal(name: str) -> None:
    """Grey, darker, noisier: not colour_cast, not noisy, not too_dark."""
    j = judge(osd(night(photo(name))), None, TH, T0)
    assert j.faults == []
    assert j.metrics["saturation"] < TH.colour_saturation


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_is_detected_on_a_photograph(fault: str) -> None:
    assert faults(jpeg(FAULTS[fault](photo("astronaut")))) == [fault]


def test_osd_text_on_a_black_picture_is_still_black() -> None:
    img = osd(np.zeros((1080, 1920, 3), np.uint8))
    assert img.max() == 255  # the white clock is there
    assert faults(img) == ["black"]


def test_a_colour_cast_is_seen_against_the_cameras_own_colour() -> None:
    """A warm scene is normal for its camera; the same scene gone blue is not."""
    history = CameraHistory()
    scene = photo("coffee")
    for i in range(TH.baseline_samples):
        at = T0 + timedelta(seconds=60 * i)
        assert judge(osd(noise(scene, 1, seed=i), at), history, TH, at).faults == []
    later = T0 + timedelta(minutes=40)
    blue = osd(cv2.transform(scene, np.diag([1.3, 1.0, 0.8]).astype(np.float32)), later)
    assert faults(blue) == []  # on its own the picture could be a blue scene
    assert judge(blue, history, TH, later).faults == ["color_cast"]
    dusk = later + timedelta(minutes=5)  # the camera switched to IR within the hour
    assert judge(osd(night(scene), dusk), history, TH, dusk).faults == []


def test_frozen_picture_versus_still_scene_with_ticking_clock() -> None:
    scene = photo("rocket")
    live, frozen = CameraHistory(), CameraHistory()
    for i in range(3):
        at = T0 + timedelta(seconds=60 * i)
        assert "frozen" not in judge(jpeg(osd(scene, at)), live, TH, at).faults
        verdict = judge(jpeg(osd(scene, T0)), frozen, TH, at).faults
        assert ("frozen" in verdict) == (i > 0)


def test_frozen_needs_the_previous_frame_a_second_older() -> None:
    history = CameraHistory()
    img = osd(photo())
    judge(img, history, TH, T0)
    assert "frozen" not in judge(img, history, TH, T0 + timedelta(milliseconds=500)).faults


def test_moved_camera_versus_small_vibration() -> None:
    big = photo("astronaut", (1600, 900))
    history = CameraHistory()
    history.set_reference(osd(big[100:820, 100:1380]))
    shake = osd(big[104:824, 106:1386])  # 6 px: wind on the pole
    assert "moved" not in judge(shake, history, TH, T0).faults
    turned = osd(big[160:880, 300:1580])  # 200 px: someone turned the camera
    assert "moved" in judge(turned, history, TH, T0 + timedelta(seconds=60)).faults


def test_reference_is_learned_after_healthy_frames() -> None:
    history = CameraHistory()
    for i in range(TH.reference_after):
        assert history.reference is None
        at = T0 + timedelta(seconds=60 * i)
        judge(osd(noise(photo(), 1, seed=i), at), history, TH, at)
    assert history.reference is not None
    turned = osd(cv2.flip(photo(), 1))
    assert "moved" in judge(turned, history, TH, T0 + timedelta(hours=1)).faults


def test_thresholds_per_camera_change_the_verdict() -> None:
    grainy = jpeg(FAULTS["noisy"](photo()))
    assert "noisy" in faults(grainy)
    assert "noisy" not in faults(grainy, noise_sigma=60)
    dim = osd(cv2.convertScaleAbs(photo(), alpha=0.45))
    assert faults(dim) == []
    assert faults(dim, too_dark_brightness=70) == ["too_dark"]


def test_thresholds_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        Thresholds(noise=3)  # type: ignore[call-arg]


def test_any_size_is_judged_and_metrics_are_plain_floats() -> None:
    j = judge(osd(photo(size=(1920, 1080))), CameraHistory(), TH, T0)
    assert ANALYSIS_WIDTH <= 640
    assert all(type(v) is float for v in j.metrics.values())
    small = judge(photo(size=(320, 180)), None, TH, T0)
    assert small.faults == []


def test_stream_faults_against_declared_spec() -> None:
    ok = stream_faults(1920, 1080, 25, True, 1920, 1080, 24.5, True, TH)
    assert ok == []
    bad = stream_faults(1920, 1080, 25, True, 640, 360, 10, False, TH)
    assert bad == ["low_resolution", "low_fps", "no_audio"]
    assert stream_faults(None, None, None, None, 320, 240, 1, False, TH) == []
    assert stream_faults(1920, 1080, 25, None, 1920, 1088, None, None, TH) == []


def test_history_survives_a_restart(tmp_path: Path) -> None:
    history = CameraHistory()
    for i in range(TH.reference_after + 1):
        at = T0 + timedelta(seconds=60 * i)
        judge(osd(noise(photo(), 1, seed=i), at), history, TH, at)
    path = tmp_path / "cams" / "cam07.npz"
    history.save(path)
    assert not list(path.parent.glob("*.tmp"))  # the temp file was renamed into place
    again = CameraHistory.load(path)
    assert again.last_at == history.last_at
    assert again.reference is not None
    assert history.reference is not None
    assert np.array_equal(again.reference, history.reference)
    assert again.baseline(T0.hour) == history.baseline(T0.hour)
    assert again.colour_baseline(T0.hour) == history.colour_baseline(T0.hour)
    # The restarted agent still knows the last picture: the same one again is frozen.
    last = osd(noise(photo(), 1, seed=TH.reference_after), T0 + timedelta(minutes=5))
    at = T0 + timedelta(minutes=6)
    assert "frozen" in judge(last, again, TH, at).faults


def test_corrupt_history_starts_fresh(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cam.npz"
    path.write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING):
        history = CameraHistory.load(path)
    assert history.reference is None
    assert history.last is None
    assert len([r for r in caplog.records if "corrupt" in r.getMessage()]) == 1
    assert CameraHistory.load(tmp_path / "missing.npz").last is None


def test_reference_can_be_set_from_an_image() -> None:
    history = CameraHistory()
    history.set_reference(photo(size=(1920, 1080)))
    assert "moved" in judge(osd(cv2.flip(photo(), 1)), history, TH, T0).faults
