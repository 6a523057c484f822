"""Picture fault renderings: how each fault changes the encoded clip.

The OSD (date/time + label) is always burnt in after the fault, like a real camera whose
optics or sensor fail while its OSD generator keeps working. Parameters (0-255 scale):

==============  ===========================================================================
healthy         scene as rendered (photo pan/zoom, moving shapes)
black           all pixels 0; the OSD stays visible on black
covered         lens covered by a hand/cloth/tape in daylight: blur sigma = width/8,
                contrast x 0.2 around grey 75, warm tint (B,G,R x 0.8, 0.95, 1.2), noise 2
blurred         out of focus: Gaussian blur sigma = width/80 (8 px at 640); OSD stays sharp
frozen          one picture (t = 0) repeated; the OSD clock stopped too
moved           view shifted by +35 % width, +20 % height and rotated 15 degrees
noisy           additive Gaussian noise sigma 40, fresh every frame
too_dark        pixel values x 0.12 (mean ~ 12-15)
too_bright      pixel values x 0.35 + 190 (washed out, mean ~ 230)
color_cast      failing IR-cut filter: B x 1.15, G x 0.55, R x 1.35 (magenta)
night           night IR (not a fault): grey, x 0.55 + 15, noise sigma 12
low_fps         actual frame rate = max(1, declared // 5); SDP still declares the full rate
low_resolution  encoded at half width and half height; SDP still declares the full size
==============  ===========================================================================

Stream-level behaviours (refuse, silent, auth, not_found, no_rtp, no_keyframe, no_audio)
use the healthy clip and are implemented by the RTSP server.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]


@dataclass(frozen=True)
class RenderPlan:
    """How to render a clip for one fault: size, real frame rate and picture changes."""

    fault: str
    width: int
    height: int
    fps: int
    freeze: bool = False
    shift: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0


def plan_for(fault: str, width: int, height: int, fps: int) -> RenderPlan:
    """Return the render plan of ``fault`` for a camera declaring ``width``x``height``@``fps``."""
    picture = fault if fault in _FILTERS or fault in {"frozen", "moved"} else "healthy"
    if fault == "low_fps":
        return RenderPlan("healthy", width, height, max(1, fps // 5))
    if fault == "low_resolution":
        return RenderPlan("healthy", (width // 4) * 2, (height // 4) * 2, fps)
    if fault == "moved":
        return RenderPlan(picture, width, height, fps, shift=(0.35, 0.2), angle=15.0)
    return RenderPlan(picture, width, height, fps, freeze=fault == "frozen")


def _clip(values: NDArray[np.float32]) -> Image:
    return np.clip(values, 0, 255).astype(np.uint8)


def _noise(frame: Image, sigma: float, rng: np.random.Generator) -> Image:
    noise = rng.normal(0.0, sigma, frame.shape).astype(np.float32)
    return _clip(frame.astype(np.float32) + noise)


def _black(frame: Image, rng: np.random.Generator) -> Image:
    del rng
    return np.zeros_like(frame)


def _covered(frame: Image, rng: np.random.Generator) -> Image:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    soft = cv2.GaussianBlur(grey, (0, 0), frame.shape[1] / 8).astype(np.float32)
    # a lit, nearly flat surface right on the lens (a dark one is judged "black")
    flat = 75.0 + (soft - float(soft.mean())) * 0.2
    tinted = flat[:, :, None] * np.array([0.8, 0.95, 1.2], dtype=np.float32)
    return _noise(_clip(tinted), 2.0, rng)


def _blurred(frame: Image, rng: np.random.Generator) -> Image:
    del rng
    return np.asarray(cv2.GaussianBlur(frame, (0, 0), frame.shape[1] / 80), dtype=np.uint8)


def _noisy(frame: Image, rng: np.random.Generator) -> Image:
    return _noise(frame, 40.0, rng)


def _too_dark(frame: Image, rng: np.random.Generator) -> Image:
    del rng
    return _clip(frame.astype(np.float32) * 0.12)


def _too_bright(frame: Image, rng: np.random.Generator) -> Image:
    del rng
    return _clip(frame.astype(np.float32) * 0.35 + 190.0)


def _color_cast(frame: Image, rng: np.random.Generator) -> Image:
    del rng
    gains = np.array([1.15, 0.55, 1.35], dtype=np.float32)  # B, G, R
    return _clip(frame.astype(np.float32) * gains)


def _night(frame: Image, rng: np.random.Generator) -> Image:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32) * 0.55 + 15.0
    noisy = _noise(_clip(grey), 12.0, rng)
    return np.asarray(cv2.cvtColor(noisy, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


_FILTERS = {
    "black": _black,
    "covered": _covered,
    "blurred": _blurred,
    "noisy": _noisy,
    "too_dark": _too_dark,
    "too_bright": _too_bright,
    "color_cast": _color_cast,
    "night": _night,
}


def apply_picture_fault(fault: str, frame: Image, rng: np.random.Generator) -> Image:
    """Return ``frame`` changed by ``fault`` (unchanged for faults without a picture filter)."""
    fn = _FILTERS.get(fault)
    return frame if fn is None else fn(frame, rng)
