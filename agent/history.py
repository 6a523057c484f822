"""What the agent remembers about one camera between probes.

A :class:`CameraHistory` holds the last grey analysis frame and when it was taken (for
``frozen``; full analysis width, about 230 kB, so a ticking OSD clock stays visible),
a reference thumbnail learned while the picture was healthy (for ``moved``), and baselines of
sharpness and brightness by hour of day (a camera that is always a little soft is judged
against itself). It is saved as one ``.npz`` file per camera, written atomically, and a
corrupt file starts a fresh history instead of stopping the agent.

One history belongs to one camera task; it is not locked, so never share one between threads.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

#: Width of the reference thumbnail used to see whether the camera was moved.
REFERENCE_WIDTH = 160
_HOURS = 24
_BASELINE_CAP = 200  # the hourly mean forgets slowly: a new lens shows within days


def grey(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Return ``image`` as one grey channel (BGR input or already grey)."""
    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def thumbnail(image: NDArray[np.uint8], width: int) -> NDArray[np.uint8]:
    """Return a grey copy of ``image`` scaled to ``width`` (INTER_AREA, aspect kept)."""
    g = grey(image)
    h, w = g.shape
    size = (width, max(1, round(h * width / w)))
    return np.asarray(cv2.resize(g, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _same_shape(name: str, arr: NDArray[Any], want: NDArray[Any]) -> NDArray[Any]:
    """Return ``arr`` as ``want``'s dtype; a saved array of another shape is corruption."""
    if arr.shape != want.shape:
        raise ValueError(f"{name} has shape {arr.shape}, not {want.shape}")
    return arr.astype(want.dtype)


class CameraHistory:
    """The memory of one camera: last frame, learned reference and hourly baselines."""

    def __init__(self) -> None:
        self.last: NDArray[np.uint8] | None = None
        self.last_at: datetime | None = None
        self.reference: NDArray[np.float32] | None = None
        self.healthy_streak = 0
        self.moved_streak = 0
        self.sharpness = np.zeros(_HOURS, dtype=np.float64)
        self.brightness = np.zeros(_HOURS, dtype=np.float64)
        self.samples = np.zeros(_HOURS, dtype=np.int64)
        # Mean CIELAB a*, b* of colour (day) frames by hour; night IR frames are grey.
        self.colour = np.zeros((_HOURS, 2), dtype=np.float64)
        self.colour_samples = np.zeros(_HOURS, dtype=np.int64)

    def set_reference(self, image: NDArray[np.uint8]) -> None:
        """Use ``image`` (BGR or grey, any size) as the view the camera should keep."""
        self.reference = thumbnail(image, REFERENCE_WIDTH).astype(np.float32)

    def learn(self, small: NDArray[np.uint8], rate: float) -> None:
        """Blend a healthy reference-sized thumbnail into the reference (set it if none)."""
        cur = small.astype(np.float32)
        if self.reference is None or self.reference.shape != cur.shape:
            self.reference = cur
        else:
            cv2.accumulateWeighted(cur, self.reference, rate)

    def baseline(self, hour: int) -> tuple[float, float, int]:
        """Return (sharpness, brightness, samples) learned for ``hour`` of day."""
        return float(self.sharpness[hour]), float(self.brightness[hour]), int(self.samples[hour])

    def colour_baseline(self, hour: int) -> tuple[float, float, int]:
        """Return (a*, b*, samples): the usual mean colour of day frames at ``hour``."""
        a, b = self.colour[hour]
        return float(a), float(b), int(self.colour_samples[hour])

    def add_baseline(
        self, hour: int, sharpness: float, brightness: float, colour: tuple[float, float] | None
    ) -> None:
        """Fold one healthy frame into the hour's running means (colour only for day frames)."""
        n = min(int(self.samples[hour]) + 1, _BASELINE_CAP)
        self.sharpness[hour] += (sharpness - self.sharpness[hour]) / n
        self.brightness[hour] += (brightness - self.brightness[hour]) / n
        self.samples[hour] = n
        if colour is not None:
            k = min(int(self.colour_samples[hour]) + 1, _BASELINE_CAP)
            self.colour[hour] += (np.array(colour) - self.colour[hour]) / k
            self.colour_samples[hour] = k

    def save(self, path: Path) -> None:
        """Write the history to ``path`` (.npz) atomically: temp file, then rename."""
        meta = {
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "healthy_streak": self.healthy_streak,
            "moved_streak": self.moved_streak,
        }
        arrays: dict[str, NDArray[np.generic]] = {
            "meta": np.array(json.dumps(meta)),
            "sharpness": self.sharpness,
            "brightness": self.brightness,
            "samples": self.samples,
            "colour": self.colour,
            "colour_samples": self.colour_samples,
        }
        if self.last is not None:
            arrays["last"] = self.last
        if self.reference is not None:
            arrays["reference"] = self.reference
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
            tmp = Path(f.name)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> CameraHistory:
        """Read a history saved by :meth:`save`; a missing or corrupt file gives a fresh one."""
        history = cls()
        if not path.exists():
            return history
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                last_at = meta["last_at"]
                history.last_at = datetime.fromisoformat(last_at) if last_at else None
                history.healthy_streak = int(meta["healthy_streak"])
                history.moved_streak = int(meta["moved_streak"])
                for name in ("sharpness", "brightness", "samples", "colour", "colour_samples"):
                    setattr(history, name, _same_shape(name, data[name], getattr(history, name)))
                if "last" in data:
                    history.last = data["last"].astype(np.uint8)
                if "reference" in data:
                    history.reference = data["reference"].astype(np.float32)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
            log.warning(
                "Lịch sử camera hỏng, bắt đầu lại / camera history %s is corrupt (%s); "
                "starting fresh",
                path,
                exc,
            )
            return cls()
        return history
