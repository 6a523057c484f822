"""Placement: greedy weighted maximum coverage on a small hand-computed case."""

from __future__ import annotations

import itertools
import math

import pytest
import shapely

from collector.coverage import CommuneCoverage
from collector.placement import Candidate, candidates_along_roads, suggest
from tests.unit.test_coverage import F, Frame

TAN50 = math.tan(math.radians(50))


@pytest.fixture
def l_road() -> CommuneCoverage:
    """An L-shaped road (0,0)→(300,0)→(300,300), 600 m, weight 1; a hotspot at (100, 20),
    weight 0.5; a working camera at the road's start looking east along it: [0, 60] seen.
    """
    road = F.area("L", "main_road", shapely.LineString([(0, 0), (300, 0), (300, 300)]))
    hot = F.area("H", "hotspot", shapely.Point(100, 20), weight=0.5)
    return CommuneCoverage("1", [F.cam("E", 0, 0, 90)], [road, hot])


# New cameras: fov 100, range 60 (so the legs never lie on a wedge's edge).
POLES = {
    # at the corner looking north-west: wedge 265°..365° holds both legs: 60 + 60 m
    "P1": Candidate(*F.ll(300, 0), (315.0,)),
    # 30 m south of x = 100 looking north: |x - 100| <= 30 tan 50° (range allows 52 m),
    # 71.5 m of road, and the hotspot 50 m straight ahead
    "P2": Candidate(*F.ll(100, -30), (0.0,)),
    # same at x = 30: [0, 65.75], of which [0, 60] is already seen: 5.75 m new
    "P3": Candidate(*F.ll(30, -30), (0.0,)),
    # 20 m south of the corner's approach looking north: [290 - 20 tan 50°, 300] of the
    # first leg and, the second leg being 10 m east of it at 26.6° or less off its
    # heading, [0, sqrt(60² - 10²) - 20] of it: 73.0 m, all within what P1 sees
    "P4": Candidate(*F.ll(290, -20), (0.0,)),
}
GAIN = {
    "P1": 120 / 600,
    "P2": 2 * 30 * TAN50 / 600 + 0.5,
    "P3": (30 + 30 * TAN50 - 60) / 600,
    "P4": (10 + 20 * TAN50 + math.sqrt(60**2 - 10**2) - 20) / 600,
}
# P3 after P2: P2 sees from 100 - 30 tan 50° = 64.25, so P3 adds only [60, 64.25]
P3_AFTER_P2 = (40 - 30 * TAN50) / 600


def picks(cov: CommuneCoverage, k: int, names: list[str]) -> list[tuple[str, float]]:
    found = suggest(cov, k, [POLES[n] for n in names], fov=100.0, range_m=60.0)
    by_site = {(POLES[n].lon, POLES[n].lat): n for n in names}
    return [(by_site[(s.lon, s.lat)], s.gain) for s in found]


def test_single_gains_are_the_hand_computed_ones(l_road: CommuneCoverage) -> None:
    for name, gain in GAIN.items():
        ((got, value),) = picks(l_road, 1, [name])
        assert got == name
        assert value == pytest.approx(gain, abs=1 / 600)  # within 1 m of road


def test_greedy_finds_the_known_optimum(l_road: CommuneCoverage) -> None:
    names = list(POLES)
    assert picks(l_road, 1, names) == [("P2", pytest.approx(GAIN["P2"], abs=1e-4))]
    two = picks(l_road, 2, names)
    assert two == [
        ("P2", pytest.approx(GAIN["P2"], abs=1e-4)),
        ("P1", pytest.approx(GAIN["P1"], abs=1e-4)),  # P4 alone is worth 0.12, now 0
    ]
    # every pair, scored jointly: {P1, P2} is the best
    joint = {
        pair: sum(g for _, g in picks(l_road, 2, list(pair)))
        for pair in itertools.combinations(names, 2)
    }
    assert max(joint, key=lambda p: joint[p]) == ("P1", "P2")
    assert sum(g for _, g in two) == pytest.approx(joint[("P1", "P2")])
    # the third pick is P3 (4.25 m new); P4 then gains nothing, so the search stops early
    assert picks(l_road, 4, names) == [
        ("P2", pytest.approx(GAIN["P2"], abs=1e-4)),
        ("P1", pytest.approx(GAIN["P1"], abs=1e-4)),
        ("P3", pytest.approx(P3_AFTER_P2, abs=1e-4)),
    ]


def test_gain_is_split_by_kind(l_road: CommuneCoverage) -> None:
    (best,) = suggest(l_road, 1, [POLES["P2"]], fov=100.0, range_m=60.0)
    assert best.heading == 0.0
    assert best.gain_by_kind["hotspot"] == pytest.approx(0.5)
    assert best.gain_by_kind["main_road"] == pytest.approx(2 * 30 * TAN50 / 600, abs=1e-4)
    assert sum(best.gain_by_kind.values()) == pytest.approx(best.gain)


def test_a_pole_without_headings_tries_every_45_degrees(l_road: CommuneCoverage) -> None:
    pole = Candidate(*F.ll(150, -30))  # facing the road (0°) sees most: 71.5 m
    (best,) = suggest(l_road, 1, [pole], fov=100.0, range_m=60.0)
    assert best.heading == 0.0
    assert best.gain == pytest.approx(2 * 30 * TAN50 / 600, abs=1e-4)
    assert suggest(l_road, 0, [pole]) == []


def test_candidates_every_spacing_along_main_roads() -> None:
    frame = Frame(106.7, 10.8)
    roads = [
        frame.area("a", "main_road", shapely.LineString([(0, 0), (100, 0)])),
        frame.area("b", "main_road", shapely.LineString([(100, 0), (100, 100)])),
        frame.area("v", "village_border", shapely.LineString([(0, 50), (50, 50)])),
    ]
    cov = CommuneCoverage("1", [], roads)
    sites = candidates_along_roads(cov, spacing_m=50)
    got = []
    for site in sites:
        here = frame.local(shapely.Point(site.lon, site.lat))
        got.append((round(here.x, 2), round(here.y, 2)))
    # the shared end (100, 0) once; nothing on the border
    assert got == [(0, 0), (50, 0), (100, 0), (100, 50), (100, 100)]
    assert sites[0].headings == pytest.approx((90.0, 270.0, 180.0, 0.0), abs=1e-3)
    assert sites[3].headings == pytest.approx((0.0, 180.0, 90.0, 270.0), abs=1e-3)


def test_default_candidates_cover_an_uncovered_road() -> None:
    road = F.area("r", "main_road", shapely.LineString([(0, 0), (400, 0)]))
    cov = CommuneCoverage("1", [], [road])
    found = suggest(cov, 3)
    assert len(found) == 3
    # fov 90, range 60 from a site on the road looking along it: 60 m of 400 each
    assert [s.gain for s in found] == pytest.approx([60 / 400] * 3, abs=1e-4)
