"""``camnet alerts`` against real SQLite and a real local Telegram-speaking HTTP server.

The world (tests.api_helpers.build_world): commune A with cam-a2 down and B with cam-b2
covered, a task raised for each (assigned to tech-a / tech-b), officer-a, district.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from alerts import outbox
from alerts.config import AlertRules
from alerts.service import AlertsService, AlertsSettings
from api.task_rules import TaskRules
from api.tasks import tick
from collector.db import create_schema, make_engine
from collector.ingest import Ingestor
from collector.models_alerts import AlertContact, AlertNotification
from collector.models_ops import RepairTask
from collector.ratio import VN
from tests.alert_servers import FakeHttpService, fake_http
from tests.api_helpers import RULES, A, World, build_world
from tests.collector_helpers import health, incoming

fake_http = fake_http  # the fixture, re-exported for pytest
OUTBOX = AlertNotification.__table__  # type: ignore[attr-defined]
CONTACT = AlertContact.__table__  # type: ignore[attr-defined]
TASK = RepairTask.__table__  # type: ignore[attr-defined]
CHAT = {"tech-a": "1001", "tech-b": "1002", "officer-a": "2001", "district": "3001"}


@pytest.fixture
def world_db(tmp_path: Path) -> Iterator[tuple[Engine, World, str]]:
    url = f"sqlite:///{tmp_path}/alerts.db"
    engine = make_engine(url)
    create_schema(engine)
    world = build_world(engine)
    with engine.begin() as conn:
        conn.execute(delete(OUTBOX))  # the API's sample log and contacts: not ours
        conn.execute(delete(CONTACT))
        for user, chat in CHAT.items():
            conn.execute(
                insert(CONTACT).values(user_id=world.user_ids[user], channel="telegram",
                                       address=chat, active=True, created_at=world.now)
            )  # fmt: skip
    yield engine, world, url
    engine.dispose()


def _rules(svc: FakeHttpService, **changes: Any) -> AlertRules:
    data: dict[str, Any] = {
        "channels": {"telegram": svc.telegram_config(), "webhooks": []},
        "quiet_hours": {"enabled": False},
        "retry": {"first_seconds": 0.05, "max_seconds": 0.2},
        "ratio": {"enabled": False},
        "digest": {"enabled": False},
    }
    data.update(changes)
    return AlertRules.model_validate(data)


_OPEN: list[AlertsService] = []


@pytest.fixture(autouse=True)
async def _close_services() -> AsyncIterator[None]:
    yield
    while _OPEN:
        service = _OPEN.pop()
        await service.aclose()
        service.engine.dispose()


def _service(url: str, rules: AlertRules, clock: Callable[[], datetime]) -> AlertsService:
    settings = AlertsSettings(db_url=url, metrics_port=0)
    service = AlertsService(settings, rules, make_engine(url), clock=clock)
    _OPEN.append(service)
    return service


def _telegram(svc: FakeHttpService) -> list[tuple[str, str]]:
    return [
        (str(r.json["chat_id"]), r.json["text"]) for r in svc.requests if "sendMessage" in r.path
    ]


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(OUTBOX).order_by(OUTBOX.c.id)))


async def test_a_raised_task_reaches_its_technicians_once(
    world_db: tuple[Engine, World, str], fake_http: FakeHttpService
) -> None:
    engine, world, url = world_db
    service = _service(url, _rules(fake_http), lambda: world.now)
    assert await service.pass_once() == 2
    sent = dict(_telegram(fake_http))
    assert set(sent) == {CHAT["tech-a"], CHAT["tech-b"]}  # assignee = technician: once each
    text_a = sent[CHAT["tech-a"]]
    assert "cam-a2" in text_a
    assert "Xã 00001" in text_a
    assert "cam-b2" not in text_a
    assert f"/tasks/{world.tasks[A]}" in text_a
    assert "6 giờ" in text_a  # broken for 6 hours (failed_at .. now)
    assert {r.state for r in _rows(engine)} == {"sent"}
    # the same events again add nothing, send nothing
    assert await service.pass_once() == 0
    assert len(_rows(engine)) == 2
    assert len(fake_http.requests) == 2


async def test_a_channel_failing_three_times_then_recovering_gets_each_message_once(
    world_db: tuple[Engine, World, str], fake_http: FakeHttpService
) -> None:
    engine, world, url = world_db
    start = datetime.now(UTC)
    service = _service(url, _rules(fake_http), lambda: world.now + (datetime.now(UTC) - start))
    fake_http.fail_next(3, status=502)
    sent = 0
    for _ in range(60):
        sent += await service.pass_once()
        if sent == 2:
            break
        await _sleep(0.1)
    assert sent == 2
    chats = [chat for chat, _ in _telegram(fake_http)]
    assert len(chats) == 5  # 3 answered 502, then one success per message
    rows = _rows(engine)
    assert [r.state for r in rows] == ["sent", "sent"]
    assert sum(r.attempts for r in rows) == 5


async def test_quiet_hours_hold_messages_except_for_hotspot_cameras(
    world_db: tuple[Engine, World, str], fake_http: FakeHttpService
) -> None:
    engine, world, url = world_db
    local = world.now.astimezone(VN)
    quiet = {
        "enabled": True,
        "start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=1)).strftime("%H:%M"),
        "override_priorities": ["hotspot"],
    }
    with engine.begin() as conn:
        conn.execute(update(TASK).where(TASK.c.id == world.tasks[A]).values(priority="hotspot"))
    service = _service(url, _rules(fake_http, quiet_hours=quiet), lambda: world.now)
    assert await service.pass_once() == 1
    assert [chat for chat, _ in _telegram(fake_http)] == [CHAT["tech-a"]]  # the hotspot
    held = [r for r in _rows(engine) if r.state == "pending"]
    assert len(held) == 1
    assert held[0].held == "quiet_hours"
    assert held[0].address == CHAT["tech-b"]
    end = datetime.combine(local.date(), time.fromisoformat(quiet["end"]), VN)
    if end <= local:
        end += timedelta(days=1)
    assert held[0].next_attempt_at.replace(tzinfo=UTC) == end.astimezone(UTC)


async def test_a_rate_limit_holds_the_second_message_to_one_group_chat(
    world_db: tuple[Engine, World, str], fake_http: FakeHttpService
) -> None:
    engine, world, url = world_db
    with engine.begin() as conn:  # both technicians read the same group chat
        conn.execute(update(CONTACT).where(CONTACT.c.address == CHAT["tech-b"]).values(
            address=CHAT["tech-a"]))  # fmt: skip
    service = _service(url, _rules(fake_http, rate_limit={"per_hour": 1}), lambda: world.now)
    assert await service.pass_once() == 1
    rows = _rows(engine)
    sent = [r for r in rows if r.state == "sent"]
    held = [r for r in rows if r.state == "pending"]
    assert len(sent) == 1
    assert len(held) == 1
    assert held[0].held == "rate_limit"
    wait = held[0].next_attempt_at.replace(tzinfo=UTC) - world.now
    assert timedelta(minutes=59) < wait <= timedelta(hours=1, seconds=1)


async def test_overdue_tasks_escalate_to_the_officer_then_the_district(
    world_db: tuple[Engine, World, str], fake_http: FakeHttpService
) -> None:
    engine, world, url = world_db
    service = _service(url, _rules(fake_http), lambda: world.now)
    await service.pass_once()  # the two camera_down messages
    before = len(fake_http.requests)
    late = world.now + timedelta(hours=80)  # past the 72 h SLA: level 1
    tick(engine, late, TaskRules())
    service.clock = lambda: late
    assert await service.pass_once() == 1
    [(chat, text)] = _telegram(fake_http)[before:]
    assert chat == CHAT["officer-a"]
    assert "cam-a2" in text
    assert "Quá hạn" in text
    later = late + timedelta(hours=30)  # 24 h after the deadline: level 2, the district
    tick(engine, later, TaskRules())
    service.clock = lambda: later
    assert await service.pass_once() == 2  # both communes' tasks, to the district
    assert {c for c, _ in _telegram(fake_http)[before + 1 :]} == {CHAT["district"]}


async def test_ratio_low_then_recovered_tell_officer_and_district(
    world_db: tuple[Engine, World, str], fake_http: FakeHttpService
) -> None:
    engine, world, url = world_db
    ratio = {"below": 0.8, "for_minutes": 0, "recover_above": 0.9, "min_installed": 1}
    rules = _rules(fake_http, ratio=ratio, kinds=["ratio_low", "ratio_recovered"])
    service = _service(url, rules, lambda: world.now)
    # A: 1 of 2 working (50 %): its officer and the district; B works (degraded counts)
    assert await service.pass_once() == 2
    texts = _telegram(fake_http)
    assert sorted(c for c, _ in texts) == sorted([CHAT["officer-a"], CHAT["district"]])
    assert all("50" in t and "Xã 00001" in t for _, t in texts)
    assert await service.pass_once() == 0  # told once while it stays low
    ingest = Ingestor(engine, RULES)
    for k in range(1, 3):
        at = world.now + timedelta(minutes=k)
        ingest.process([incoming(health("cam-a2", "ok", at, commune=A))])
    service.clock = lambda: world.now + timedelta(minutes=5)
    service._next_ratio = 0
    assert await service.pass_once() == 2  # A recovered: officer-a + district
    assert "Xã 00001" in _telegram(fake_http)[-1][1]


async def test_the_daily_digest_goes_to_each_commune_officer_once_a_day(
    world_db: tuple[Engine, World, str], fake_http: FakeHttpService
) -> None:
    _engine, world, url = world_db
    rules = _rules(fake_http, kinds=["digest"], digest={"enabled": True, "at": "07:00"})
    morning = datetime.combine(world.now.astimezone(VN).date() + timedelta(days=1),
                               time(7, 5), VN).astimezone(UTC)  # fmt: skip
    service = _service(url, rules, lambda: morning)
    assert await service.pass_once() == 1
    [(chat, text)] = _telegram(fake_http)
    assert chat == CHAT["officer-a"]
    assert "cam-a2" in text
    assert await service.pass_once() == 0


async def test_a_message_cut_off_mid_send_is_never_sent_again(
    world_db: tuple[Engine, World, str], fake_http: FakeHttpService
) -> None:
    engine, world, url = world_db
    rules = _rules(fake_http)
    service = _service(url, rules, lambda: world.now)
    await _collect_only(service)
    rows = outbox.claim(engine, world.now, rules, limit=1)  # now 'sending' ... and we "die"
    assert len(rows) == 1
    assert outbox.recover(engine, world.now) == 1
    assert await service.pass_once() == 1  # only the other one
    states = sorted(r.state for r in _rows(engine))
    assert states == ["sent", "uncertain"]
    assert len(fake_http.requests) == 1


async def test_webhooks_get_signed_json_for_their_communes_only(
    world_db: tuple[Engine, World, str], fake_http: FakeHttpService
) -> None:
    engine, world, url = world_db
    hook = fake_http.webhook_config(name="ubnd-xa-a").model_dump()
    hook["secret"] = fake_http.secret
    hook["communes"] = [A]
    rules = _rules(fake_http, channels={"webhooks": [hook]})  # no telegram: webhook only
    service = _service(url, rules, lambda: world.now)
    assert await service.pass_once() == 1
    [request] = fake_http.requests
    assert request.signature_valid is True
    body = json.loads(request.body)
    assert body["data"]["commune"]["code"] == A
    assert body["data"]["kind"] == "camera_down"
    [row] = _rows(engine)
    assert (row.channel, row.address, row.state) == ("webhook", "ubnd-xa-a", "sent")


async def _collect_only(service: AlertsService) -> None:
    from alerts import engine as rules_engine

    rules_engine.collect(service.engine, service.rules, service.clock())


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
