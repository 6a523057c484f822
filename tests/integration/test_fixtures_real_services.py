"""The real services behind the fixtures: mosquitto, the embedded amqtt broker, the databases.

These check what the collector and agent rely on, against the real thing: QoS 1 delivery,
persistent sessions that queue while a subscriber is away (and across a mosquitto
restart), retained Last Wills when a socket dies, shared subscriptions (mosquitto only),
credentials, and the SQL schema on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import pytest
from sqlmodel import Session, select

from collector.broker import EmbeddedBroker
from collector.db import create_schema, make_engine
from collector.models import HealthRow, as_utc
from tests.broker_fixtures import (
    Mosquitto,
    MosquittoFactory,
    connect_with_will,
    unique_topic_prefix,
)
from tests.broker_fixtures import amqtt_broker as amqtt_broker  # fixture, found by name
from tests.broker_fixtures import mosquitto as mosquitto  # fixture, found by name
from tests.broker_fixtures import mosquitto_factory as mosquitto_factory  # fixture
from tests.db_fixtures import db_url as db_url  # fixture; needs the three below
from tests.db_fixtures import pg_url as pg_url
from tests.db_fixtures import postgres_server as postgres_server
from tests.db_fixtures import sqlite_url as sqlite_url

Broker = Mosquitto | EmbeddedBroker
QUIET = 0.5  # how long "nothing arrives" is watched


@pytest.fixture(params=["mosquitto", "amqtt"])
def broker(request: pytest.FixtureRequest) -> Broker:
    """Each MQTT test runs against mosquitto (production) and amqtt (demo)."""
    name = "mosquitto" if request.param == "mosquitto" else "amqtt_broker"
    found: Broker = request.getfixturevalue(name)
    return found


def client(broker: Broker, identifier: str | None = None, **kwargs: Any) -> aiomqtt.Client:
    """An aiomqtt client of ``broker`` (MQTT 3.1.1, what amqtt speaks)."""
    return aiomqtt.Client(broker.host, broker.port, identifier=identifier, **kwargs)


async def receive(sub: aiomqtt.Client, count: int, limit: float = 5.0) -> list[aiomqtt.Message]:
    """Return the next ``count`` messages of ``sub`` (TimeoutError if they do not come)."""
    got: list[aiomqtt.Message] = []
    async with asyncio.timeout(limit):
        async for message in sub.messages:
            got.append(message)
            if len(got) == count:
                break
    return got


async def collect(sub: aiomqtt.Client, seconds: float = QUIET) -> list[aiomqtt.Message]:
    """Return every message ``sub`` receives in the next ``seconds``."""
    got: list[aiomqtt.Message] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for message in sub.messages:
                got.append(message)
    return got


async def nothing_arrives(sub: aiomqtt.Client, seconds: float = QUIET) -> bool:
    """Whether ``sub`` receives no message for ``seconds``."""
    return not await collect(sub, seconds)


@contextlib.asynccontextmanager
async def away_subscriber(broker: Broker, topic: str) -> AsyncIterator[str]:
    """Subscribe a persistent session to ``topic`` (QoS 1) and disconnect; yield its id."""
    identifier = f"away-{unique_topic_prefix('c').split('/')[1]}"
    async with client(broker, identifier, clean_session=False) as sub:
        await sub.subscribe(topic, qos=1)
    yield identifier


# --- MQTT --------------------------------------------------------------------------------


async def test_qos1_round_trip(broker: Broker) -> None:
    topic = f"{unique_topic_prefix()}/health"
    async with client(broker) as sub, client(broker) as pub:
        await sub.subscribe(topic, qos=1)
        await pub.publish(topic, b'{"status":"ok"}', qos=1)
        [message] = await receive(sub, 1)
    assert message.topic.matches(topic)
    assert message.payload == b'{"status":"ok"}'
    assert message.qos == 1


async def test_persistent_session_keeps_messages_while_away(broker: Broker) -> None:
    topic = f"{unique_topic_prefix()}/health"
    async with away_subscriber(broker, topic) as identifier:
        async with client(broker) as pub:
            for i in range(3):
                await pub.publish(topic, f"r{i}".encode(), qos=1)
        async with client(broker, identifier, clean_session=False) as sub:
            got = await receive(sub, 3)  # no new SUBSCRIBE: the session kept it
    # amqtt quirk: messages queued for an away session come back with retain=True.
    assert [m.payload for m in got] == [b"r0", b"r1", b"r2"]
    assert all(m.qos == 1 for m in got)


async def test_persistent_session_survives_mosquitto_restart(mosquitto: Mosquitto) -> None:
    topic = f"{unique_topic_prefix()}/health"
    async with away_subscriber(mosquitto, topic) as identifier:
        async with client(mosquitto) as pub:
            await pub.publish(topic, b"before", qos=1)
        mosquitto.restart()
        assert "Saving in-memory database" in mosquitto.log_text()
        async with client(mosquitto) as pub:
            await pub.publish(topic, b"after", qos=1)
        async with client(mosquitto, identifier, clean_session=False) as sub:
            got = await receive(sub, 2)
    assert [m.payload for m in got] == [b"before", b"after"]


async def test_retained_will_published_when_socket_dies(broker: Broker) -> None:
    topic = f"{unique_topic_prefix()}/status"
    async with client(broker) as watcher:
        await watcher.subscribe(topic, qos=1)
        writer = await connect_with_will(broker.host, broker.port, "agent-1", topic, b"offline")
        assert await nothing_arrives(watcher, 0.2)  # connected: no will yet
        writer.transport.abort()  # no DISCONNECT: a crash or a lost network
        [live] = await receive(watcher, 1)
    assert live.payload == b"offline"
    async with client(broker) as late:  # connects after the fact: the retained copy
        await late.subscribe(topic, qos=1)
        [kept] = await receive(late, 1)
    assert kept.payload == b"offline"
    assert kept.retain


async def test_clean_disconnect_sends_no_will(broker: Broker) -> None:
    topic = f"{unique_topic_prefix()}/status"
    will = aiomqtt.Will(topic, b"offline", qos=1, retain=True)
    async with client(broker) as watcher:
        await watcher.subscribe(topic, qos=1)
        async with client(broker, will=will):
            pass
        assert await nothing_arrives(watcher)


async def test_shared_subscription_splits_on_mosquitto_only(
    mosquitto: Mosquitto, amqtt_broker: EmbeddedBroker
) -> None:
    topic = f"{unique_topic_prefix()}/health"
    async with client(mosquitto) as a, client(mosquitto) as b, client(mosquitto) as pub:
        for sub in (a, b):
            await sub.subscribe(f"$share/collectors/{topic}", qos=1)
        for i in range(10):
            await pub.publish(topic, str(i).encode(), qos=1)
        got_a, got_b = await asyncio.gather(collect(a), collect(b))
    payloads = sorted(int(m.payload) for m in got_a + got_b)
    assert payloads == list(range(10))  # each message to exactly one member of the group
    assert got_a, "both members of the group get some"
    assert got_b, "both members of the group get some"

    async with client(amqtt_broker) as sub, client(amqtt_broker) as pub:
        await sub.subscribe(f"$share/collectors/{topic}", qos=1)
        await pub.publish(topic, b"x", qos=1)
        assert await nothing_arrives(sub)  # amqtt: "$share/..." is a filter that never matches


async def test_mosquitto_password_file(mosquitto_factory: MosquittoFactory) -> None:
    secured = mosquitto_factory(passwords={"agent-1": "s3cret"})
    async with client(secured, username="agent-1", password="s3cret") as ok:
        await ok.publish("camnet/v1/x", b"1", qos=1)
    for creds in ({}, {"username": "agent-1", "password": "wrong"}):
        with pytest.raises(aiomqtt.MqttCodeError):
            async with client(secured, **creds):
                pass


async def test_mosquitto_kill_and_start_again(mosquitto: Mosquitto) -> None:
    port = mosquitto.port
    mosquitto.kill()
    assert not mosquitto.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((mosquitto.host, port), 1).close()
    mosquitto.start()
    async with client(mosquitto) as again:
        await again.publish("camnet/v1/x", b"1", qos=1)
    assert mosquitto.port == port


# --- SQL ---------------------------------------------------------------------------------


def test_schema_and_row_round_trip(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        probed = datetime(2025, 7, 1, 8, 30, tzinfo=UTC)
        row = HealthRow(
            report_id="r1",
            camera_id="cam-1",
            agent_id="agent-1",
            probed_at=probed,
            received_at=probed,
            status="down",
            cause="rtsp_timeout",
            faults="no_video",
        )
        with Session(engine) as session:
            session.add(row)
            session.commit()
        with Session(engine) as session:
            back = session.exec(select(HealthRow).where(HealthRow.camera_id == "cam-1")).one()
        assert (back.report_id, back.status, back.cause) == ("r1", "down", "rtsp_timeout")
        assert as_utc(back.probed_at) == probed
    finally:
        engine.dispose()
