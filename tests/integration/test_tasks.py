"""Repair tasks on a real database (SQLite and PostgreSQL): hand-made scenarios of ``tick``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from api import tasks
from api.errors import BadRequest, Forbidden, InvalidTransition, NotFound
from api.task_rules import TaskRules
from api.tasks_flow import EVENT, TASK, USER, USER_COMMUNE
from collector import store
from collector.db import create_schema, make_engine
from collector.state import State
from tests import db_fixtures as dbf
from tests.collector_helpers import seed_registry, utc

postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)

T0 = utc(2026, 11, 2, 8, 0)
RULES = TaskRules()
CAMS = ["cam-1", "cam-2", "cam-3", "cam-4", "cam-5"]


def mins(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    create_schema(eng)
    seed_registry(eng, {"00001": CAMS, "00002": ["cam-6"]})
    yield eng
    eng.dispose()


def set_state(
    engine: Engine,
    cam: str,
    status: str,
    since: datetime,
    faults: str = "",
    cause: str | None = None,
) -> None:
    """The collector's view: ``cam`` is ``status`` from ``since`` (state row + interval)."""
    with engine.begin() as conn:
        store.set_status_from(conn, cam, since, status, faults, cause)
        row = store.state_row(cam, State(status, since, faults, cause, since), None)
        store.upsert(conn, store.STATE, [row], "camera_id")


def report(engine: Engine, cam: str, status: str, at: datetime, agent: str = "agent-00001") -> None:
    row = {"report_id": uuid.uuid4().hex, "camera_id": cam, "agent_id": agent, "status": status}
    with engine.begin() as conn:
        conn.execute(insert(store.HEALTH).values(probed_at=at, received_at=at, **row))


def presence(engine: Engine, agent: str, state: str, since: datetime) -> None:
    row = {"agent_id": agent, "commune_code": "00001", "state": state, "since": since}
    with engine.begin() as conn:
        store.upsert(conn, store.PRESENCE, [{**row, "last_seen": since}], "agent_id")


def user(engine: Engine, name: str, role: str, communes: tuple[str, ...] = (), **kw: Any) -> int:
    with engine.begin() as conn:
        values = {"username": name, "role": role, "created_at": T0, **kw}
        uid = int(conn.execute(insert(USER).values(**values).returning(USER.c.id)).scalar_one())
        for code in communes:
            conn.execute(insert(USER_COMMUNE).values(user_id=uid, commune_code=code))
    return uid


def camera(engine: Engine, cam: str, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(tasks.CAMERA).where(tasks.CAMERA.c.id == cam).values(**values))


def all_tasks(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(TASK).order_by(TASK.c.id)))


def history(engine: Engine, task_id: int) -> list[tuple[str, str | None, str | None, str]]:
    e = EVENT.c
    query = select(e.kind, e.from_state, e.to_state, e.note).where(e.task_id == task_id)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query.order_by(e.id))]  # type: ignore[misc]


def tick(engine: Engine, at: datetime) -> tasks.TickResult:
    return tasks.tick(engine, at, RULES)


def test_down_beyond_grace_raises_exactly_one_task(engine: Engine) -> None:
    set_state(engine, "cam-1", "down", T0, cause="unreachable")
    assert tick(engine, mins(14)).raised == 0  # offline grace: 900 s
    assert all_tasks(engine) == []
    assert tick(engine, mins(16)).raised == 1
    for at in (mins(17), mins(60), mins(600)):
        assert tick(engine, at).raised == 0
    (task,) = all_tasks(engine)
    assert (task.kind, task.camera_id, task.problem, task.status_seen) == (
        "camera", "cam-1", "offline", "down",
    )  # fmt: skip
    assert (task.cause, task.state, task.assignee_id, task.commune_code) == (
        "unreachable", "open", None, "00001",
    )  # fmt: skip
    assert "kiểm tra nguồn điện và dây mạng" in task.diagnosis.lower()
    assert "cable tester" in task.diagnosis_en
    assert (task.failed_at, task.opened_at) == (T0, mins(16))
    assert task.deadline == mins(16) + timedelta(hours=72)  # priority normal
    assert history(engine, task.id)[0][:3] == ("raised", None, "open")


def test_removed_cameras_and_ok_or_unknown_ones_raise_nothing(engine: Engine) -> None:
    camera(engine, "cam-1", removed_on=date(2026, 11, 1))
    set_state(engine, "cam-1", "down", T0, cause="timeout")
    set_state(engine, "cam-2", "unknown", T0)
    set_state(engine, "cam-3", "ok", T0)
    assert tick(engine, mins(600)).raised == 0
    assert all_tasks(engine) == []


def test_covered_and_blurred_have_their_own_grace_and_diagnosis(engine: Engine) -> None:
    set_state(engine, "cam-1", "down", T0, faults="covered")
    set_state(engine, "cam-2", "degraded", T0, faults="blurred,noisy")
    assert tick(engine, mins(31)).raised == 1  # covered: 1800 s; blurred: 3600 s
    assert tick(engine, mins(61)).raised == 1
    covered, blurred = all_tasks(engine)
    assert (covered.camera_id, covered.problem, covered.status_seen) == ("cam-1", "covered", "down")
    assert "gỡ vật che" in covered.diagnosis
    assert (blurred.camera_id, blurred.problem, blurred.faults) == (
        "cam-2",
        "blurred",
        "blurred,noisy",
    )
    assert "chỉnh lại tiêu cự" in blurred.diagnosis
    assert "Ngoài ra: hình nhiễu." in blurred.diagnosis


def test_priority_sets_the_deadline_and_the_technician_is_assigned(engine: Engine) -> None:
    user(engine, "officer", "commune", ("00001",))
    user(engine, "retired", "technician", ("00001",), active=False)
    tech = user(engine, "tech-a", "technician", ("00001",), full_name="Nguyễn Văn A")
    user(engine, "tech-b", "technician", ("00001",))
    camera(engine, "cam-1", priority="hotspot")
    camera(engine, "cam-6", priority="main_road")
    set_state(engine, "cam-1", "down", T0, cause="unreachable")
    set_state(engine, "cam-6", "down", T0, cause="unreachable")
    tick(engine, mins(20))
    hot, road = all_tasks(engine)
    assert (hot.priority, hot.deadline) == ("hotspot", mins(20) + timedelta(hours=24))
    assert (hot.state, hot.assignee_id) == ("assigned", tech)
    assert "Nguyễn Văn A" in history(engine, hot.id)[0][3]
    assert (road.priority, road.deadline) == ("main_road", mins(20) + timedelta(hours=48))
    assert (road.state, road.assignee_id, road.commune_code) == ("open", None, "00002")
    assert "chưa có kỹ thuật viên" in history(engine, road.id)[0][3]


def test_an_offline_agent_raises_one_site_task_closed_when_all_report(engine: Engine) -> None:
    camera(engine, "cam-3", priority="hotspot")
    presence(engine, "agent-00001", "offline", T0)
    for cam in CAMS:
        set_state(engine, cam, "unknown", T0)
    assert tick(engine, mins(14)).raised == 0  # site_grace 900 s
    assert tick(engine, mins(16)).raised == 1
    assert tick(engine, mins(90)).raised == 0
    (task,) = all_tasks(engine)
    assert (task.kind, task.agent_id, task.site_id, task.camera_id) == (
        "site", "agent-00001", "site-00001", None,
    )  # fmt: skip
    assert (task.cameras, task.problem) == ("cam-1,cam-2,cam-3,cam-4,cam-5", "offline_site")
    assert (task.priority, task.deadline) == ("hotspot", mins(16) + timedelta(hours=24))
    assert "5 camera" in task.diagnosis
    assert "4G" in task.diagnosis
    presence(engine, "agent-00001", "online", mins(120))
    for cam in CAMS[:4]:
        report(engine, cam, "ok", mins(121))
    report(engine, "cam-5", "down", mins(100))  # before the agent came back: not proof
    assert tick(engine, mins(125)).closed == 0
    report(engine, "cam-5", "down", mins(126))  # a broken camera still reports: site is back
    assert tick(engine, mins(127)).closed == 1
    (task,) = all_tasks(engine)
    assert (task.state, task.fixed_at, task.closed_at) == ("closed", mins(120), mins(127))
    assert task.repair_seconds == pytest.approx(120 * 60)


def test_m_ok_reports_verify_and_close_with_the_repair_time(engine: Engine) -> None:
    tech = user(engine, "tech", "technician", ("00001",))
    set_state(engine, "cam-1", "down", T0, faults="frozen")
    report(engine, "cam-1", "down", T0)
    tick(engine, mins(31))
    (task,) = all_tasks(engine)
    with engine.begin() as conn:
        tasks.move_task(conn, task.id, "in_progress", tech, mins(100))
        tasks.move_task(conn, task.id, "reported_fixed", tech, mins(190), note="đã thay nguồn")
    for n in (190, 195):
        report(engine, "cam-1", "ok", mins(n))
    set_state(engine, "cam-1", "ok", mins(190))
    assert tick(engine, mins(196)).closed == 0  # 2 of 3 ok reports
    report(engine, "cam-1", "ok", mins(200))
    result = tick(engine, mins(201))
    assert (result.verified, result.closed) == (1, 1)
    (task,) = all_tasks(engine)
    assert (task.state, task.fixed_at, task.closed_at) == ("closed", mins(190), mins(201))
    assert (task.reported_fixed_at, task.repair_seconds) == (mins(190), 190 * 60)
    kinds = [(k, a, b) for k, a, b, _ in history(engine, task.id)]
    assert kinds == [
        ("raised", None, "assigned"),
        ("state", "assigned", "in_progress"),
        ("state", "in_progress", "reported_fixed"),
        ("state", "reported_fixed", "verified"),
        ("state", "verified", "closed"),
    ]
    assert "tự phục hồi" not in history(engine, task.id)[3][3]
    assert tick(engine, mins(300)) == tasks.TickResult()


def test_ok_reports_without_an_ok_state_do_not_close(engine: Engine) -> None:
    set_state(engine, "cam-1", "down", T0, cause="unreachable")
    tick(engine, mins(20))
    for n in (30, 31, 32, 33):
        report(engine, "cam-1", "ok", mins(n))  # hysteresis has not confirmed it yet
    assert tick(engine, mins(34)).closed == 0


def fail_and_recover(engine: Engine, start: datetime, back: datetime) -> None:
    set_state(engine, "cam-1", "down", start, cause="unreachable")
    tick(engine, start + timedelta(minutes=20))
    set_state(engine, "cam-1", "ok", back)
    for n in range(3):
        report(engine, "cam-1", "ok", back + timedelta(minutes=n))
    assert tick(engine, back + timedelta(minutes=5)).closed == 1


def test_a_failure_within_n_days_reopens_the_same_task(engine: Engine) -> None:
    fail_and_recover(engine, T0, mins(60))
    (first,) = all_tasks(engine)
    assert "tự phục hồi" in history(engine, first.id)[-2][3]  # nobody reported it fixed
    again = T0 + timedelta(days=2)
    set_state(engine, "cam-1", "degraded", again, faults="moved")
    result = tick(engine, again + timedelta(minutes=61))
    assert (result.raised, result.reopened) == (0, 1)
    (task,) = all_tasks(engine)
    assert (task.id, task.state, task.reopened, task.problem) == (first.id, "open", 1, "moved")
    assert (task.failed_at, task.closed_at, task.fixed_at, task.repair_seconds) == (
        again, None, None, None,
    )  # fmt: skip
    assert task.deadline == again + timedelta(minutes=61, hours=72)
    assert history(engine, task.id)[-1][:3] == ("reopened", "closed", "open")
    set_state(engine, "cam-1", "ok", again + timedelta(hours=2))
    for n in range(3):
        report(engine, "cam-1", "ok", again + timedelta(hours=2, minutes=n))
    tick(engine, again + timedelta(hours=3))
    later = again + timedelta(days=8)  # closed more than 7 days before: a new task
    set_state(engine, "cam-1", "down", later, cause="timeout")
    assert tick(engine, later + timedelta(minutes=20)).raised == 1
    assert [t.reopened for t in all_tasks(engine)] == [1, 0]


def test_overdue_escalates_to_the_commune_then_the_district(engine: Engine) -> None:
    user(engine, "officer", "commune", ("00001",), full_name="Trần Thị B")
    user(engine, "district", "district", province_code="26", full_name="Lê Văn C")
    camera(engine, "cam-1", priority="hotspot")
    set_state(engine, "cam-1", "down", T0, cause="unreachable")
    tick(engine, mins(20))
    deadline = mins(20) + timedelta(hours=24)
    assert tick(engine, deadline - timedelta(minutes=1)).escalated == 0
    assert tick(engine, deadline + timedelta(minutes=1)).escalated == 1
    assert tick(engine, deadline + timedelta(hours=2)).escalated == 0
    (task,) = all_tasks(engine)
    assert (task.escalation, task.escalated_at) == (1, deadline + timedelta(minutes=1))
    note = history(engine, task.id)[-1][3]
    assert "cán bộ xã" in note
    assert "Trần Thị B" in note
    assert tick(engine, deadline + timedelta(hours=24, minutes=1)).escalated == 1
    (task,) = all_tasks(engine)
    assert task.escalation == 2
    assert [e[0] for e in history(engine, task.id)] == ["raised", "escalated", "escalated"]
    assert "Lê Văn C" in history(engine, task.id)[-1][3]
    assert tick(engine, deadline + timedelta(days=5)).escalated == 0


def test_human_moves_follow_the_lifecycle(engine: Engine) -> None:
    tech = user(engine, "tech", "technician")
    admin = user(engine, "admin", "admin")
    set_state(engine, "cam-1", "down", T0, cause="auth_failed")
    tick(engine, mins(40))
    (task,) = all_tasks(engine)
    now = mins(50)
    with engine.begin() as conn, pytest.raises(InvalidTransition) as info:
        tasks.move_task(conn, task.id, "reported_fixed", tech, now)
    assert info.value.allowed == ["assigned", "in_progress"]
    with engine.begin() as conn:
        tasks.move_task(conn, task.id, "in_progress", tech, now)
    for wanted in ("verified", "closed", "open", "bogus"):
        with engine.begin() as conn, pytest.raises(InvalidTransition):
            tasks.move_task(conn, task.id, wanted, tech, now)
    with engine.begin() as conn:
        tasks.move_task(conn, task.id, "reported_fixed", tech, mins(60))
    assert all_tasks(engine)[0].reported_fixed_at == mins(60)
    with engine.begin() as conn:
        tasks.move_task(conn, task.id, "in_progress", tech, mins(70), note="vẫn hỏng")
    (task,) = all_tasks(engine)
    assert (task.state, task.assignee_id, task.reported_fixed_at) == ("in_progress", tech, None)
    with engine.begin() as conn, pytest.raises(NotFound):
        tasks.move_task(conn, 9999, "in_progress", tech, now)
    with engine.begin() as conn, pytest.raises(Forbidden):
        tasks.move_task(conn, task.id, "closed", tech, now, "x", allow_close=True)
    with engine.begin() as conn, pytest.raises(BadRequest):
        tasks.move_task(conn, task.id, "closed", admin, now, allow_close=True)
    with engine.begin() as conn:
        tasks.move_task(
            conn, task.id, "closed", admin, mins(80), "camera đã tháo", allow_close=True
        )
    (task,) = all_tasks(engine)
    assert (task.state, task.closed_at, task.fixed_at) == ("closed", mins(80), None)
    with engine.begin() as conn, pytest.raises(InvalidTransition):
        tasks.move_task(conn, task.id, "in_progress", admin, now, allow_close=True)
    kinds = [(k, a, b) for k, a, b, _ in history(engine, task.id)][1:]
    assert kinds == [
        ("state", "open", "in_progress"),
        ("state", "in_progress", "reported_fixed"),
        ("state", "reported_fixed", "in_progress"),
        ("state", "in_progress", "closed"),
    ]


def test_assign_and_notes_with_a_photo(engine: Engine) -> None:
    officer = user(engine, "officer", "commune", ("00001",))
    tech = user(engine, "tech", "technician")
    reader = user(engine, "scoring", "reader")
    set_state(engine, "cam-1", "down", T0, faults="covered")
    tick(engine, mins(40))
    (task,) = all_tasks(engine)
    with engine.begin() as conn:
        tasks.assign(conn, task.id, tech, officer, mins(41))
    with engine.begin() as conn, pytest.raises(BadRequest):
        tasks.assign(conn, task.id, reader, officer, mins(41))
    (task,) = all_tasks(engine)
    assert (task.state, task.assignee_id) == ("assigned", tech)
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"
    with engine.begin() as conn:
        event_id = tasks.add_note(
            conn, task.id, tech, mins(45), "túi nilon che", jpeg, "image/jpeg"
        )
    for note, photo, kind in (("", None, None), ("x", b"text", "text/plain")):
        with engine.begin() as conn, pytest.raises(BadRequest):
            tasks.add_note(conn, task.id, tech, mins(46), note, photo, kind)
    e = EVENT.c
    with engine.connect() as conn:
        row = conn.execute(select(EVENT).where(e.id == event_id)).one()
        notes = conn.execute(select(e.id).where(e.task_id == task.id, e.kind == "note")).all()
    assert (row.kind, row.user_id, row.note, row.at) == ("note", tech, "túi nilon che", mins(45))
    assert (row.photo, row.photo_type) == (jpeg, "image/jpeg")
    assert len(notes) == 1
    assert history(engine, task.id)[1][:3] == ("assigned", "open", "assigned")


def test_next_due_names_when_a_grace_or_deadline_ends(engine: Engine) -> None:
    """``camnet jobs`` ticks at that moment instead of waiting for its periodic tick."""
    assert tick(engine, T0).next_due is None  # nothing pending
    set_state(engine, "cam-1", "down", T0, cause="unreachable")  # offline grace 900 s
    set_state(engine, "cam-2", "degraded", T0, faults="blurred")  # blurred grace 3600 s
    presence(engine, "agent-00002", "offline", mins(5))  # site grace 900 s
    assert tick(engine, mins(1)).next_due == mins(15)
    result = tick(engine, mins(15))
    assert result.raised == 1  # cam-1, exactly on time
    assert result.next_due == mins(20)  # agent-00002's site grace
    result = tick(engine, mins(20))
    deadline = mins(15) + timedelta(hours=72)  # cam-1's task: its level-1 escalation
    assert result.next_due == min(mins(60), deadline)
    assert tick(engine, mins(60)).next_due == deadline
    with engine.begin() as conn:  # both told the commune: next, the district
        conn.execute(update(TASK).values(escalation=1))
    assert tick(engine, mins(61)).next_due == deadline + timedelta(hours=24)
