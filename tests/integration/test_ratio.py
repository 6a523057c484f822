"""Working ratio from a hand-built week of intervals, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector import store
from collector.db import create_schema, make_engine
from collector.models import Camera
from collector.ratio import VN, ratio_now, ratio_window
from collector.state import State
from tests import db_fixtures as dbf
from tests.collector_helpers import seed_registry

postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)
DAY = 86400.0


def vn(day: int, hour: float = 0) -> datetime:
    """November ``day`` 2026 at ``hour`` o'clock in Vietnam."""
    return datetime(2026, 11, day, tzinfo=VN) + timedelta(hours=hour)


@pytest.fixture
def week(db_url: str) -> Iterator[Engine]:
    """Five cameras of commune 00001 over Mon 2 Nov → Mon 9 Nov 2026 (see each comment)."""
    engine = make_engine(db_url)
    create_schema(engine)
    seed_registry(engine, {"00001": ["cam-1", "cam-2", "cam-3", "cam-4", "cam-5"]})
    with Session(engine) as session:
        cam3 = session.get(Camera, "cam-3")
        cam4 = session.get(Camera, "cam-4")
        assert cam3 is not None
        assert cam4 is not None
        cam3.installed_on = date(2026, 11, 6)  # counts 3 days
        cam4.removed_on = date(2026, 11, 4)  # counts 2 days
        session.commit()
    with engine.begin() as conn:
        history = [
            ("cam-1", vn(1), "ok"),  # ok all week: 7 working days
            ("cam-2", vn(1), "ok"),
            ("cam-2", vn(3), "down"),  # down 2.5 days
            ("cam-2", vn(5, 12), "degraded"),  # degraded counts as working: 4.5 days
            ("cam-3", vn(7), "ok"),  # 1 day never reported, then 2 days ok
            ("cam-4", vn(1), "ok"),  # 1 day ok
            ("cam-4", vn(3), "unknown"),  # 1 day unknown, then removed
        ]  # cam-5 never reports: 7 days never_reported
        for cam, at, status in history:
            store.set_status_from(conn, cam, at, status, "", None)
        states = {"cam-1": "ok", "cam-2": "degraded", "cam-3": "ok", "cam-4": "unknown"}
        rows = [store.state_row(c, State(s, vn(1)), None) for c, s in states.items()]
        store.upsert(conn, store.STATE, rows, "camera_id")
    yield engine
    engine.dispose()


def test_time_weighted_ratio_of_a_hand_built_week(week: Engine) -> None:
    with week.connect() as conn:
        figures = ratio_window(conn, vn(2), vn(9), now=vn(20))["00001"]
    # installed camera-days 7 + 7 + 3 + 2 + 7 = 26; working 7 + 4.5 + 2 + 1 + 0 = 14.5
    assert figures.installed == pytest.approx(26 * DAY)
    assert figures.working == pytest.approx(14.5 * DAY)
    assert figures.ratio == pytest.approx(14.5 / 26)
    by = {k: v / DAY for k, v in figures.by_status.items() if v}
    assert by == pytest.approx(
        {
            "ok": 7 + 1 + 2 + 1,
            "degraded": 3.5,
            "down": 2.5,
            "unknown": 1,
            "never_reported": 1 + 7,
        }
    )


def test_time_after_now_is_not_counted(week: Engine) -> None:
    with week.connect() as conn:
        figures = ratio_window(conn, vn(2), vn(9), now=vn(3))["00001"]
    # one day (2 Nov): cam-1, cam-2, cam-4 ok; cam-5 never reported; cam-3 not installed
    assert figures.installed == pytest.approx(4 * DAY)
    assert figures.ratio == pytest.approx(3 / 4)


def test_ratio_now_counts_the_inventory_not_the_reports(week: Engine) -> None:
    with week.connect() as conn:
        now = ratio_now(conn, at=vn(8, 12))["00001"]
    # cam-4 removed; cam-5 never reported → 3 working of 4 installed
    assert now.installed == 4
    assert now.working == 3
    assert now.by_status["never_reported"] == 1
    with week.connect() as conn:
        assert ratio_now(conn, commune="99999") == {}
