"""Coverage against hand-computed geometry (tolerance 1 m or better), tags, incremental.

Every case is drawn in a local transverse Mercator frame true to scale and to north at
its origin (``Frame``), converted to lon/lat, and measured by the coverage in UTM: what
comes back must be what was drawn, whatever the zone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from collector.coverage import Area, CameraView, CommuneCoverage, Gap, time_weighted


class Frame:
    """Local metres (x east, y north) around ``lon0, lat0`` ↔ WGS 84."""

    def __init__(self, lon0: float = 105.85, lat0: float = 21.0) -> None:
        local = f"+proj=tmerc +lat_0={lat0} +lon_0={lon0} +k=1 +ellps=WGS84"
        self._to = Transformer.from_crs(local, 4326, always_xy=True)
        self._from = Transformer.from_crs(4326, local, always_xy=True)

    def ll(self, x: float, y: float) -> tuple[float, float]:
        lon, lat = self._to.transform(x, y)
        return float(lon), float(lat)

    def wgs(self, geom: BaseGeometry) -> BaseGeometry:
        """A geometry drawn in local metres, densified every 10 m so every frame agrees."""
        dense = shapely.segmentize(geom, 10.0)
        return shapely.transform(dense, lambda xy: np.column_stack(self._to.transform(*xy.T)))

    def local(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: np.column_stack(self._from.transform(*xy.T)))

    def cam(
        self,
        cid: str,
        x: float,
        y: float,
        heading: float | None,
        fov: float | None = 90.0,
        range_m: float | None = 60.0,
        *,
        working: bool = True,
        kind: str = "bullet",
    ) -> CameraView:
        return CameraView(cid, *self.ll(x, y), heading, fov, range_m, kind, working)

    def area(self, aid: str, kind: str, geom: BaseGeometry, weight: float = 1.0) -> Area:
        return Area(aid, kind, self.wgs(geom), weight, aid)


F = Frame()
ROAD = shapely.LineString([(-500, 0), (500, 0)])


def ends(frame: Frame, gap: Gap) -> tuple[tuple[float, float], tuple[float, float]]:
    """First and last point of a line gap, in the frame's local metres."""
    xy = shapely.get_coordinates(frame.local(gap.geometry))
    return (float(xy[0, 0]), float(xy[0, 1])), (float(xy[-1, 0]), float(xy[-1, 1]))


def line_gaps(cov: CommuneCoverage, frame: Frame = F) -> list[tuple[float, float, str, list[str]]]:
    """(start x, end x, tag, cameras) of the line gaps, sorted by x."""
    out = []
    for gap in cov.gaps():
        if gap.kind in ("main_road", "village_border"):
            (x0, _), (x1, _) = ends(frame, gap)
            assert gap.size == pytest.approx(abs(x1 - x0), abs=0.01)
            out.append((min(x0, x1), max(x0, x1), gap.tag, gap.cameras))
    return sorted(out)


def test_straight_road_camera_at_a_known_distance_and_heading() -> None:
    # Looking north with fov 90 from (0, -20): the road y = 0 is in the wedge where
    # |x| <= 20 tan 45° = 20, in range where |x| <= sqrt(60² - 20²) = 56.6 → 40 m.
    cov = CommuneCoverage("1", [F.cam("a", 0, -20, 0)], [F.area("r", "main_road", ROAD)])
    road = cov.summary()["main_road"]
    assert road.total == pytest.approx(1000.0, abs=0.01)
    assert road.covered == pytest.approx(40.0, abs=0.01)
    assert road.fraction == pytest.approx(0.04, abs=1e-5)
    gaps = line_gaps(cov)
    assert gaps == [
        (pytest.approx(-500, abs=0.01), pytest.approx(-20, abs=0.01), "no_camera", []),
        (pytest.approx(20, abs=0.01), pytest.approx(500, abs=0.01), "no_camera", []),
    ]
    # From (0, -50): wedge |x| <= 50, range |x| <= sqrt(60² - 50²) = 33.17 → 66.33 m.
    cov = CommuneCoverage("1", [F.cam("a", 0, -50, 0)], [F.area("r", "main_road", ROAD)])
    assert cov.summary()["main_road"].covered == pytest.approx(2 * math.sqrt(1100), abs=0.01)


BORDER = shapely.LineString([(-200, 100), (200, 100)])


def border_cams(b_working: bool = True, a_working: bool = True) -> list[CameraView]:
    # A at (-50, 60) north, fov 90: dy 40 → wedge |x+50| <= 40 (range allows 44.7): [-90, -10]
    # B at (60, 130) south, fov 60, range 50: dy 30 → wedge |x-60| <= 30 tan 30° = 17.32
    #   (range allows 40): [42.68, 77.32]
    return [
        F.cam("A", -50, 60, 0, working=a_working),
        F.cam("B", 60, 130, 180, 60, 50, working=b_working),
    ]


B_LO, B_HI = 60 - 30 * math.tan(math.radians(30)), 60 + 30 * math.tan(math.radians(30))


def test_border_line_crossing_two_sectors() -> None:
    cov = CommuneCoverage("1", border_cams(), [F.area("b", "village_border", BORDER)])
    border = cov.summary()["village_border"]
    assert border.total == pytest.approx(400, abs=0.01)
    assert border.covered == pytest.approx(80 + (B_HI - B_LO), abs=0.01)
    assert line_gaps(cov) == [
        (pytest.approx(-200, abs=0.01), pytest.approx(-90, abs=0.01), "no_camera", []),
        (pytest.approx(-10, abs=0.01), pytest.approx(B_LO, abs=0.01), "no_camera", []),
        (pytest.approx(B_HI, abs=0.01), pytest.approx(200, abs=0.01), "no_camera", []),
    ]
    # the middle stretch (52.68 m) is not longer than a 60 m minimum
    cov60 = CommuneCoverage("1", border_cams(), [F.area("b", "village_border", BORDER)], 60)
    assert [g[:2] for g in line_gaps(cov60)] == [
        (pytest.approx(-200, abs=0.01), pytest.approx(-90, abs=0.01)),
        (pytest.approx(B_HI, abs=0.01), pytest.approx(200, abs=0.01)),
    ]


def test_a_broken_camera_makes_its_part_of_a_stretch_repairable() -> None:
    cov = CommuneCoverage(
        "1", border_cams(b_working=False), [F.area("b", "village_border", BORDER)]
    )
    assert cov.summary()["village_border"].covered == pytest.approx(80, abs=0.01)
    # one stretch -10..200 (210 m) cut where B would see: three pieces, B's tagged
    assert line_gaps(cov) == [
        (pytest.approx(-200, abs=0.01), pytest.approx(-90, abs=0.01), "no_camera", []),
        (pytest.approx(-10, abs=0.01), pytest.approx(B_LO, abs=0.01), "no_camera", []),
        (pytest.approx(B_LO, abs=0.01), pytest.approx(B_HI, abs=0.01), "repairable", ["B"]),
        (pytest.approx(B_HI, abs=0.01), pytest.approx(200, abs=0.01), "no_camera", []),
    ]
    # a stretch no longer than the minimum is no gap, even with a broken camera on it
    short = CommuneCoverage(
        "1", border_cams(b_working=False), [F.area("b", "village_border", BORDER)], 250
    )
    assert line_gaps(short) == []


def test_overlapping_broken_cameras_are_listed_together() -> None:
    # A' at (-40, 60) north sees [-80, 0]; with A ([-90, -10]) both broken: [-90, 0]
    cams = [*border_cams(a_working=False, b_working=False), F.cam("A2", -40, 60, 0, working=False)]
    cov = CommuneCoverage("1", cams, [F.area("b", "village_border", BORDER)])
    assert cov.summary()["village_border"].covered == 0.0
    gaps = line_gaps(cov)
    assert [(g[2], g[3]) for g in gaps] == [
        ("no_camera", []),
        ("repairable", ["A", "A2"]),
        ("no_camera", []),
        ("repairable", ["B"]),
        ("no_camera", []),
    ]
    assert gaps[1][:2] == (pytest.approx(-90, abs=0.01), pytest.approx(0, abs=0.01))
    assert sum(g[1] - g[0] for g in gaps) == pytest.approx(400, abs=0.01)


def test_hotspot_just_outside_range_is_not_seen() -> None:
    cams = [F.cam("c", 0, 0, 90), F.cam("r", 100, 0, 270, 90, 50, working=False)]
    areas = [
        F.area("in", "hotspot", shapely.Point(59.5, 0)),
        F.area("out", "hotspot", shapely.Point(60.5, 0), weight=2.0),  # r sees it (39.5 m)
        F.area("side", "hotspot", shapely.Point(40, 41), weight=3.0),  # 45.7° off: outside
        F.area("zero", "hotspot", shapely.Point(30, 0), weight=0.0),  # seen: no gap
    ]
    cov = CommuneCoverage("1", cams, areas)
    hot = cov.summary()["hotspot"]
    assert (hot.total, hot.covered) == (6.0, 1.0)
    tags = {g.area_id: (g.tag, g.cameras, g.size) for g in cov.gaps()}
    assert tags == {"out": ("repairable", ["r"], 1.0), "side": ("no_camera", [], 1.0)}
    gap = next(g for g in cov.gaps() if g.area_id == "out")
    assert F.local(gap.geometry).distance(shapely.Point(60.5, 0)) < 1e-6


def test_cameras_near_the_utm_zone_edge_measure_the_same_in_both_zones() -> None:
    # Frame at 108°E 16°N: cameras 1070 m either side of the 48N/49N edge (lon 107.99 and
    # 108.01), 40 m south of an east-west road, looking north with fov 90: the wedge binds
    # (|x - x0| <= 40; the range allows 44.7), so each sees 80 m. Convergence is ±0.83°
    # here: an uncorrected heading would move each edge by ~1.2 m.
    frame = Frame(108.0, 16.0)
    cams = [frame.cam("w", -1070, -40, 0), frame.cam("e", 1070, -40, 0)]
    assert cams[0].lon == pytest.approx(107.99, abs=1e-3)
    assert cams[1].lon == pytest.approx(108.01, abs=1e-3)
    road = frame.area("r", "main_road", shapely.LineString([(-1500, 0), (1500, 0)]))
    expected = [(-1500, -1110), (-1030, 1030), (1110, 1500)]
    results = []
    for epsg in (32648, 32649, None):
        cov = CommuneCoverage("1", cams, [road], epsg=epsg)
        assert cov.summary()["main_road"].covered == pytest.approx(160.0, abs=0.05)
        assert cov.summary()["main_road"].total == pytest.approx(3000.0, abs=0.05)
        got = [g[:2] for g in line_gaps(cov, frame)]
        assert got == [
            (pytest.approx(a, abs=0.05), pytest.approx(b, abs=0.05)) for a, b in expected
        ]
        results.append(cov.projection.epsg)
    assert results == [32648, 32649, 32649]  # mean lon 108.0 → zone 49


def test_cameras_that_cannot_be_placed_are_skipped_and_defaults_apply() -> None:
    cams = [
        CameraView("nowhere", None, None, 0.0, 90.0, 60.0),
        F.cam("blind", 0, -20, None),  # a bullet without heading
        F.cam("fish", 0, -10, None, None, None, kind="fisheye"),  # 360°, 15 m
        F.cam("dome", 300, -25, 0, None, None, kind="dome"),  # 110°, 30 m
    ]
    cov = CommuneCoverage("1", cams, [F.area("r", "main_road", ROAD)])
    assert cov.skipped == ["nowhere", "blind"]
    assert cov.skip_reasons == {"nowhere": "no_location", "blind": "no_heading"}
    # fisheye 10 m off: 2 sqrt(15² - 10²); dome 25 m off: range sqrt(30² - 25²) binds
    # before the 55° wedge (25 tan 55° = 35.7)
    expected = 2 * math.sqrt(125) + 2 * math.sqrt(275)
    assert cov.summary()["main_road"].covered == pytest.approx(expected, abs=0.01)
    cov.set_working("nowhere", False)  # known, but nothing to recompute
    with pytest.raises(KeyError, match="not registered"):
        cov.set_working("stranger", True)


def test_area_polygon_coverage_and_gaps() -> None:
    square = shapely.box(0, 0, 100, 100)
    quarter = 30 * 60**2 / 2 * math.sin(math.radians(3))  # the 90° sector polygon
    assert quarter == pytest.approx(math.pi * 60**2 / 4, rel=1e-3)
    cams = [F.cam("c", 0, 0, 45), F.cam("x", 100, 100, 225, working=False)]
    cov = CommuneCoverage("1", cams, [F.area("sq", "area", square)])
    area = cov.summary()["area"]
    assert area.total == pytest.approx(10_000, rel=1e-5)
    assert area.covered == pytest.approx(quarter, rel=1e-4)
    gaps = sorted(cov.gaps(), key=lambda g: g.tag)
    assert [(g.tag, g.cameras) for g in gaps] == [("no_camera", []), ("repairable", ["x"])]
    assert gaps[0].size == pytest.approx(10_000 - 2 * quarter, rel=1e-4)
    assert gaps[1].size == pytest.approx(quarter, rel=1e-4)
    assert F.local(gaps[1].geometry).centroid.distance(shapely.Point(75, 75)) < 1
    # uncovered parts no larger than min_gap_m² are no gaps
    assert CommuneCoverage("1", cams, [F.area("sq", "area", square)], 90).gaps() == []


def test_hotspot_polygon_is_seen_when_half_of_it_is_covered() -> None:
    # a 20 x 20 m square; a 180° view from (x0, 10) looking east covers x >= x0
    plaza = shapely.box(0, 0, 20, 20)
    seen = CommuneCoverage("1", [F.cam("c", 8, 10, 90, 180)], [F.area("p", "hotspot", plaza)])
    assert seen.summary()["hotspot"].covered == 1.0  # 60 %
    half = [F.cam("c", 12, 10, 90, 180), F.cam("b", 10, 10, 270, 180, working=False)]
    cov = CommuneCoverage("1", half, [F.area("p", "hotspot", plaza, 4.0)])
    assert cov.summary()["hotspot"].covered == 0.0  # 40 %
    assert [(g.tag, g.cameras, g.size) for g in cov.gaps()] == [("repairable", ["b"], 1.0)]
    alone = CommuneCoverage("1", half[:1], [F.area("p", "hotspot", plaza)])
    assert [g.tag for g in alone.gaps()] == ["no_camera"]


def test_a_closed_border_gap_runs_round_its_start() -> None:
    ring = shapely.LineString([(0, 0), (200, 0), (200, 200), (0, 200), (0, 0)])
    # from (100, -20) north: x in [80, 120] of the bottom edge; the rest is one stretch
    cov = CommuneCoverage("1", [F.cam("c", 100, -20, 0)], [F.area("v", "village_border", ring)])
    assert cov.summary()["village_border"].covered == pytest.approx(40, abs=0.01)
    (gap,) = cov.gaps()
    assert gap.size == pytest.approx(760, abs=0.01)
    local = F.local(gap.geometry)
    assert local.length == pytest.approx(760, abs=0.05)
    assert local.distance(shapely.Point(0, 0)) < 1e-6
    (x0, y0), (x1, y1) = ends(F, gap)
    assert (x0, y0) == (pytest.approx(120, abs=0.01), pytest.approx(0, abs=0.01))
    assert (x1, y1) == (pytest.approx(80, abs=0.01), pytest.approx(0, abs=0.01))


def random_commune(seed: int) -> tuple[list[CameraView], list[Area]]:
    rnd = random.Random(seed)
    areas = []
    for j in range(6):
        pts = [(-800 + 320 * k, rnd.uniform(-600, 600)) for k in range(6)]
        areas.append(F.area(f"r{j}", "main_road", shapely.LineString(pts), rnd.uniform(0.5, 3)))
    for j in range(3):
        cx, cy = rnd.uniform(-500, 500), rnd.uniform(-500, 500)
        ring = shapely.Point(cx, cy).buffer(200, 8).exterior
        areas.append(F.area(f"b{j}", "village_border", ring))
    for j in range(10):
        areas.append(
            F.area(
                f"h{j}", "hotspot", shapely.Point(rnd.uniform(-700, 700), rnd.uniform(-700, 700))
            )
        )
    for j in range(3):
        x, y = rnd.uniform(-600, 600), rnd.uniform(-600, 600)
        areas.append(F.area(f"p{j}", "hotspot", shapely.box(x, y, x + 30, y + 30)))
        areas.append(F.area(f"a{j}", "area", shapely.box(x - 150, y - 100, x + 150, y + 100)))
    cams = []
    for k in range(60):
        kind = rnd.choice(["bullet", "dome", "ptz", "fisheye"])
        x, y = rnd.uniform(-800, 800), rnd.uniform(-700, 700)
        cams.append(
            F.cam(
                f"c{k}",
                x,
                y,
                rnd.uniform(0, 360),
                None,
                None,
                working=rnd.random() < 0.7,
                kind=kind,
            )
        )
    return cams, areas


Snapshot = tuple[dict[str, tuple[float, float]], list[tuple[object, ...]]]


def snapshot(cov: CommuneCoverage) -> Snapshot:
    summary = {k: (v.total, v.covered) for k, v in cov.summary().items()}
    gaps = sorted((g.area_id, g.tag, tuple(g.cameras), round(g.size, 3)) for g in cov.gaps())
    return summary, gaps


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_updates_equal_a_full_recompute(seed: int) -> None:
    cams, areas = random_commune(seed)
    cov = CommuneCoverage("1", cams, areas)
    assert cov.summary()["main_road"].covered > 0  # the case covers something
    rnd = random.Random(seed)
    for _ in range(25):
        cam = rnd.choice(cams)
        cov.set_working(cam.id, not cam.working)
        fresh = CommuneCoverage("1", [dataclasses.replace(c) for c in cams], areas)
        got, want = snapshot(cov), snapshot(fresh)
        assert got[1] == want[1]
        for kind, (total, covered) in want[0].items():
            assert got[0][kind] == (pytest.approx(total), pytest.approx(covered, abs=1e-6))


def test_time_weighted_coverage_of_a_hand_built_timeline() -> None:
    # A (20 m south) sees 40 m of the road and the hotspot 50 m north of it; B (50 m south,
    # 200 m east) sees 2 sqrt(60² - 50²) = 66.33 m. Over 10 days: A works days 0-5, B is
    # down days 0-2 then works to the end.
    cams = [F.cam("A", 0, -20, 0), F.cam("B", 200, -50, 0)]
    areas = [F.area("r", "main_road", ROAD), F.area("h", "hotspot", shapely.Point(0, 30))]
    cov = CommuneCoverage("1", cams, areas)
    day = timedelta(days=1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    intervals = {
        "A": [(t0 - day, t0 + 5 * day, True)],
        "B": [(t0, t0 + 2 * day, False), (t0 + 2 * day, t0 + 12 * day, True)],
    }
    got = time_weighted(cov, intervals, t0, t0 + 10 * day)
    b = 2 * math.sqrt(60**2 - 50**2)
    assert got["main_road"] == pytest.approx((5 * 40 + 8 * b) / (10 * 1000), abs=1e-6)
    assert got["hotspot"] == pytest.approx(0.5)
    assert set(got) == {"main_road", "hotspot"}  # no borders or areas in this commune
    # the coverage is left as it was, and a camera without intervals is not working
    assert cov.summary()["main_road"].covered == pytest.approx(40 + b, abs=0.01)
    assert time_weighted(cov, {}, t0, t0 + day) == {"main_road": 0.0, "hotspot": 0.0}
    with pytest.raises(ValueError, match="empty window"):
        time_weighted(cov, intervals, t0, t0)


def test_geojson_has_gap_features_and_optionally_sectors() -> None:
    cov = CommuneCoverage(
        "00001", border_cams(b_working=False), [F.area("b", "village_border", BORDER)]
    )
    doc = cov.to_geojson()
    assert doc["type"] == "FeatureCollection"
    props = [f["properties"] for f in doc["features"]]
    assert [p["tag"] for p in props] == ["no_camera", "no_camera", "repairable", "no_camera"]
    assert props[2]["cameras"] == ["B"]
    assert props[2]["size_m"] == pytest.approx(B_HI - B_LO, abs=0.01)
    assert {p["area_id"] for p in props} == {"b"}
    assert doc["features"][0]["geometry"]["type"] == "LineString"
    with_sectors = json.loads(json.dumps(cov.to_geojson(sectors=True)))
    sectors = [f for f in with_sectors["features"] if f["properties"]["feature"] == "sector"]
    assert [(f["properties"]["camera_id"], f["properties"]["working"]) for f in sectors] == [
        ("A", True),
        ("B", False),
    ]
    assert sectors[0]["geometry"]["type"] == "Polygon"


def test_an_empty_commune_reports_all_four_kinds() -> None:
    summary = CommuneCoverage("1", [], []).summary()
    assert list(summary) == ["hotspot", "main_road", "village_border", "area"]
    assert all(v.total == 0 and v.fraction is None for v in summary.values())
    flat = shapely.Polygon([(105, 21), (105.001, 21), (105.002, 21)])
    bad = [Area("x", "main_road", shapely.Point(105, 21)), Area("flat", "area", flat)]
    assert CommuneCoverage("1", [], bad).skipped_areas == ["x", "flat"]
