"""The yearly evaluation of a hand-built year, on SQLite and PostgreSQL.

Every expected figure is worked out by hand in ``tests/evaluation_helpers.py``: an outage
across 15/11 → 16/11 at both ends of the period, a camera installed mid-period, a removed
camera, an agent offline for a week (unknown, not down), a merged commune, a task fixed
after its SLA. The JSON validates against the published schema; the digest is repeatable
and changes when the data does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from api.evaluation.compute import evaluate
from api.evaluation.period import period_for
from api.evaluation.pgcopy import copy_numbers
from api.evaluation.result import record, records, stored, to_dict, to_json
from api.evaluation.rubric import Rubric
from api.evaluation.schema import CommuneEvaluation, Evaluation, json_schema
from collector.db import create_schema, make_engine
from collector.ratio import INTERVAL
from tests import db_fixtures as dbf
from tests.evaluation_helpers import NOW, build_year, vn

postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def year(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    create_schema(engine)
    build_year(engine)
    yield engine
    engine.dispose()


def run(engine: Engine, now: datetime = NOW, start: str = "16/11") -> Evaluation:
    with engine.connect() as conn:
        return evaluate(conn, period_for(2026, start), Rubric.load(), now=now)


def commune(result: Evaluation, code: str) -> CommuneEvaluation:
    return next(c for c in result.communes if c.code == code)


def test_merged_commune_reported_under_its_new_code(year: Engine) -> None:
    result = run(year)
    assert [c.code for c in result.communes] == ["00001", "00003"]
    a = commune(result, "00001")
    assert a.merged_from == ["00002"]
    assert a.district_name == "Huyện Một"
    # cam-b1 (registered under 00002) counts here: 92 days of its 641 installed days
    assert a.camera_days.installed == pytest.approx(365 + 184 + 92)
    assert a.tasks.raised == 2  # T2 (00001) and T3 (00002); T1 opened before the period


def test_hand_computed_camera_days_and_ratios(year: Engine) -> None:
    a = commune(run(year), "00001")
    days = a.camera_days
    assert (days.ok, days.degraded, days.down) == pytest.approx((360 + 183 + 46, 46, 5))
    assert (days.unknown, days.never_reported) == pytest.approx((0, 1))
    assert a.working_ratio == pytest.approx(635 / 641)
    assert a.good_picture_ratio == pytest.approx(589 / 641)
    assert a.completeness == pytest.approx(640 / 641)
    assert a.working_ratio_known == pytest.approx(635 / 640)
    assert a.camera_days_down == pytest.approx(5)


def test_outage_across_the_period_boundaries(year: Engine) -> None:
    a = commune(run(year), "00001")
    first, last = a.months[0], a.months[-1]
    assert (first.label, first.first_day.day, first.last_day.day) == ("11/2025", 16, 30)
    assert first.down_days == pytest.approx(2)  # 14/11 → 18/11/2025: only the 16th and 17th
    assert first.installed_days == pytest.approx(30)  # cam-a1 and cam-b1, 15 days each
    assert first.working_ratio == pytest.approx(28 / 30)
    assert (last.label, last.last_day.day) == ("11/2026", 15)
    assert last.down_days == pytest.approx(3)  # 13/11/2026 → the end: 13th, 14th, 15th
    assert len(a.months) == 13
    outage = a.longest_outage
    assert outage is not None
    assert (outage.camera_id, outage.days, outage.ongoing) == ("cam-a1", pytest.approx(3), True)
    assert outage.start == vn(2026, 11, 13)
    assert outage.end == vn(2026, 11, 16)


def test_installed_and_removed_mid_period(year: Engine) -> None:
    cams = commune(run(year), "00001").cameras
    assert (cams.at_start, cams.at_end) == (2, 2)  # a1+b1 on 16/11/2025; a1+a2 on 15/11/2026
    assert (cams.installed_during, cams.removed_during) == (1, 1)
    assert cams.average == pytest.approx(641 / 365)


def test_agent_offline_for_a_week_is_unknown_not_down(year: Engine) -> None:
    c = commune(run(year), "00003")
    assert c.camera_days.unknown == pytest.approx(7)
    assert c.camera_days.down == 0
    assert c.camera_days.never_reported == pytest.approx(365)  # cam-c2 never reported
    assert c.working_ratio == pytest.approx(358 / 730)
    assert c.unknown_ratio == pytest.approx(372 / 730)
    assert c.completeness == pytest.approx(358 / 730)
    march = next(m for m in c.months if m.label == "03/2026")
    assert march.unknown_ratio == pytest.approx((7 + 31) / 62)
    # below the rubric's 80 % completeness the ratios are not scored, never given points
    working = next(k for k in c.score.criteria if k.id == "working")
    assert (working.points, working.reason) == (None, "không đủ dữ liệu / not enough data")
    assert c.score.complete is False
    assert c.score.grade is None


def test_task_fixed_after_its_sla(year: Engine) -> None:
    tasks = commune(run(year), "00001").tasks
    assert (tasks.raised, tasks.closed, tasks.fixed, tasks.open_at_end) == (2, 2, 2, 1)
    assert tasks.mean_repair_hours == pytest.approx(60)  # T1 96 h, T3 24 h
    assert tasks.p90_repair_hours == pytest.approx(24 + 0.9 * 72)
    # due in the period: T1 (fixed late), T2 (never fixed), T3 (in time)
    assert (tasks.due, tasks.fixed_within_sla) == (3, 1)
    assert tasks.within_sla_ratio == pytest.approx(1 / 3)


def test_coverage_time_weighted_and_at_the_end(year: Engine) -> None:
    a = commune(run(year), "00001")
    hotspot = a.coverage["hotspot"]
    assert hotspot.time_weighted == pytest.approx(360 / 365)  # cam-a1 working 360 days
    assert hotspot.at_end == 0.0  # cam-a1 down at the end
    assert (a.gaps_at_end.total, a.gaps_at_end.repairable) == (1, 1)
    assert "hotspot" not in commune(run(year), "00003").coverage  # no key area there


def test_score_and_district(year: Engine) -> None:
    result = run(year)
    score = commune(result, "00001").score
    points = {c.id: c.points for c in score.criteria}
    # working 99.1 % -> 40; picture 91.9 % -> 15; SLA 33 % -> 0; p90 88.8 h -> 6;
    # hotspots 98.6 % -> 10; no main road -> the rubric's "missing" 0
    assert points == {
        "working": 40, "picture": 15, "repair_sla": 0, "repair_time": 6, "hotspots": 10,
        "main_roads": 0,
    }  # fmt: skip
    assert (score.points, score.max_points, score.grade) == (71, 100, "Đạt")
    (district,) = result.districts
    assert (district.code, district.communes) == ("001", 2)
    assert district.camera_days.installed == pytest.approx(641 + 730)
    assert district.working_ratio == pytest.approx((635 + 358) / 1371)
    assert district.points_mean == pytest.approx(71)  # 00003 is not complete: left out
    assert result.rubric.name == "camnet-mac-dinh"
    assert result.rubric.version == "2026.1"


def test_running_period_counts_only_up_to_now(year: Engine) -> None:
    now = vn(2026, 5, 16, 12)
    result = run(year, now=now)
    assert result.period.finished is False
    assert result.period.data_until == now
    a = commune(result, "00001")
    # cam-a2 installed on 16/05 counts 12 hours (never reported yet); nothing after now
    assert a.camera_days.installed == pytest.approx(181.5 + 0.5 + 92)
    assert a.camera_days.never_reported == pytest.approx(0.5)
    assert a.months[-1].installed_days == 0


def test_calendar_year_period(year: Engine) -> None:
    result = run(year, start="1/1")
    assert (str(result.period.first_day), str(result.period.last_day)) == (
        "2026-01-01",
        "2026-12-31",
    )
    assert len(commune(result, "00001").months) == 12


def test_json_validates_against_the_published_schema(year: Engine) -> None:
    published = json.loads((ROOT / "docs" / "evaluation.schema.json").read_text("utf-8"))
    assert published == json_schema(), "docs/evaluation.schema.json is stale: regenerate it"
    data = to_dict(run(year))
    validator = jsonschema.Draft202012Validator(
        published, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(data)
    data["communes"][0]["working_ratio"] = "99 %"
    assert not validator.is_valid(data)


def test_digest_is_repeatable_and_records_show_a_change(year: Engine) -> None:
    first, again = run(year), run(year)
    assert first.sha256 == again.sha256
    assert len(first.sha256) == 64
    with year.begin() as conn:
        record(conn, first)
        assert first.previous_sha256 is None
        record(conn, again)
        assert (again.changed, again.previous_sha256) == (False, first.sha256)
        # a late report rewrites history: cam-c1 was ok, not unknown, on 1-8/3/2026
        conn.execute(
            update(INTERVAL)
            .where(INTERVAL.c.camera_id == "cam-c1", INTERVAL.c.status == "unknown")
            .values(status="ok")
        )
    changed = run(year)
    assert changed.sha256 != first.sha256
    assert commune(changed, "00003").camera_days.unknown == 0
    with year.begin() as conn:
        record(conn, changed)
        assert (changed.changed, changed.previous_sha256) == (True, first.sha256)
        rows = records(conn, 2026)
        assert [r["sha256"] for r in rows] == [changed.sha256, first.sha256, first.sha256]
        doc = stored(conn, rows[0]["id"])
    assert doc is not None
    assert doc["sha256"] == changed.sha256
    assert doc["communes"] == to_dict(changed)["communes"]


def test_digest_recomputed_from_the_published_json(year: Engine) -> None:
    """The recipe of docs/evaluation.md gives the digest back from the JSON file alone."""
    doc = json.loads(to_json(run(year)))
    volatile = {"computed_at", "sha256", "record", "previous_sha256", "changed"}
    body = {k: v for k, v in doc.items() if k not in volatile}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canon.encode()).hexdigest() == doc["sha256"]


def test_binary_copy_reads_numbers_and_refuses_nulls(pg_url: str) -> None:
    engine = make_engine(pg_url)
    query = "SELECT g::bigint, g * 0.5::float8 FROM generate_series(1, %(n)s) AS g"
    try:
        with engine.connect() as conn:
            ints, halves = copy_numbers(conn, query, {"n": 5}, ["bigint", "double"])
            assert ints.tolist() == [1, 2, 3, 4, 5]
            assert halves.tolist() == [0.5, 1.0, 1.5, 2.0, 2.5]
            empty = copy_numbers(conn, query, {"n": 0}, ["bigint", "double"])
            assert [len(column) for column in empty] == [0, 0]
            with pytest.raises(ValueError, match="NULL"):
                copy_numbers(conn, "SELECT NULL::bigint, 1::float8", {}, ["bigint", "double"])
    finally:
        engine.dispose()
