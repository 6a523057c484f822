"""The cheap measures behind the picture judgment agree with their plain definitions."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from skimage import data

from agent import picture_metrics as pm
from agent.quality import Thresholds, judge

T0 = datetime(2024, 5, 12, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize("q", [0, 25, 50, 75, 100])
def test_percentile_is_numpys_linear_percentile(q: float) -> None:
    values = np.random.default_rng(1).normal(size=(9, 16))
    assert pm.percentile(values, q) == pytest.approx(np.percentile(values, q))


@pytest.mark.parametrize("shape", [(360, 640), (363, 650), (90, 160)])
def test_block_means_are_the_means_of_the_grid_blocks(shape: tuple[int, int]) -> None:
    img = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    bh, bw = shape[0] // 9, shape[1] // 16
    crop = img[: bh * 9, : bw * 16].astype(np.float64)
    want = crop.reshape(9, bh, 16, bw).mean(axis=(1, 3))
    np.testing.assert_allclose(pm.block_means(img), want)
    np.testing.assert_allclose(pm.block_means_float(img.astype(np.float32)), want, rtol=1e-5)


@pytest.mark.parametrize("sigma", [3.0, 8.0, 20.0])
def test_noise_estimate_reads_the_sigma_of_flat_grain(sigma: float) -> None:
    grain = np.random.default_rng(3).normal(128, sigma, (360, 640, 3))
    img = np.clip(np.rint(grain), 0, 255).astype(np.uint8)
    assert pm.noise(img) == pytest.approx(sigma, rel=0.1)


def _grey_photo(sigma: float) -> np.ndarray:
    g = cv2.resize(data.camera()[:288], (640, 360), interpolation=cv2.INTER_AREA).astype(float)
    g = g * 70 / g.mean() + np.random.default_rng(4).normal(0, sigma, g.shape)
    return cv2.cvtColor(np.clip(g, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def test_night_ir_grain_is_normal_but_strong_grey_noise_is_noisy() -> None:
    """IR may be noisier than day (up to the night limit), not without bound."""
    th = Thresholds()
    night = judge(_grey_photo(5), None, th, T0)
    assert night.metrics["saturation"] < th.night_saturation
    assert "noisy" not in night.faults
    assert "noisy" in judge(_grey_photo(25), None, th, T0).faults
