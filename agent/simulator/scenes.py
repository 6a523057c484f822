"""Scene pictures: scikit-image sample photographs, gently swaying, moving shapes, OSD.

Nothing is downloaded: the photographs ship inside scikit-image. Motion is periodic with the
clip length, so a looped clip has no visible jump except the OSD clock. The OSD text (date,
time and a scene label) is burnt in after optics-like faults, as real cameras do.

A community camera is fixed on a pole: its view does not pan. The photo only sways a little,
as a pole does in the wind, and movement comes from objects; a real pan would be the
``moved`` fault. Parameters: canvas = photo resized to cover 1.3x the output; zoom
1.075 +- 0.005; sway +-0.6 % of the width and +-0.4 % of the height; one "vehicle" box
crossing the lower third once per clip and a "person" disc bobbing; OSD font 0.55 x
height/360.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import cache

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]

#: Photo loader name in ``skimage.data`` and the OSD label (ASCII: cv2 has no diacritics).
_PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("astronaut", "CONG UBND XA"),
    "coffee": ("coffee", "QUAN CA PHE CHO"),
    "chelsea": ("chelsea", "NGO 12 THON 3"),
    "rocket": ("rocket", "SAN VAN HOA"),
    "motorcycle": ("stereo_motorcycle", "BAI XE TRUONG"),
    "photographer": ("camera", "NHA VAN HOA"),
}
COVER = 1.3


@cache
def load_photo(scene: str) -> Image:
    """Return the scene's photograph as a BGR ``uint8`` array (cached per process)."""
    from skimage import data  # heavy import only when pictures are needed

    loader, _ = _PHOTOS[scene]
    raw = getattr(data, loader)()
    if isinstance(raw, tuple):  # stereo_motorcycle returns (left, right, disparity)
        raw = raw[0]
    img = np.asarray(raw, dtype=np.uint8)
    if img.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    return np.ascontiguousarray(img[:, :, 2::-1])


def scene_label(scene: str) -> str:
    """Return the OSD label burnt into pictures of ``scene``."""
    return _PHOTOS[scene][1]


class SceneRenderer:
    """Render the moving picture of one scene at a given time, without OSD."""

    def __init__(self, scene: str, width: int, height: int, period: float) -> None:
        self.width, self.height, self.period = width, height, period
        photo = load_photo(scene)
        ph, pw = photo.shape[:2]
        scale = max(COVER * width / pw, COVER * height / ph)
        size = (max(width, round(pw * scale)), max(height, round(ph * scale)))
        self.canvas: Image = np.asarray(
            cv2.resize(photo, size, interpolation=cv2.INTER_AREA), dtype=np.uint8
        )

    def picture(
        self, t: float, shift: tuple[float, float] = (0.0, 0.0), angle: float = 0.0
    ) -> Image:
        """Return the scene at ``t`` seconds; ``shift`` (fractions) and ``angle`` move the view."""
        w, h = self.width, self.height
        ch, cw = self.canvas.shape[:2]
        phase = 2 * math.pi * t / self.period
        zoom = 1.075 + 0.005 * math.sin(phase)
        cx = cw / 2 + 0.006 * w * math.sin(phase) + shift[0] * w
        cy = ch / 2 + 0.004 * h * math.cos(phase) + shift[1] * h
        m = cv2.getRotationMatrix2D((cx, cy), angle, zoom)
        m[0, 2] += w / 2 - cx
        m[1, 2] += h / 2 - cy
        frame: Image = np.asarray(
            cv2.warpAffine(
                self.canvas, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            ),
            dtype=np.uint8,
        )
        self._shapes(frame, t)
        return frame

    def _shapes(self, frame: Image, t: float) -> None:
        w, h = self.width, self.height
        u = (t % self.period) / self.period
        bw, bh = max(8, w // 8), max(6, h // 12)
        x = int(-bw + u * (w + bw))
        y = int(h * 0.72)
        cv2.rectangle(frame, (x, y), (x + bw, y + bh), (40, 40, 200), -1)
        cv2.rectangle(frame, (x + bw // 6, y - bh // 2), (x + bw * 2 // 3, y), (30, 30, 150), -1)
        r = max(4, h // 30)
        px = int(w * 0.25 + w * 0.1 * math.sin(2 * math.pi * u))
        py = int(h * 0.55 + h * 0.03 * abs(math.sin(6 * math.pi * u)))
        cv2.circle(frame, (px, py), r, (60, 200, 240), -1)
        cv2.line(frame, (px, py + r), (px, py + 4 * r), (60, 200, 240), max(2, r // 2))


def draw_osd(frame: Image, label: str, when: datetime) -> None:
    """Burn the camera OSD into ``frame`` in place: date/time top-left, label bottom-right."""
    h, w = frame.shape[:2]
    scale = 0.55 * h / 360
    thick = max(1, round(scale * 2))
    stamp = when.strftime("%d-%m-%Y %a %H:%M:%S")
    for text, org in (
        (stamp, (int(w * 0.02), int(h * 0.08))),
        (label, None),
    ):
        (tw, _th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        pos = org or (w - tw - int(w * 0.02), h - int(h * 0.04))
        cv2.putText(frame, text, pos, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2)
        cv2.putText(frame, text, pos, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick)
