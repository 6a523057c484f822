"""Coverage loaded from a real database (SQLite and PostgreSQL): registry, states, areas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
import shapely
from shapely.geometry import mapping
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector import store
from collector.coverage import load_commune, load_intervals, load_province, time_weighted
from collector.db import create_schema, make_engine
from collector.models import Camera, KeyArea
from collector.ratio import VN
from collector.state import State
from tests import db_fixtures as dbf
from tests.collector_helpers import seed_registry
from tests.unit.test_coverage import B_HI, B_LO, BORDER, F

postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)


def vn(day: int, hour: float = 0) -> datetime:
    """November ``day`` 2026 at ``hour`` o'clock in Vietnam."""
    return datetime(2026, 11, day, tzinfo=VN) + timedelta(hours=hour)


def geojson(geom: shapely.Geometry) -> str:
    return json.dumps(mapping(F.wgs(geom)))


# camera: (x, y, heading, fov, range, type, installed_on, removed_on)
CAMERAS = {
    "A": (-50, 60, 0.0, 90.0, 60.0, "bullet", None, None),  # sees [-90, -10] of the border
    "B": (60, 130, 180.0, 60.0, 50.0, "bullet", None, None),  # [42.68, 77.32]; down
    "C": (0, 300, 90.0, None, None, "bullet", None, None),  # sees hotspot H1 (50 m east)
    "D": (0, 400, 90.0, None, None, "bullet", None, None),  # sees H2, never reported
    "nowhere": (None, None, 0.0, 90.0, 60.0, "bullet", None, None),
    "late": (-150, 60, 0.0, 90.0, 60.0, "bullet", date(2026, 12, 1), None),
    "old": (150, 60, 0.0, 90.0, 60.0, "bullet", date(2026, 1, 1), date(2026, 11, 5)),
}


@pytest.fixture
def registry(db_url: str) -> Iterator[Engine]:
    """Commune 00001 with a border, two hotspots, a bad area; 00002 with one road."""
    engine = make_engine(db_url)
    create_schema(engine)
    seed_registry(engine, {"00001": list(CAMERAS), "00002": ["Z"]})
    with Session(engine) as session:
        for cid, (x, y, heading, fov, rng, kind, installed, removed) in CAMERAS.items():
            cam = session.get(Camera, cid)
            assert cam is not None
            if x is not None and y is not None:
                cam.lon, cam.lat = F.ll(x, y)
            cam.heading, cam.fov, cam.range_m, cam.camera_type = heading, fov, rng, kind
            cam.installed_on, cam.removed_on = installed, removed
        z = session.get(Camera, "Z")
        assert z is not None
        z.lon, z.lat = F.ll(5000, -20)
        z.heading = 0.0
        areas = [
            ("00001", "border", "village_border", BORDER, 1.0),
            ("00001", "H1", "hotspot", shapely.Point(50, 300), 2.0),
            ("00001", "H2", "hotspot", shapely.Point(50, 400), 1.0),
            ("00002", "road", "main_road", shapely.LineString([(4500, 0), (5500, 0)]), 1.0),
        ]
        for commune, aid, kind, geom, weight in areas:
            session.add(
                KeyArea(
                    id=aid,
                    commune_code=commune,
                    kind=kind,
                    name=aid.title(),
                    weight=weight,
                    geometry=geojson(geom),
                )
            )
        session.add(KeyArea(id="bad", commune_code="00001", kind="area", geometry="{oops"))
        session.commit()
    with engine.begin() as conn:
        states = {"A": "ok", "B": "down", "C": "degraded", "late": "ok", "old": "ok", "Z": "ok"}
        rows = [store.state_row(c, State(s, vn(1)), None) for c, s in states.items()]
        store.upsert(conn, store.STATE, rows, "camera_id")
        history = [
            ("A", vn(1), "ok"),
            ("B", vn(1), "down"),
            ("B", vn(5), "ok"),
            ("old", vn(1), "ok"),
        ]
        for cam, at, status in history:
            store.set_status_from(conn, cam, at, status, "", None)
    yield engine
    engine.dispose()


def test_load_commune_from_registry_states_and_areas(registry: Engine) -> None:
    with registry.connect() as conn:
        cov = load_commune(conn, "00001", at=vn(10, 12))
    # installed on 10 Nov: not "late" (from 1 Dec) nor "old" (removed 5 Nov)
    assert sorted(c.id for c in cov.cameras) == ["A", "B", "C", "D", "nowhere"]
    assert {c.id: c.working for c in cov.cameras} == {
        "A": True,
        "B": False,
        "C": True,
        "D": False,
        "nowhere": False,
    }
    assert cov.skipped == ["nowhere"]
    assert cov.skipped_areas == ["bad"]
    summary = cov.summary()
    assert summary["village_border"].covered == pytest.approx(80, abs=0.01)
    assert (summary["hotspot"].total, summary["hotspot"].covered) == (3.0, 2.0)
    gaps = sorted((g.area_id, g.tag, g.cameras, round(g.size, 2)) for g in cov.gaps())
    assert gaps == [
        ("H2", "repairable", ["D"], 1.0),  # D never reported: registered, so repairable
        ("border", "no_camera", [], pytest.approx(B_LO + 10, abs=0.01)),
        ("border", "no_camera", [], pytest.approx(110, abs=0.01)),
        ("border", "no_camera", [], pytest.approx(200 - B_HI, abs=0.01)),
        ("border", "repairable", ["B"], pytest.approx(B_HI - B_LO, abs=0.01)),
    ]
    with registry.connect() as conn:
        before = load_commune(conn, "00001", at=vn(3))
        window = load_commune(conn, "00001", window=(vn(1), vn(11)))
    assert "old" in {c.id for c in before.cameras}
    assert "old" in {c.id for c in window.cameras}
    assert "late" not in {c.id for c in window.cameras}


def test_load_province_one_coverage_per_commune(registry: Engine) -> None:
    with registry.connect() as conn:
        every = load_province(conn, at=vn(10))
        in_26 = load_province(conn, "26", at=vn(10))
        elsewhere = load_province(conn, "01", at=vn(10))
        missing = load_commune(conn, "99999", at=vn(10))
    assert sorted(every) == ["00001", "00002"] == sorted(in_26)
    assert elsewhere == {}
    road = every["00002"].summary()["main_road"]
    assert road.covered == pytest.approx(40, abs=0.01)  # Z 20 m south, looking north
    assert every["00001"].summary()["village_border"].covered == pytest.approx(80, abs=0.01)
    assert missing.summary()["main_road"].total == 0


def test_time_weighted_from_status_intervals(registry: Engine) -> None:
    start, end = vn(1), vn(11)
    with registry.connect() as conn:
        cov = load_commune(conn, "00001", window=(start, end))
        intervals = load_intervals(conn, "00001", start, end, now=vn(20))
    assert sorted(intervals) == ["A", "B", "old"]
    assert intervals["B"] == [(vn(1), vn(5), False), (vn(5), vn(11), True)]
    assert intervals["old"] == [(vn(1), vn(5), True)]  # cut at its removal
    got = time_weighted(cov, intervals, start, end)
    # A sees 80 m for 10 days, B 34.64 m for 6; "old" at (150, 60) sees [110, 190] for 4
    assert got["village_border"] == pytest.approx(
        (80 * 10 + (B_HI - B_LO) * 6 + 80 * 4) / (10 * 400), abs=1e-5
    )
    # nobody with intervals sees a hotspot (C and D have none)
    assert got["hotspot"] == 0.0
    assert [c.id for c in cov.cameras if c.working] == ["A", "C", "old"]  # states kept
