"""Projection and sectors: UTM zones, scale and convergence, arcs, exact clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from collector.geometry import (
    DEFAULT_VIEW,
    Projection,
    Sectors,
    projection_for,
    sector,
    utm_epsg,
)


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        (105.85, 21.03, 32648),  # Hà Nội
        (107.99, 16.0, 32648),
        (108.0, 16.0, 32649),  # the 48/49 edge belongs to 49
        (108.01, 16.0, 32649),
        (106.7, 10.8, 32648),  # TP. Hồ Chí Minh
        (105.0, -10.0, 32748),  # south
        (180.0, 0.0, 32660),  # clamped to zone 60
    ],
)
def test_utm_zone_from_longitude(lon: float, lat: float, epsg: int) -> None:
    assert utm_epsg(lon, lat) == epsg


def test_one_zone_per_commune_from_the_mean_position() -> None:
    assert projection_for([(107.99, 16.0), (108.03, 16.0)]).epsg == 32649  # mean 108.01
    assert projection_for([(107.95, 16.0), (108.01, 16.0)]).epsg == 32648  # mean 107.98
    assert projection_for([]).epsg == 32648


def test_projection_round_trips_points_and_geometries() -> None:
    proj = Projection(32648)
    x, y = proj.point(105.85, 21.03)
    assert proj.lonlat(x, y) == pytest.approx((105.85, 21.03), abs=1e-9)
    line = shapely.LineString([(105.85, 21.03), (105.86, 21.04)])
    back = proj.to_wgs84(proj.to_metric(line))
    assert shapely.equals_exact(back, line, tolerance=1e-9)
    many = proj.to_metric(np.array([line, shapely.Point(105.85, 21.03)], dtype=object))
    assert shapely.get_coordinates(many[1])[0] == pytest.approx([x, y])
    # a degree of latitude near 21°N is ~110.7 km on the ground, x 0.9996-ish in UTM
    assert proj.point(105.85, 21.53)[1] - y == pytest.approx(55_347, rel=2e-3)


def test_scale_and_grid_north_of_utm() -> None:
    zone48 = Projection(32648)
    assert zone48.scale(105.0, 16.0) == pytest.approx(0.9996, abs=1e-7)  # central meridian
    # k ~ 0.9996 (1 + (dlon cos(lat))^2 / 2): 3° off the meridian at 16°N
    k = 0.9996 * (1 + (math.radians(3.0) * math.cos(math.radians(16))) ** 2 / 2)
    assert zone48.scale(108.0, 16.0) == pytest.approx(k, abs=2e-5)
    # convergence ~ -dlon sin(lat): true north leans towards the central meridian
    north = zone48.grid_north([105.0, 108.0], [16.0, 16.0])
    assert north[0] == pytest.approx(0.0, abs=1e-6)
    assert north[1] == pytest.approx(-3.0 * math.sin(math.radians(16)), abs=0.01)
    assert Projection(32649).grid_north([108.0], [16.0])[0] == pytest.approx(-north[1], abs=0.01)


def test_sector_points_its_heading_clockwise_from_north() -> None:
    north = sector(0, 0, 0, 20, 100).centroid
    east = sector(0, 0, 90, 20, 100).centroid
    assert north.y > 50
    assert abs(north.x) < 1e-6
    assert east.x > 50
    assert abs(east.y) < 1e-6
    assert sector(10, 20, 0, 90, 60).contains(shapely.Point(10, 79))
    assert not sector(10, 20, 0, 90, 60).contains(shapely.Point(10, -1))


@pytest.mark.parametrize("range_m", [15.0, 60.0, 150.0])
def test_sector_arc_is_inscribed_within_the_sagitta(range_m: float) -> None:
    poly = sector(0, 0, 30, 90, range_m, step=3.0)
    ring = shapely.get_coordinates(poly.exterior)
    arc = ring[1:-1]  # apex first and last
    assert np.hypot(arc[:, 0], arc[:, 1]) == pytest.approx(range_m)  # vertices on the arc
    mids = (arc[1:] + arc[:-1]) / 2
    sagitta = range_m - np.hypot(mids[:, 0], mids[:, 1]).min()
    assert sagitta == pytest.approx(range_m * (1 - math.cos(math.radians(1.5))))
    assert sagitta <= 0.0515  # 0.051 m at 150 m: well inside the 1 m tolerance
    # 30 chords of 3°: n r²/2 sin(step)
    assert poly.area == pytest.approx(30 * range_m**2 / 2 * math.sin(math.radians(3)))


def test_fov_360_is_a_circle_and_defaults_are_documented() -> None:
    circle = sector(5, 5, 123, 360, 15)
    assert circle.area == pytest.approx(120 * 15**2 / 2 * math.sin(math.radians(3)))
    assert circle.centroid.distance(shapely.Point(5, 5)) < 1e-9
    assert DEFAULT_VIEW["fisheye"] == (360.0, 15.0)
    assert DEFAULT_VIEW["bullet"] == (90.0, 60.0)


def _clip_length(sec: Sectors, view: int, a: tuple[float, float], b: tuple[float, float]) -> float:
    pieces, _ = sec.pieces_of(np.array([view]))
    n = len(pieces)
    ax, ay, dx, dy = (np.full(n, v) for v in (a[0], a[1], b[0] - a[0], b[1] - a[1]))
    lo, hi = sec.clip_segments(pieces, ax, ay, dx, dy)
    return float(np.clip(hi - lo, 0, None).sum() * math.hypot(dx[0], dy[0]))


def test_exact_clipping_of_a_road_by_a_wedge_and_by_the_disc() -> None:
    # road y = 0 from x = -500 to 500; cameras looking north, fov 90, range 60
    sec = Sectors.build([0, 0, 0], [-20, -50, -70], [0, 0, 0], [90, 90, 90], [60, 60, 60])
    road = ((-500.0, 0.0), (500.0, 0.0))
    # 20 m south: the wedge binds (|x| <= 20 tan 45° = 20) before the disc (|x| <= 56.57)
    assert _clip_length(sec, 0, *road) == pytest.approx(40.0, abs=1e-6)
    # 50 m south: the disc binds (|x| <= sqrt(60² - 50²) = 33.17) before the wedge (50)
    assert _clip_length(sec, 1, *road) == pytest.approx(2 * math.sqrt(60**2 - 50**2), abs=1e-6)
    assert _clip_length(sec, 2, *road) == 0.0  # 70 m away: out of range


def test_a_view_wider_than_180_degrees_is_two_pieces() -> None:
    # at the origin looking north with 270°: blind only in the back quarter (135°..225°)
    sec = Sectors.build([0], [0], [0], [270], [60])
    assert list(sec.n_pieces) == [2]
    # y = -10: blind where |x| < 10; the disc ends at |x| = sqrt(60² - 10²)
    expected = 2 * (math.sqrt(60**2 - 10**2) - 10)
    assert _clip_length(sec, 0, (-100.0, -10.0), (100.0, -10.0)) == pytest.approx(expected)
    pieces, _ = sec.pieces_of(np.array([0]))
    inside = sec.contains(pieces, np.array([-30.0, -30.0]), np.array([-10.0, -10.0]))
    assert inside.any()
    behind = sec.contains(pieces, np.array([0.0, 0.0]), np.array([-30.0, -30.0]))
    assert not behind.any()


def test_points_on_the_boundary_are_inside() -> None:
    sec = Sectors.build([0], [0], [90], [90], [60])
    pieces, _ = sec.pieces_of(np.array([0]))
    px = np.array([59.5, 60.0, 60.5, 30.0, 30.0])
    py = np.array([0.0, 0.0, 0.0, 30.0, 30.1])  # the last is just outside the 45° edge
    assert sec.contains(np.repeat(pieces, 5), px, py).tolist() == [True, True, False, True, False]
