"""The labelled frames of the picture-judgment benchmark, made from real photographs.

Every frame starts from a photograph that ships with scikit-image (astronaut, coffee, chelsea,
rocket, both stereo motorcycle views, camera), cropped to 16:9 and scaled to 1920x1080,
1280x720 or 640x360. A camera's OSD is burnt in (date-time clock top left, name bottom
right, white, with a black outline 70 % of the time) and every frame is JPEG-compressed.
All random choices come from one seeded generator; the ranges below are the whole recipe.

Noise is drawn on the 640-wide analysis grid and scaled up with nearest neighbour (grain of
width/640 px): a fault is what the agent sees at its analysis width, so per-pixel noise
that averages away from 1080p to 640 is not modelled (and would not be reported).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
from numpy.typing import NDArray
from skimage import data

Image = NDArray[np.uint8]
SIZES = ((1920, 1080), (1280, 720), (640, 360))

#: Every parameter of the set, in one place (documented in docs/benchmarks.md).
PARAMS: dict[str, str] = {
    "crop": "16:9 window of U(0.85, 1.0) of the largest that fits; pairs U(0.7, 0.75)",
    "sensor noise (all frames)": "sigma U(0.5, 2.0) grey levels on the 640 grid",
    "JPEG quality": "clean day U(85, 95); clean compressed U(50, 80); others U(50, 95)",
    "night IR (clean)": "grey, vignette U(0.3, 0.6), mean grey U(50, 100), noise sigma "
    "U(2, 12) (IR gain; 12 is the simulator's night grain)",
    "black": "flat level U(0, 16), noise sigma U(0.3, 2.5), OSD kept",
    "covered": "flat colour: grey level U(40, 160) (flat and brighter is too_bright), "
    "channel tint U(0.6, 1.4), linear gradient U(0, 20) "
    "levels, the scene scaled to 20x12 and back mixed at U(0, 0.15), OSD kept",
    "blurred": "Gaussian sigma U(0.3 %, 0.8 %) of width (6-15 px on 1080p)",
    "noisy": "sigma U(18, 35) on the 640 grid, colour or grey noise 50/50",
    "too_dark": "gain to a mean grey of U(15, 35)",
    "too_bright": "gain to a mean grey of U(185, 235) with clipping, or wash-out to white "
    "by U(0.55, 0.8)",
    "color_cast": "white-balance gains 1 + s cos(hue - channel angle), s U(0.3, 0.6), random hue",
    "frozen": "second frame identical, or the same picture re-encoded at another quality; "
    "clock unchanged; 60 s later",
    "moved": "reference view, then the window shifted by U(8 %, 25 %) of width, rotated "
    "U(5, 15) degrees, or zoomed U(1.3, 1.6)x",
    "clean pair": "shift U(0, 0.8 %) of width, rotation U(-0.5, 0.5) degrees, new noise, "
    "clock + U(1, 120) s; sensor noise off in half; one third at night against a day "
    "reference",
}


def scenes() -> list[Image]:
    """Return the photographs used as camera views (BGR)."""
    left, right, _ = data.stereo_motorcycle()
    rgb = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), left, right]
    out = [cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2BGR) for im in rgb]
    out.append(cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR))
    return out


@dataclass
class View:
    """Where the camera looks in its photograph: centre, crop width, angle, output size."""

    scene: int
    cx: float
    cy: float
    width: float
    angle: float
    size: tuple[int, int]
    osd_outline: bool = True
    name: str = "CAM 01"


@dataclass
class Sample:
    """One labelled case: an optional earlier frame (and reference) and the judged frame."""

    kind: str
    labels: set[str]
    frame: Image
    size: tuple[int, int]
    previous: Image | None = None
    reference: Image | None = None
    baseline: Image | None = None


def random_view(rng: np.random.Generator, photos: list[Image], scale: tuple[float, float]) -> View:
    """Pick a scene, a 16:9 window inside it and an output size."""
    scene = int(rng.integers(len(photos)))
    h, w = photos[scene].shape[:2]
    full = min(w, h * 16 / 9)
    cw = full * rng.uniform(*scale)
    ch = cw * 9 / 16
    cx = rng.uniform(cw / 2, w - cw / 2)
    cy = rng.uniform(ch / 2, h - ch / 2)
    size = SIZES[int(rng.integers(len(SIZES)))]
    name = f"CAM {int(rng.integers(1, 40)):02d} NHA VAN HOA"
    return View(scene, cx, cy, cw, 0.0, size, bool(rng.random() < 0.7), name)


def render(photo: Image, v: View) -> Image:
    """Warp the photograph window of ``v`` into an output frame."""
    w, h = v.size
    s = v.width / w
    a = math.radians(v.angle)
    c, d = s * math.cos(a), s * math.sin(a)
    # Output pixel (x, y) maps to photo point centre + R(angle) * s * (x - w/2, y - h/2).
    m = np.array(
        [[c, -d, v.cx - c * w / 2 + d * h / 2], [d, c, v.cy - d * w / 2 - c * h / 2]],
        dtype=np.float64,
    )
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    return np.asarray(cv2.warpAffine(photo, m, (w, h), flags=flags, borderMode=cv2.BORDER_REFLECT))


def add_noise(rng: np.random.Generator, img: Image, sigma: float, colour: bool = True) -> Image:
    """Add Gaussian noise drawn on the 640-wide grid and scaled up (nearest)."""
    if sigma <= 0:
        return img
    h, w = img.shape[:2]
    gw, gh = min(w, 640), max(1, round(h * min(w, 640) / w))
    n = np.rint(sigma * rng.standard_normal((gh, gw, 3 if colour else 1), dtype=np.float32))
    if not colour:
        n = np.repeat(n, 3, axis=2)
    # Saturating uint8 add and subtract: a pixel never wraps around.
    up, down = (
        cv2.resize(np.clip(x, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        for x in (n, -n)
    )
    return np.asarray(cv2.subtract(cv2.add(img, up), down), np.uint8)


def osd(img: Image, v: View, at: datetime) -> Image:
    """Burn in the camera's clock (top left) and name (bottom right)."""
    out = img.copy()
    h = out.shape[0]
    scale = h / 720 * 0.9
    th = max(1, round(h / 360))
    font = cv2.FONT_HERSHEY_SIMPLEX
    clock = at.strftime("%Y-%m-%d %H:%M:%S")
    (nw, _), _ = cv2.getTextSize(v.name, font, scale, th)
    spots = (
        (clock, (round(h * 0.03), round(h * 0.07))),
        (v.name, (out.shape[1] - nw - 12, h - 14)),
    )
    for text, org in spots:
        if v.osd_outline:
            cv2.putText(out, text, org, font, scale, (0, 0, 0), th + 2, cv2.LINE_AA)
        cv2.putText(out, text, org, font, scale, (255, 255, 255), th, cv2.LINE_AA)
    return out


def jpeg(img: Image, quality: int) -> Image:
    """Compress and decode like a keyframe through an encoder."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)


def night(rng: np.random.Generator, img: Image) -> Image:
    """Make a night-IR-like picture: grey, vignetted, darker, noisier."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    h, w = g.shape
    yy, xx = np.mgrid[0:45, 0:80].astype(np.float32)
    r2 = ((xx - 39.5) / 40) ** 2 + ((yy - 22) / 22.5) ** 2
    vignette = cv2.resize(1 - rng.uniform(0.3, 0.6) * r2 / 2, (w, h))
    g = cv2.multiply(g, vignette)
    g *= rng.uniform(50, 100) / max(float(g.mean()), 1.0)
    out = cv2.cvtColor(np.clip(g, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    return add_noise(rng, out, rng.uniform(2, 12), colour=False)


def _scale(img: Image, gain: float, offset: float = 0.0) -> Image:
    return np.asarray(cv2.convertScaleAbs(img, alpha=gain, beta=offset), np.uint8)


def fault(rng: np.random.Generator, kind: str, img: Image) -> Image:
    """Apply one picture fault to a rendered (pre-OSD) frame."""
    h, w = img.shape[:2]
    mean = max(float(cv2.mean(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))[0]), 1.0)
    if kind == "black":
        level = np.full_like(img, int(rng.uniform(0, 16)))
        return add_noise(rng, level, rng.uniform(0.3, 2.5))
    if kind == "covered":
        tint = rng.uniform(0.6, 1.4, 3)
        colour = tint * rng.uniform(40, 160) / float(tint @ [0.114, 0.587, 0.299])
        ramp = np.linspace(-0.5, 0.5, 80, dtype=np.float32)[None, :, None] * rng.uniform(0, 20)
        flat = np.broadcast_to(colour.astype(np.float32), (45, 80, 3)) + ramp
        # The scene bleeds through the cover blurred by about 5 % of the width.
        bleed = cv2.resize(img, (20, 12), interpolation=cv2.INTER_AREA).astype(np.float32)
        bleed = cv2.resize(bleed, (80, 45), interpolation=cv2.INTER_CUBIC)
        alpha = rng.uniform(0, 0.15)
        small = np.clip(flat * (1 - alpha) + bleed * alpha, 0, 255).astype(np.uint8)
        return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)
    if kind == "blurred":
        return np.asarray(cv2.GaussianBlur(img, (0, 0), rng.uniform(0.003, 0.008) * w), np.uint8)
    if kind == "too_dark":
        return _scale(img, rng.uniform(15, 35) / mean)
    if kind == "too_bright":
        if rng.random() < 0.5:
            return _scale(img, rng.uniform(185, 235) / mean)
        a = rng.uniform(0.55, 0.8)
        return _scale(img, 1 - a, 255 * a)
    if kind == "color_cast":
        s, hue = rng.uniform(0.3, 0.6), rng.uniform(0, 2 * math.pi)
        gains = [1 + s * math.cos(hue - k * 2 * math.pi / 3) for k in range(3)]
        return np.asarray(cv2.transform(img, np.diag(gains).astype(np.float32)), np.uint8)
    raise ValueError(kind)


def _clock(rng: np.random.Generator) -> datetime:
    return datetime(2024, 5, 12, 6, 0, tzinfo=UTC) + timedelta(seconds=int(rng.integers(50_000)))


def finish(rng: np.random.Generator, img: Image, v: View, kind: str, at: datetime) -> Image:
    """Turn a rendered view into a frame of ``kind`` (a fault, clean, night, compressed)."""
    if kind == "night":
        img = night(rng, img)
    elif kind == "noisy":
        img = add_noise(rng, img, rng.uniform(18, 35), colour=bool(rng.random() < 0.5))
    elif kind not in ("clean", "compressed"):
        img = fault(rng, kind, img)
    if kind not in ("black", "noisy", "night"):
        img = add_noise(rng, img, rng.uniform(0.5, 2.0))
    img = osd(img, v, at)
    q = {"clean": (85, 95), "compressed": (50, 80)}.get(kind, (50, 95))
    return jpeg(img, int(rng.integers(q[0], q[1] + 1)))


def frame(rng: np.random.Generator, photos: list[Image], v: View, kind: str, at: datetime) -> Image:
    """Render view ``v`` as a frame of ``kind`` with the OSD clock at ``at``."""
    return finish(rng, render(photos[v.scene], v), v, kind, at)


PICTURE = ("black", "covered", "blurred", "noisy", "too_dark", "too_bright", "color_cast")


def generate(seed: int, per_fault: int = 60, clean: int = 150, pairs: int = 60) -> Iterator[Sample]:
    """Yield the labelled set: faults, clean day/night/compressed singles, and pairs."""
    rng = np.random.default_rng(seed)
    photos = scenes()
    singles = [(k, {k}) for k in PICTURE for _ in range(per_fault)]
    singles += [(k, set()) for k in ("clean", "night", "compressed") for _ in range(clean)]
    for kind, labels in singles:
        v = random_view(rng, photos, (0.85, 1.0))
        at = _clock(rng)
        base = render(photos[v.scene], v)
        img = finish(rng, base, v, kind, at)
        # The same view when healthy earlier in the hour: what the camera's baselines hold.
        usual = finish(rng, base, v, "night" if kind == "night" else "clean", at)
        yield Sample(kind, labels, img, v.size, baseline=usual)
    yield from _pairs(rng, photos, pairs)


def _pairs(rng: np.random.Generator, photos: list[Image], n: int) -> Iterator[Sample]:
    for i in range(3 * n):
        v = random_view(rng, photos, (0.7, 0.75))
        at = _clock(rng)
        first = frame(rng, photos, v, "clean", at)
        if i < n:  # frozen: the same picture again, maybe re-encoded, clock stuck
            again = first if rng.random() < 0.5 else jpeg(first, int(rng.integers(50, 96)))
            yield Sample("frozen", {"frozen"}, again, v.size, first, first, first)
            continue
        w = View(**v.__dict__)
        if i < 2 * n:  # moved: shifted, rotated or zoomed view
            how = int(rng.integers(3))
            if how == 0:
                d, a = v.width * rng.uniform(0.08, 0.25), rng.uniform(0, 2 * math.pi)
                w.cx += d * math.cos(a)
                w.cy += d * math.sin(a) * 9 / 16
            elif how == 1:
                w.angle = float(rng.choice([-1, 1]) * rng.uniform(5, 15))
            else:
                w.width /= rng.uniform(1.3, 1.6)
            later = frame(rng, photos, w, "clean", at + timedelta(seconds=60))
            yield Sample("moved", {"moved"}, later, v.size, first, first, first)
            continue
        d, a = v.width * rng.uniform(0, 0.008), rng.uniform(0, 2 * math.pi)
        w.cx, w.cy = w.cx + d * math.cos(a), w.cy + d * math.sin(a)
        w.angle = rng.uniform(-0.5, 0.5)
        later_at = at + timedelta(seconds=int(rng.integers(1, 121)))
        kind = "night" if rng.random() < 1 / 3 else ("clean" if rng.random() < 0.5 else "still")
        if kind == "still":  # no noise, no vibration: only the clock tells it is live
            q = int(rng.integers(85, 96))
            first = jpeg(osd(render(photos[v.scene], v), v, at), q)
            later = jpeg(osd(render(photos[v.scene], v), v, later_at), q)
        else:
            later = frame(rng, photos, w, kind, later_at)
        yield Sample(f"pair_{kind}", set(), later, v.size, first, first, first)
