"""The measures :mod:`agent.quality` reads faults from, computed cheaply on one frame.

The agent judges thousands of keyframes a minute on one core, so every measure is computed
where it is cheapest and still true (times on one core for a 640x360 frame):

* Detail that a halving would erase stays on the full analysis frame: sharpness (a 2 px
  defocus at 640 is 1 px at 320), noise (averaging four pixels halves its sigma) and the
  changed pixels of a ticking OSD clock.
* Everything else (histogram, block means and deviations, colour, reference thumbnail) is
  read from a pyramid of exact halvings made with ``INTER_AREA``, which OpenCV runs on a
  fast path for integer factors (640 to 320 in about 0.08 ms in colour, while a direct
  640 to 80 colour resize takes 0.4 ms).
* Block statistics come from integral images (one pass, exact sums) rather than from
  float copies of the frame: converting full frames to float32 was the largest cost.
* Percentiles of the 144 block values use one sort instead of ``np.percentile``, whose
  Python overhead (about 60 µs a call) was larger than the work.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

GRID = (16, 9)  # blocks across and down: OSD text covers only a few of them
#: Grey levels: a pixel changed more than this is more than encoder noise, less than an OSD
#: digit stroke.
CHANGE_LEVEL = 40
#: Immerkær (1996): the 3x3 mask [1 -2 1] x [1 -2 1] (separable) cancels smooth content;
#: the mean absolute response times this scale is the noise sigma.
_NOISE_1D = np.array([1, -2, 1], dtype=np.float32)
_NOISE_SCALE = math.sqrt(math.pi / 2) / 6
_COLOUR_WIDTH = 80  # colour is read from a thumbnail: means and edges of the scene, not pixels
_CLOSE = 1e-9

Grey = NDArray[np.uint8]
Floats = NDArray[np.float64]


def halve(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Return ``image`` at half size (INTER_AREA: each pixel the mean of a 2x2 square)."""
    h, w = image.shape[:2]
    size = (max(1, w // 2), max(1, h // 2))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def scaled(image: NDArray[np.uint8], width: int) -> NDArray[np.uint8]:
    """Return ``image`` scaled to ``width`` (INTER_AREA, aspect kept); as is if already so."""
    h, w = image.shape[:2]
    size = (width, max(1, round(h * width / w)))
    if (w, h) == size:
        return image
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def _grid_corners(shape: tuple[int, ...]) -> tuple[NDArray[np.intp], NDArray[np.intp], int]:
    """Return the row and column corners of the block grid and the pixels in one block.

    A ragged right or bottom edge narrower than one block is left out.
    """
    bh, bw = max(1, shape[0] // GRID[1]), max(1, shape[1] // GRID[0])
    return np.arange(GRID[1] + 1) * bh, np.arange(GRID[0] + 1) * bw, bh * bw


def block_sums(integral: NDArray[np.generic], shape: tuple[int, ...]) -> Floats:
    """Return the grid's block sums of an image from its integral (``cv2.integral``)."""
    ys, xs, _ = _grid_corners(shape)
    s = integral[np.ix_(ys, xs)].astype(np.float64)
    return np.asarray(s[1:, 1:] - s[:-1, 1:] - s[1:, :-1] + s[:-1, :-1], np.float64)


def block_means(values: cv2.typing.MatLike) -> Floats:
    """Return the block means of a one-channel uint8 image over the analysis grid."""
    _, _, n = _grid_corners(values.shape)
    return block_sums(cv2.integral(values), values.shape) / n


def block_means_float(values: NDArray[np.float32]) -> Floats:
    """Return the block means of a float32 image (INTER_AREA on the cropped grid)."""
    h, w = values.shape[:2]
    crop = values[: max(1, h // GRID[1]) * GRID[1], : max(1, w // GRID[0]) * GRID[0]]
    # An integer shrink factor takes OpenCV's fast INTER_AREA path.
    return np.asarray(cv2.resize(crop, GRID, interpolation=cv2.INTER_AREA), np.float64)


def percentile(values: Floats, q: float) -> float:
    """Return the ``q`` (0..100) percentile, linear like ``np.percentile``, in one sort."""
    v = np.sort(values, axis=None)
    if v.size == 0:
        return 0.0
    pos = q / 100 * (v.size - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, v.size - 1)
    return float(v[lo] + (v[hi] - v[lo]) * (pos - lo))


def _cdf_percentile(cdf: Floats, q: float) -> float:
    return float(np.searchsorted(cdf, q * cdf[-1]))


def sharpness(g: Grey) -> float:
    """Median over the most textured quarter of blocks of the gradient share a blur removes.

    After Crété et al. (2007): blurring a sharp picture again removes much of its gradient
    (about 0.6 of it), blurring a blurred one removes little. Gradients are uint8 absolute
    differences summed with saturation (a pixel steeper than 255 in both directions is rare
    and counts 255), and block sums come from integral images: no float copy of the frame.
    """
    blur = cv2.blur(g, (5, 5))
    dx, dy = cv2.absdiff(g[:-1, 1:], g[:-1, :-1]), cv2.absdiff(g[1:, :-1], g[:-1, :-1])
    bx, by = cv2.absdiff(blur[:-1, 1:], blur[:-1, :-1]), cv2.absdiff(blur[1:, :-1], blur[:-1, :-1])
    total = block_means(cv2.add(dx, dy))
    # cv2.subtract saturates at 0: only the gradient the blur removed counts.
    lost = block_means(cv2.add(cv2.subtract(dx, bx), cv2.subtract(dy, by)))
    # The most textured quarter of the blocks holds the scene's edges; flat blocks only
    # show sensor noise, which is sharp whatever the lens does.
    textured = total >= max(2.0, percentile(total, 75))
    if not textured.any():
        return 1.0
    return percentile(lost[textured] / total[textured], 50)


def noise(bgr: NDArray[np.uint8]) -> float:
    """Return the 25th percentile over blocks of Immerkær's noise sigma of the green channel.

    The operator cancels smooth content; the flattest blocks show the noise itself. Green
    carries most of both luma and colour noise, so it sees either kind.
    """
    green = np.empty(bgr.shape[:2], np.uint8)
    cv2.mixChannels([bgr], [green], [1, 0])
    response = cv2.sepFilter2D(green, cv2.CV_32F, _NOISE_1D, _NOISE_1D)
    return percentile(block_means_float(np.abs(response)), 25) * _NOISE_SCALE


def exposure(g: Grey) -> dict[str, float]:
    """Return brightness, contrast, percentiles, clipped share and structure of grey ``g``.

    Meant for the half-size grey frame: a 2x2 mean changes none of these by much, and
    structure (the 75th percentile of block deviations) is then less sensitive to noise.
    """
    cdf = np.cumsum(cv2.calcHist([g], [0], None, [256], [0, 256]).ravel().astype(np.float64))
    s, sq = cv2.integral2(g, sdepth=cv2.CV_32S, sqdepth=cv2.CV_64F)
    _, _, n = _grid_corners(g.shape)
    mean_b = block_sums(s, g.shape) / n
    sq_b = block_sums(sq, g.shape) / n
    std_b = np.sqrt(np.maximum(sq_b - mean_b * mean_b, 0.0))
    mean = float(mean_b.mean())
    return {
        "brightness": mean,
        "contrast": math.sqrt(max(float(sq_b.mean()) - mean * mean, 0.0)),
        "p10": _cdf_percentile(cdf, 0.10),
        "p90": _cdf_percentile(cdf, 0.90),
        "clipped": float(cdf[-1] - cdf[244]) / float(cdf[-1]),
        "structure": percentile(std_b, 75),
    }


def colour(quarter: NDArray[np.uint8]) -> dict[str, float]:
    """Return saturation and colour log ratios from a colour frame (a quarter-size one).

    Colour as log ratios of channel means: a white-balance gain shifts them by its own log,
    whatever the scene and the exposure. Grey world on means, grey edge on edges.
    """
    small = scaled(quarter, _COLOUR_WIDTH)
    # OpenCV's per-channel means and saturating differences on the uint8 thumbnail: numpy
    # reductions over the channel axis of a small array cost more than the arithmetic.
    means = np.log(np.array(cv2.mean(small)[:3]) + 1.0)
    dx = cv2.mean(cv2.absdiff(small[:, 1:], small[:, :-1]))[:3]
    dy = cv2.mean(cv2.absdiff(small[1:], small[:-1]))[:3]
    log_edges = np.log(np.add(dx, dy) + 0.5)
    channels = cv2.split(small)
    chroma = cv2.subtract(
        cv2.max(cv2.max(channels[0], channels[1]), channels[2]),
        cv2.min(cv2.min(channels[0], channels[1]), channels[2]),
    )
    return {
        "saturation": float(cv2.mean(chroma)[0]),
        "colour_rg": float(means[2] - means[1]),
        "colour_bg": float(means[0] - means[1]),
        "cast": float(means.max() - means.min()),
        "edge_cast": float(log_edges.max() - log_edges.min()),
    }


def changes(g: Grey, last: Grey) -> tuple[float, float]:
    """Return the mean difference to ``last`` and the largest block share of changed pixels.

    A re-encoded frozen picture differs a little everywhere; a live one, even a still scene,
    has at least the OSD clock's digits changing strongly in a few pixels.
    """
    diff = cv2.absdiff(g, last)
    changed = cv2.threshold(diff, CHANGE_LEVEL, 1, cv2.THRESH_BINARY)[1]
    return float(cv2.mean(diff)[0]), float(block_means(changed).max())


def bandpass(img: NDArray[np.float32]) -> NDArray[np.float32]:
    """Keep the edges of a reference-sized thumbnail: lighting cancels, a new view does not."""
    return np.asarray(
        cv2.GaussianBlur(img, (0, 0), 1.0) - cv2.GaussianBlur(img, (0, 0), 4.0), np.float32
    )


def shift(ref: NDArray[np.float32], cur: NDArray[np.float32]) -> dict[str, float]:
    """Phase-correlate the current view with the reference; return shift and similarity."""
    ref, cur = bandpass(ref), bandpass(cur)
    (dx, dy), _ = cv2.phaseCorrelate(ref, cur)
    ix, iy = round(dx), round(dy)
    h, w = cur.shape
    if abs(ix) >= w // 2 or abs(iy) >= h // 2:
        return {"shift_ref": math.hypot(dx, dy) / w, "ref_similarity": 0.0}
    a = ref[max(0, -iy) : h - max(0, iy), max(0, -ix) : w - max(0, ix)]
    b = cur[max(0, iy) : h - max(0, -iy), max(0, ix) : w - max(0, -ix)]
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    sim = float((a * b).sum()) / den if den > _CLOSE else 0.0
    return {"shift_ref": math.hypot(dx, dy) / w, "ref_similarity": sim}
