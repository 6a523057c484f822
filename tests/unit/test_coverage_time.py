"""Time-weighted coverage by pieces against stepping through every change, and gap tags."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pytest
import shapely

from collector.coverage import CameraView, CommuneCoverage, time_weighted
from collector.coverage_pieces import gap_tags
from collector.coverage_time import Stretches, merge_spans, union_time, working_spans
from tests.unit.test_coverage import F

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def stepped(cov: CommuneCoverage, stretches: Stretches, days: int) -> dict[str, float]:
    """The definition: set every camera's state on each stretch, weight the summary."""
    t1 = T0 + days * DAY
    spans = working_spans(stretches, T0, t1)
    cuts = {T0.timestamp(), t1.timestamp()}
    for lo, hi in spans.values():
        cuts |= {float(x) for x in (*lo, *hi)}
    times = sorted(cuts)
    acc: dict[str, float] = {}
    for a, b in pairwise(times):
        mid = (a + b) / 2
        for cam in cov.cameras:
            lo, hi = spans.get(cam.id, (np.zeros(0), np.zeros(0)))
            cov.set_working(cam.id, bool(np.any((lo <= mid) & (mid < hi))))
        for kind, figure in cov.summary().items():
            if figure.total > 0:
                acc[kind] = acc.get(kind, 0.0) + figure.covered * (b - a)
    totals = cov.summary()
    return {k: v / (totals[k].total * (t1 - T0).total_seconds()) for k, v in acc.items()}


def random_commune(rng: random.Random, n_cams: int) -> CommuneCoverage:
    """Cameras crowded round a road bend, a field, a market and two points."""
    road = shapely.LineString([(-300, 0), (0, 40), (250, -30), (400, 100)])
    field = shapely.Polygon([(-150, 30), (60, 60), (40, 200), (-170, 180)])
    market = shapely.box(100, 20, 160, 70)
    areas = [
        F.area("road", "main_road", road, 2.0),
        F.area("border", "village_border", shapely.LineString([(-300, -80), (300, -60)])),
        F.area("field", "area", field),
        F.area("market", "hotspot", market, 3.0),
        F.area("gate", "hotspot", shapely.Point(0, 45)),
        F.area("well", "hotspot", shapely.Point(-100, 100)),
    ]
    cams: list[CameraView] = []
    for k in range(n_cams):
        x, y = rng.uniform(-300, 350), rng.uniform(-100, 200)
        fisheye = rng.random() < 0.15
        cams.append(
            F.cam(
                f"c{k:02d}", x, y, None if fisheye else rng.uniform(0, 360),
                360.0 if fisheye else rng.choice([60.0, 90.0, 110.0]),
                rng.uniform(40, 160), working=rng.random() < 0.5,
            )
        )  # fmt: skip
    return CommuneCoverage("00001", cams, areas)


def random_timeline(rng: random.Random, cams: list[CameraView], days: int) -> Stretches:
    out: Stretches = {}
    for cam in cams:
        if rng.random() < 0.1:
            continue  # never reported: not working all along
        t, rows = T0 - rng.uniform(0, 3) * DAY, []
        while t < T0 + days * DAY:
            length = rng.uniform(0.2, 6) * DAY
            rows.append((t, t + length, rng.random() < 0.7))
            t += length + (rng.uniform(0, 1) * DAY if rng.random() < 0.2 else timedelta(0))
        out[cam.id] = rows
    return out


@pytest.mark.parametrize("seed", range(8))
def test_pieces_give_what_stepping_through_every_change_gives(seed: int) -> None:
    rng = random.Random(seed)
    cov = random_commune(rng, rng.randint(3, 14) if seed < 6 else 30)  # 30: crowded overlays
    stretches = random_timeline(rng, cov.cameras, 30)
    before = cov.working.copy()
    got = time_weighted(cov, stretches, T0, T0 + 30 * DAY)
    assert (cov.working == before).all()  # the coverage is left as it was
    want = stepped(cov, stretches, 30)
    assert set(got) == set(want) == {"main_road", "village_border", "area", "hotspot"}
    for kind, value in want.items():
        assert got[kind] == pytest.approx(value, rel=1e-7, abs=1e-9), kind
    assert any(0.0 < v < 1.0 for v in got.values())  # a real mix, not all or nothing


def test_union_time_and_merged_spans() -> None:
    group = np.array([1, 0, 0, 0, 1], np.intp)
    lo = np.array([5.0, 0.0, 2.0, 8.0, 7.0])
    hi = np.array([6.0, 2.0, 4.0, 8.0, 9.0])  # 0: [0,2]+[2,4] touch, [8,8] is empty
    g, a, b = merge_spans(group, lo, hi)
    assert (g.tolist(), a.tolist(), b.tolist()) == ([0, 1, 1], [0.0, 5.0, 7.0], [4.0, 6.0, 9.0])
    ptr = np.array([0, 1, 3], np.intp)
    time = union_time([[0], [1], [0, 1]], ptr, a, b)
    assert time.tolist() == [4.0, 3.0, 7.0]  # camera 0 [0,4], camera 1 [5,6]+[7,9]


@pytest.mark.parametrize("seed", range(4))
def test_gap_tags_are_the_gaps_kinds_and_tags(seed: int) -> None:
    cov = random_commune(random.Random(seed), 10)
    want = sorted((g.kind, g.tag) for g in cov.gaps())
    assert sorted(gap_tags(cov, set())) == want
    assert want  # the random communes have gaps


def test_a_gone_camera_makes_nothing_repairable() -> None:
    # A watches the gate and 40 m of the road; it is broken, then removed.
    cams = [F.cam("A", 0, 10, 0, working=False), F.cam("B", 300, 10, 0)]
    areas = [
        F.area("r", "main_road", shapely.LineString([(-200, 60), (200, 60)])),
        F.area("g", "hotspot", shapely.Point(0, 40)),
        F.area("f", "area", shapely.box(-60, 15, 60, 70)),
    ]
    cov = CommuneCoverage("1", cams, areas)
    broken = sorted(gap_tags(cov, set()))
    assert ("hotspot", "repairable") in broken
    assert ("main_road", "repairable") in broken
    assert ("area", "repairable") in broken
    gone = sorted(gap_tags(cov, {"A"}))
    without = sorted((g.kind, g.tag) for g in CommuneCoverage("1", cams[1:], areas).gaps())
    assert gone == without
    assert all(tag == "no_camera" for _, tag in gone)
