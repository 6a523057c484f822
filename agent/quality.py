"""Picture judgment: which faults one decoded keyframe shows, given the camera's history.

The agent decodes one keyframe per probe, scales it to :data:`ANALYSIS_WIDTH` and calls
:func:`judge`. Every measure is chosen to survive the burnt-in OSD text (camera name and
clock) that real cameras draw: statistics are medians over a grid of blocks or percentiles,
so a few blocks of white text on a black or covered picture do not hide the fault.

Measures (all in :attr:`Judgment.metrics`, grey levels 0-255 unless said):

* ``brightness`` mean grey; ``p10``/``p90`` percentiles; ``clipped`` share >= 245.
* ``structure`` 75th percentile over blocks of the block's standard deviation.
* ``sharpness`` median over the most textured quarter of blocks of the share of gradient
  lost when the block is blurred again (0 = already blurred, about 0.6 for a sharp
  picture; after Crété et al. 2007).
* ``noise`` the 25th percentile over blocks of Immerkær's (1996) noise sigma (green).
* ``saturation`` mean chroma (max - min channel of a thumbnail); ``colour_rg`` and
  ``colour_bg`` log ratios of the mean red and blue to green; ``cast`` the largest log
  ratio between channel means (grey world); ``edge_cast`` the same between channel edge
  strengths (grey edge); ``cast_shift`` distance from the camera's usual colour this hour.
* ``diff_last`` mean difference to the previous frame; ``changed_block`` largest block
  share of pixels changed by more than 40 levels; ``seconds_last`` age of that frame.
* ``shift_ref`` shift to the reference as a share of width; ``ref_similarity`` correlation
  of band-passed thumbnails once aligned.

``black`` and ``covered`` hide every other picture fault: nothing else can be read from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from agent import picture_metrics as pm
from agent.history import REFERENCE_WIDTH, CameraHistory, grey
from agent.messages import Fault

#: Width the agent asks PyAV to scale each keyframe to before :func:`judge` (aspect kept).
#: 640 keeps a defocus of 0.3 % of the width (6 px on 1080p) measurable.
ANALYSIS_WIDTH = 640


class Thresholds(BaseModel):
    """Limits of the picture judgment; each one may be set per camera.

    The measures they apply to are described in the module docstring.
    """

    model_config = ConfigDict(extra="forbid")

    black_p90: float = Field(24.0, description="black: 90th percentile grey at most this.")
    black_structure: float = Field(2.5, description="black: and structure at most this.")
    covered_structure: float = Field(
        0.04, description="covered: structure / (brightness + 20) at most this (flat surface)."
    )
    blur_sharpness: float = Field(0.4, description="blurred: sharpness (0..1) below this.")
    blur_drop: float = Field(
        0.8,
        description="blurred: or sharpness below this share of the hour's own baseline "
        "(clean and night frames of the tuning seed stay at 0.87 or more of theirs).",
    )
    baseline_samples: int = Field(
        30, ge=1, description="Healthy frames an hour needs before its baselines are used."
    )
    noise_sigma: float = Field(8.0, description="noisy: estimated noise sigma above this.")
    night_saturation: float = Field(
        12.0, description="A picture this grey (median chroma below) is night IR (or mono)."
    )
    night_noise_sigma: float = Field(
        14.0,
        description="noisy: on a night IR picture, noise sigma above this (IR is noisier: "
        "the simulator's IR grain of sigma 12 measures about 10 after H.264).",
    )
    too_dark_brightness: float = Field(
        40.0, description="too_dark: mean grey below this (night IR is usually 50-110)."
    )
    too_bright_brightness: float = Field(
        175.0, description="too_bright: mean grey above this (flat and bright is too_bright)."
    )
    too_bright_clipped: float = Field(
        0.1, description="too_bright: or share of pixels at 245 or more above this."
    )
    too_bright_p10: float = Field(
        140.0, description="too_bright: or 10th percentile grey above this (washed out)."
    )
    colour_saturation: float = Field(
        6.0, description="Saturation from which a frame is a colour frame (IR is grey)."
    )
    cast_shift: float = Field(
        0.2, description="color_cast: cast_shift above this (0.2 ~ a 22 % gain imbalance)."
    )
    cast_chroma: float = Field(
        0.3, description="color_cast with no colour baseline: cast above this ..."
    )
    cast_edge: float = Field(0.45, description="... and edge_cast above this (grey edge).")
    frozen_changed: float = Field(
        0.006, description="frozen: changed_block below this (a ticking OSD clock is above)."
    )
    frozen_diff: float = Field(3.0, description="frozen: and diff_last below this.")
    frozen_min_seconds: float = Field(
        1.0, description="frozen: only judged when the previous frame is this much older."
    )
    moved_shift: float = Field(0.04, description="moved: shift_ref above this.")
    moved_similarity: float = Field(0.6, description="moved: or ref_similarity below this.")
    reference_after: int = Field(
        5, ge=1, description="Fault-free frames in a row before a reference is first learned."
    )
    reference_rate: float = Field(
        0.02, gt=0, le=1, description="Weight of a healthy frame when refreshing the reference."
    )
    relearn_after: int = Field(
        1440, ge=1, description="Frames with only 'moved' before the new view is the reference."
    )
    min_resolution_ratio: float = Field(
        0.99, description="low_resolution: decoded pixels below this share of declared."
    )
    min_fps_ratio: float = Field(
        0.8, description="low_fps: measured frame rate below this share of declared."
    )


@dataclass
class Judgment:
    """The faults of one picture and the measures they were read from."""

    faults: list[Fault]
    metrics: dict[str, float] = field(default_factory=dict)


def _prepare(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 BGR image, got shape {image.shape}")
    h, w = image.shape[:2]
    if w > ANALYSIS_WIDTH:
        size = (ANALYSIS_WIDTH, max(1, round(h * ANALYSIS_WIDTH / w)))
        return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
    return image


def _picture_metrics(
    bgr: NDArray[np.uint8], g: NDArray[np.uint8], half: NDArray[np.uint8]
) -> dict[str, float]:
    """Measure exposure, structure, sharpness, noise and colour of one analysis frame.

    ``g`` is the grey analysis frame, ``half`` the grey frame at half size; see
    :mod:`agent.picture_metrics` for where each measure is read and why.
    """
    metrics = pm.exposure(half)
    metrics["sharpness"] = pm.sharpness(g)
    metrics["noise"] = pm.noise(bgr)
    metrics.update(pm.colour(pm.halve(pm.halve(bgr))))
    return metrics


def _picture_faults(
    m: dict[str, float],
    t: Thresholds,
    base_sharp: float | None,
    base_colour: tuple[float, float] | None,
) -> list[Fault]:
    if m["p90"] <= t.black_p90 and m["structure"] <= t.black_structure:
        return ["black"]
    # Flat and bright (or clipped) is over-exposure; flat otherwise is a covered lens.
    bright = m["brightness"] > t.too_bright_brightness or m["clipped"] > t.too_bright_clipped
    if not bright and m["structure"] / (m["brightness"] + 20.0) <= t.covered_structure:
        return ["covered"]
    faults: list[Fault] = []
    if m["sharpness"] < t.blur_sharpness or (
        base_sharp is not None and m["sharpness"] < t.blur_drop * base_sharp
    ):
        faults.append("blurred")
    night = m["saturation"] < t.night_saturation
    if m["noise"] > (t.night_noise_sigma if night else t.noise_sigma):
        faults.append("noisy")
    if m["brightness"] < t.too_dark_brightness:
        faults.append("too_dark")
    if bright or m["p10"] > t.too_bright_p10:
        faults.append("too_bright")
    # A picture far too dark or bright has no trustworthy colour: the exposure is the fault.
    exposure = bool(set(faults) & {"too_dark", "too_bright"})
    if not exposure and m["saturation"] >= t.colour_saturation:
        if base_colour is not None:
            shift = math.hypot(m["colour_rg"] - base_colour[0], m["colour_bg"] - base_colour[1])
            cast = shift > t.cast_shift
        else:
            cast = m["cast"] > t.cast_chroma and m["edge_cast"] > t.cast_edge
        if cast:
            faults.append("color_cast")
    return faults


def _frozen(g: NDArray[np.uint8], history: CameraHistory, at: datetime) -> dict[str, float]:
    """Compare with the previous frame; return diff metrics and seconds since it."""
    last, last_at = history.last, history.last_at
    if last is None or last_at is None or last.shape != g.shape:
        return {}
    diff, changed = pm.changes(g, last)
    return {
        "diff_last": diff,
        "changed_block": changed,
        "seconds_last": (at - last_at).total_seconds(),
    }


def judge(
    image: NDArray[np.uint8],
    history: CameraHistory | None,
    thresholds: Thresholds,
    at: datetime,
) -> Judgment:
    """Judge one BGR keyframe of a camera; update ``history`` with it when one is given.

    Args:
        image: H x W x 3 BGR picture of any size; wider than ``ANALYSIS_WIDTH`` is scaled.
        history: the camera's memory (last frame, reference, baselines) or None.
        thresholds: the camera's limits.
        at: when the frame was decoded (timezone-aware; its hour picks the baseline).

    Returns:
        The faults found and the measures behind them.
    """
    bgr = _prepare(image)
    g = grey(bgr)
    half = pm.halve(g)
    metrics = _picture_metrics(bgr, g, half)
    if history is None:
        return Judgment(_picture_faults(metrics, thresholds, None, None), metrics)
    t = thresholds
    small = pm.scaled(pm.halve(half), REFERENCE_WIDTH)
    moved = False
    if history.reference is not None and history.reference.shape == small.shape:
        metrics.update(pm.shift(history.reference, small.astype(np.float32)))
        moved = (
            metrics["shift_ref"] > t.moved_shift or metrics["ref_similarity"] < t.moved_similarity
        )
    # A camera looking elsewhere is not compared with what it used to see at this hour.
    base_sharp: float | None = None
    base_colour: tuple[float, float] | None = None
    sharp, bright, n = history.baseline(at.hour)
    if n >= t.baseline_samples and not moved:
        base_sharp = sharp
        metrics["sharpness_baseline"] = sharp
        metrics["brightness_baseline"] = bright
    a, b, n = history.colour_baseline(at.hour)
    if n >= t.baseline_samples and not moved:
        base_colour = (a, b)
        metrics["cast_shift"] = math.hypot(metrics["colour_rg"] - a, metrics["colour_bg"] - b)
    faults = _picture_faults(metrics, t, base_sharp, base_colour)
    hidden = bool(set(faults) & {"black", "covered"})
    metrics.update(_frozen(g, history, at))
    if (
        not hidden
        and metrics.get("seconds_last", 0.0) >= t.frozen_min_seconds
        and metrics["changed_block"] < t.frozen_changed
        and metrics["diff_last"] < t.frozen_diff
    ):
        faults.append("frozen")
    if moved and not hidden:
        faults.append("moved")
    _remember(history, g, small, faults, metrics, thresholds, at)
    return Judgment(faults, metrics)


def _remember(
    history: CameraHistory,
    g: NDArray[np.uint8],
    small: NDArray[np.uint8],
    faults: list[Fault],
    metrics: dict[str, float],
    t: Thresholds,
    at: datetime,
) -> None:
    """Keep the frame as the last one; learn reference and baselines from healthy frames."""
    history.last, history.last_at = g, at
    history.moved_streak = history.moved_streak + 1 if faults == ["moved"] else 0
    if history.moved_streak >= t.relearn_after:
        history.reference, history.moved_streak = None, 0
    if faults:
        history.healthy_streak = 0
        return
    history.healthy_streak += 1
    day = metrics["saturation"] >= t.colour_saturation
    colour = (metrics["colour_rg"], metrics["colour_bg"]) if day else None
    history.add_baseline(at.hour, metrics["sharpness"], metrics["brightness"], colour)
    if history.reference is not None or history.healthy_streak >= t.reference_after:
        history.learn(small, t.reference_rate)


def stream_faults(
    declared_width: int | None,
    declared_height: int | None,
    declared_fps: float | None,
    declared_audio: bool | None,
    width: int | None,
    height: int | None,
    fps: float | None,
    audio: bool | None,
    thresholds: Thresholds,
) -> list[Fault]:
    """Compare the stream with the camera's declared spec; a None declaration is not checked.

    A measured value that is None (not known) is not a fault either: the probe reports
    missing facts through its cause, not through a spec fault.
    """
    faults: list[Fault] = []
    if declared_width and declared_height and width and height:
        ratio = (width * height) / (declared_width * declared_height)
        if ratio < thresholds.min_resolution_ratio:
            faults.append("low_resolution")
    if declared_fps and fps is not None and fps < thresholds.min_fps_ratio * declared_fps:
        faults.append("low_fps")
    if declared_audio and audio is not None and not audio:
        faults.append("no_audio")
    return faults
