"""The API's read queries and the daily roll-up on a hand-built November, SQLite and PostgreSQL.

Commune 00001 has four cameras; with ``NOW`` = Sat 21 Nov 2026 06:00 (Vietnam) and a
10-day window (11 Nov 06:00 → NOW, 18 h + 9 whole days + 6 h):

- cam-a: ok from 1 Nov, down from 19 Nov 06:00 (still): 8 days ok, 2 down.
- cam-b: removed on 16 Nov; ok to 12 Nov, no interval on 12 Nov (agent gone: unknown),
  ok again from 13 Nov: counted 4.75 days, 3.75 ok, 1 unknown.
- cam-c: installed on 18 Nov, first report 19 Nov; ok, unknown 20 Nov 12:00 → 21 Nov, ok:
  counted 3.25 days, 1 never reported, 1.75 ok, 0.5 unknown.
- cam-d: never reports: 10 days never reported.

Installed 28 camera-days, working 13.5, unknown 1.5. Commune 00002 has cam-e (degraded
since 1 Nov); 00003 was merged away (valid to 1 Jul 2025).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api import queries, rollup
from api.queries_tasks import EVENT, TASK, USER
from collector import store
from collector.db import create_schema, make_engine
from collector.models import Camera, Commune, Site
from collector.ratio import INTERVAL, VN, local_midnight, ratio_window
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


NOW = vn(21, 6)
INTERVALS = [
    ("cam-a", "ok", "", vn(1), vn(19, 6)),
    ("cam-a", "down", "", vn(19, 6), None),
    ("cam-b", "ok", "", vn(1), vn(12)),
    ("cam-b", "ok", "", vn(13), None),
    ("cam-c", "ok", "", vn(19), vn(20, 12)),
    ("cam-c", "unknown", "", vn(20, 12), vn(21)),
    ("cam-c", "ok", "", vn(21), None),
    ("cam-e", "degraded", "blurred,noisy", vn(1), None),
]
STATES = [("cam-a", "down", "", vn(19, 6)), ("cam-b", "ok", "", vn(13))]
STATES += [("cam-c", "ok", "", vn(21)), ("cam-e", "degraded", "blurred,noisy", vn(1))]
SNAPSHOTS = [  # id, camera, taken at, reason
    (1, "cam-a", vn(10), "daily"),
    (2, "cam-a", vn(19, 3), "daily"),  # the last one while ok: the reference
    (3, "cam-a", vn(19, 6), "status_change"),  # the down interval starts at that instant
    (4, "cam-a", vn(20), "daily"),  # the last one
    (5, "cam-e", vn(21), "daily"),
]


def _task(tid: int, **kw: Any) -> dict[str, Any]:
    row = {
        "id": tid, "kind": "camera", "camera_id": None, "site_id": None, "agent_id": None,
        "commune_code": "00001", "cameras": "", "state": "open", "problem": "offline",
        "status_seen": "down", "faults": "", "cause": None, "diagnosis": "Mất kết nối",
        "diagnosis_en": "Unreachable", "priority": "normal", "failed_at": vn(19, 6),
        "opened_at": vn(19, 7), "deadline": vn(22), "assignee_id": None, "escalation": 0,
        "escalated_at": None, "reported_fixed_at": None, "fixed_at": None, "closed_at": None,
        "repair_seconds": None, "reopened": 0, "updated_at": vn(19, 7),
    }  # fmt: skip
    return row | kw


TASKS = [
    _task(1, camera_id="cam-a", state="assigned", deadline=vn(20), assignee_id=1),  # overdue
    _task(2, camera_id="cam-d", opened_at=vn(19, 8), problem="never_reported"),
    _task(3, camera_id="cam-b", state="closed", deadline=vn(12), opened_at=vn(11)),
    _task(4, kind="site", site_id="site-00002", commune_code="00002", cameras="cam-e",
          state="in_progress", deadline=vn(21), opened_at=vn(20)),  # overdue
]  # fmt: skip


def _seed(engine: Engine) -> None:
    seed_registry(
        engine,
        {"00001": ["cam-a", "cam-b", "cam-c", "cam-d"], "00002": ["cam-e"], "00003": []},
    )
    with Session(engine) as session:
        cams = {c: session.get(Camera, c) for c in ("cam-a", "cam-b", "cam-c")}
        assert all(cams.values())
        cams["cam-a"].lat, cams["cam-a"].lon = 21.3, 105.6
        cams["cam-a"].name = "Cổng chợ"
        cams["cam-b"].removed_on = date(2026, 11, 16)
        cams["cam-c"].installed_on = date(2026, 11, 18)
        merged = session.get(Commune, "00003")
        site = session.get(Site, "site-00002")
        assert merged is not None
        assert site is not None
        merged.valid_to, merged.merged_into = date(2025, 7, 1), "00001"
        site.lat, site.lon = 21.25, 105.5
        session.commit()
    with engine.begin() as conn:
        conn.execute(
            insert(INTERVAL),
            [
                {"camera_id": c, "status": s, "faults": f, "cause": None, "start": a, "end": b}
                for c, s, f, a, b in INTERVALS
            ],
        )
        conn.execute(
            insert(store.STATE),
            [
                {"camera_id": c, "status": s, "faults": f, "cause": None, "since": t,
                 "pending_count": 0, "pending_faults": ""}
                for c, s, f, t in STATES
            ],
        )  # fmt: skip
        conn.execute(
            insert(store.SNAPSHOT),
            [
                {"id": i, "camera_id": c, "report_id": f"r{i}", "taken_at": t, "reason": r,
                 "width": 640, "height": 360, "jpeg": b"\xff\xd8jpeg%d" % i}
                for i, c, t, r in SNAPSHOTS
            ],
        )  # fmt: skip
        person = {"password_hash": "", "phone": "", "email": "", "language": "vi",
                  "active": True, "created_at": vn(1)}  # fmt: skip
        conn.execute(
            insert(USER),
            [
                {"id": 1, "username": "ky", "full_name": "Nguyễn Văn Kỹ", "role": "technician"}
                | person,
                {"id": 2, "username": "canbo", "full_name": "", "role": "commune"} | person,
            ],
        )
        conn.execute(insert(TASK), TASKS)
        conn.execute(
            insert(EVENT),
            [
                {"id": 1, "task_id": 1, "at": vn(19, 7), "user_id": None, "kind": "raised",
                 "from_state": None, "to_state": "open", "note": "", "photo": None},
                {"id": 2, "task_id": 1, "at": vn(19, 9), "user_id": 2, "kind": "assigned",
                 "from_state": "open", "to_state": "assigned", "note": "Anh Kỹ đi",
                 "photo": b"jpeg"},
                {"id": 3, "task_id": 4, "at": vn(20, 1), "user_id": 1, "kind": "state",
                 "from_state": "open", "to_state": "in_progress", "note": "", "photo": None},
            ],
        )  # fmt: skip


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    create_schema(eng)
    _seed(eng)
    yield eng
    eng.dispose()


def figures(engine: Engine, code: str, start: datetime, end: datetime) -> tuple[float, float]:
    """(uptime, unknown share) of ``code`` as ``ratio_window`` gives them: the reference."""
    with engine.connect() as conn:
        ref = ratio_window(conn, start, end, commune=code, now=NOW)[code]
    return ref.working / ref.installed, ref.by_status["unknown"] / ref.installed


def shares(engine: Engine, start: datetime, end: datetime) -> dict[str, Any]:
    with engine.connect() as conn:
        return rollup.uptime(conn, ["00001", "00002"], start, end, NOW)


WINDOWS = [
    (NOW - timedelta(days=10), NOW),  # partial edges, whole days, today
    (vn(2), vn(19)),  # whole days only
    (vn(15, 7.5), vn(19, 20)),  # partial at both ends
    (vn(20, 3), vn(20, 9)),  # inside one day
    (vn(1), vn(30)),  # runs past now: not counted after now
]


def test_hand_computed_window_without_and_with_the_rollup(engine: Engine) -> None:
    start = NOW - timedelta(days=10)
    with engine.connect() as conn:
        live = rollup.camera_seconds(conn, ["00001"], start, NOW, NOW)["00001"]
    days = {k: v / DAY for k, v in live.items()}
    assert days == pytest.approx(
        {
            "installed": 28,
            "ok": 13.5,
            "degraded": 0,
            "down": 2,
            "unknown": 1.5,
            "never_reported": 11,
        }
    )
    assert shares(engine, start, NOW)["00001"] == pytest.approx((13.5 / 28, 1.5 / 28))
    assert rollup.rollup_days(engine, NOW) == 20 * 2  # 1 → 20 Nov, communes with cameras
    assert shares(engine, start, NOW)["00001"] == pytest.approx((13.5 / 28, 1.5 / 28))
    assert shares(engine, start, NOW)["00002"] == pytest.approx((1.0, 0.0))


@pytest.mark.parametrize("rolled", [False, True])
def test_uptime_equals_ratio_window(engine: Engine, rolled: bool) -> None:
    if rolled:
        rollup.rollup_days(engine, NOW)
    for start, end in WINDOWS:
        got = shares(engine, start, end)
        for code in ("00001", "00002"):
            assert got[code] == pytest.approx(figures(engine, code, start, end)), (start, end)


def test_each_rolled_up_day_equals_ratio_window_of_that_day(engine: Engine) -> None:
    rollup.rollup_days(engine, NOW)
    day_table = rollup.COMMUNE_DAY
    with engine.connect() as conn:
        rows = conn.execute(select(day_table)).all()
        assert len(rows) == 40
        for row in rows:
            a, b = local_midnight(row.day), local_midnight(row.day + timedelta(days=1))
            ref = ratio_window(conn, a, b, commune=row.commune_code, now=NOW)[row.commune_code]
            assert row.installed == pytest.approx(ref.installed)
            for status, seconds in ref.by_status.items():
                assert getattr(row, status) == pytest.approx(seconds), (row.day, status)


def test_rollup_fills_missing_days_and_recomputes_recent_ones(engine: Engine) -> None:
    assert rollup.rollup_days(engine, NOW) == 40
    assert rollup.rollup_days(engine, NOW) == 3 * 2  # only the last three days again
    with engine.begin() as conn:  # a late replay: cam-a was ok until 21 Nov
        i = INTERVAL.c
        conn.execute(update(INTERVAL).where(i.camera_id == "cam-a", i.end.is_(None))
                     .values(start=vn(21)))  # fmt: skip
        conn.execute(update(INTERVAL).where(i.camera_id == "cam-a", i.start == vn(1))
                     .values(end=vn(21)))  # fmt: skip
        conn.execute(
            delete(rollup.COMMUNE_DAY).where(rollup.COMMUNE_DAY.c.day == date(2026, 11, 5))
        )
    assert rollup.rollup_days(engine, NOW) == 4 * 2  # 5 Nov missing, 18-20 Nov recomputed
    with engine.connect() as conn:
        points = rollup.trend(conn, ["00001"], 3, NOW)
    # 20 Nov: cam-a ok now, cam-c ok half the day then unknown, cam-d never reported
    assert [p.day for p in points] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert points[-1].uptime == pytest.approx(1.5 / 3)
    assert points[-1].unknown_share == pytest.approx(0.5 / 3)
    # a day later: one new day plus the three recomputed
    assert rollup.rollup_days(engine, NOW + timedelta(days=1)) == 3 * 2


def test_trend_from_the_rollup(engine: Engine) -> None:
    with engine.connect() as conn:
        assert [p.uptime for p in rollup.trend(conn, None, 2, NOW)] == [None, None]
    rollup.rollup_days(engine, NOW)
    with engine.connect() as conn:
        one = rollup.trend(conn, ["00001"], 3, NOW)
        both = rollup.trend(conn, None, 3, NOW)
    # 18 Nov: cam-a ok, cam-c and cam-d never reported. 19 Nov: cam-a ok 6 h then down,
    # cam-c ok, cam-d never. 20 Nov: cam-a down, cam-c ok 12 h then unknown, cam-d never.
    assert [p.uptime for p in one] == pytest.approx([1 / 3, 1.25 / 3, 0.5 / 3])
    assert [p.unknown_share for p in one] == pytest.approx([0, 0, 0.5 / 3])
    assert [p.uptime for p in both] == pytest.approx([2 / 4, 2.25 / 4, 1.5 / 4])  # + cam-e


def test_commune_table(engine: Engine) -> None:
    rollup.rollup_days(engine, NOW)
    with engine.connect() as conn:
        rows = queries.commune_table(conn, None, NOW, window_days=10, coverage={"00001": 0.5})
        only = queries.commune_table(conn, ["00002", "00003"], NOW, window_days=10)
    assert [r.code for r in rows] == ["00001", "00002"]  # 00003 merged away
    one, two = rows
    assert (one.installed, one.working, one.ratio) == (3, 1, pytest.approx(1 / 3))  # cam-b gone
    assert one.by_status == {"ok": 1, "degraded": 0, "down": 1, "unknown": 0,
                             "never_reported": 1}  # fmt: skip
    assert (one.cameras_down, one.longest_down_seconds) == (1, pytest.approx(2 * DAY))
    assert (one.open_tasks, one.overdue_tasks) == (2, 1)
    # the window is the last 10 local days, today so far included: from midnight of the
    # 12th (NOW is 06:00 on the 21st); collector.ratio.ratio_window is the reference
    with engine.connect() as conn:
        ref = ratio_window(
            conn, local_midnight(NOW.astimezone(VN).date() - timedelta(days=9)), NOW, now=NOW
        )
    expected = ref["00001"]
    assert one.uptime == pytest.approx(expected.working / expected.installed)
    assert one.unknown_share == pytest.approx(expected.by_status["unknown"] / expected.installed)
    assert one.uptime != pytest.approx(13.5 / 28)  # not the rolling 10 x 24 h window
    assert (one.window_days, one.coverage, one.name) == (10, 0.5, "Xã 00001")
    assert (two.working, two.cameras_down, two.longest_down_seconds) == (1, 0, None)
    assert (two.open_tasks, two.overdue_tasks, two.coverage) == (1, 1, None)
    assert [r.code for r in only] == ["00002"]
    assert only[0] == two


def test_cameras(engine: Engine) -> None:
    with engine.connect() as conn:
        every = queries.cameras(conn, None, now=NOW)
        down = queries.cameras(conn, None, status="down", now=NOW)
        never = queries.cameras(conn, ["00001"], status="never_reported", now=NOW)
        other = queries.cameras(conn, ["00002"], commune="00001", now=NOW)
        two = queries.cameras(conn, None, commune="00002", now=NOW)
    assert [c.id for c in every] == ["cam-a", "cam-c", "cam-d", "cam-e"]  # cam-b removed
    assert [(c.id, c.open_task_id) for c in down] == [("cam-a", 1)]
    assert [(c.id, c.open_task_id, c.since) for c in never] == [("cam-d", 2, None)]
    assert other == []
    assert [(c.faults, c.status, c.open_task_id) for c in two] == [
        (["blurred", "noisy"], "degraded", None)
    ]


def test_a_cameras_last_report_is_its_newest_stored_report(engine: Engine) -> None:
    ago = [("r1", "cam-a", 3), ("r2", "cam-a", 1), ("r3", "cam-a", 2), ("r4", "cam-c", 120)]
    rows = [(r, c, NOW - timedelta(minutes=m)) for r, c, m in ago]
    with engine.begin() as conn:
        conn.execute(
            insert(store.HEALTH),
            [{"report_id": r, "camera_id": c, "agent_id": "agent-1", "probed_at": at,
              "received_at": at, "status": "ok", "faults": ""} for r, c, at in rows],
        )  # fmt: skip
    with engine.connect() as conn:
        last = {c.id: c.last_report_at for c in queries.cameras(conn, None, now=NOW)}
    assert last == {
        "cam-a": NOW - timedelta(minutes=1),  # the newest, not the last stored (r3)
        "cam-c": NOW - timedelta(hours=2),
        "cam-d": None,  # never reported
        "cam-e": None,
    }


def test_camera_detail(engine: Engine) -> None:
    with engine.connect() as conn:
        a = queries.camera_detail(conn, "cam-a", NOW, window_days=10)
        b = queries.camera_detail(conn, "cam-b", NOW, window_days=8)
        e = queries.camera_detail(conn, "cam-e", NOW)
        assert queries.camera_detail(conn, "nope", NOW) is None
    assert a is not None
    assert b is not None
    assert e is not None
    assert [(i.status, i.start, i.end) for i in a.timeline] == [
        ("ok", vn(1), vn(19, 6)),  # true start, before the window
        ("down", vn(19, 6), None),
    ]
    # window from 13 Nov 06:00: the ok interval ending 12 Nov is outside
    assert [(i.start, i.end) for i in b.timeline] == [(vn(13), None)]
    assert a.last_snapshot is not None
    assert a.reference_snapshot is not None
    assert (a.last_snapshot.id, a.reference_snapshot.id) == (4, 2)
    assert (a.status, a.since, a.open_task_id) == ("down", vn(19, 6), 1)
    assert [t.id for t in a.tasks] == [1]
    assert [(ev.kind, ev.user, ev.has_photo) for ev in a.tasks[0].events] == [
        ("raised", None, False),
        ("assigned", "canbo", True),  # no full name: the username
    ]
    assert a.tasks[0].location_url == (
        "https://www.openstreetmap.org/?mlat=21.3&mlon=105.6#map=18/21.3/105.6"
    )
    assert [t.id for t in e.tasks] == [4]  # the site task that lists cam-e
    assert e.reference_snapshot is None  # never ok, only degraded
    assert e.timeline[0].faults == ["blurred", "noisy"]


def test_tasks_and_task_detail(engine: Engine) -> None:
    with engine.connect() as conn:
        one = queries.tasks(conn, ["00001"], NOW)
        open_ = queries.tasks(conn, ["00001"], NOW, open_only=True)
        closed = queries.tasks(conn, None, NOW, state="closed")
        mine = queries.tasks(conn, None, NOW, assignee_id=1, with_events=True)
        few = queries.tasks(conn, None, NOW, limit=2)
        site = queries.task_detail(conn, 4, NOW)
        assert queries.task_detail(conn, 99, NOW) is None
    assert [t.id for t in one] == [2, 1, 3]  # newest first
    assert [(t.id, t.overdue) for t in open_] == [(2, False), (1, True)]
    assert [(t.id, t.overdue) for t in closed] == [(3, False)]  # past deadline but closed
    assert [(t.id, t.assignee, len(t.events)) for t in mine] == [(1, "Nguyễn Văn Kỹ", 2)]
    assert [t.id for t in few] == [4, 2]
    assert one[0].events == []
    assert (one[1].camera_name, one[1].commune_name) == ("Cổng chợ", "Xã 00001")
    assert site is not None
    assert (site.kind, site.cameras, site.overdue, site.commune_name) == (
        "site",
        ["cam-e"],
        True,
        "Xã 00002",
    )
    assert site.location_url == (
        "https://www.openstreetmap.org/?mlat=21.25&mlon=105.5#map=18/21.25/105.5"
    )
    assert [(ev.to_state, ev.user) for ev in site.events] == [("in_progress", "Nguyễn Văn Kỹ")]


def test_snapshot_jpeg(engine: Engine) -> None:
    with engine.connect() as conn:
        assert queries.snapshot_jpeg(conn, 2) == ("cam-a", b"\xff\xd8jpeg2")
        assert queries.snapshot_jpeg(conn, 42) is None


def test_nothing_installed_gives_none(engine: Engine) -> None:
    with engine.connect() as conn:
        got = rollup.uptime(conn, ["00003"], NOW - timedelta(days=3), NOW, NOW)
        assert got == {"00003": (None, None)}
        assert rollup.uptime(conn, None, NOW, NOW + timedelta(days=1), NOW) == {}
    with engine.begin() as conn:
        conn.execute(delete(INTERVAL))
    assert rollup.rollup_days(engine, NOW) == 0  # nothing ever reported: nothing to roll up
