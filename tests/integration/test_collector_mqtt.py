"""The collector on real brokers: fuzzed payloads, Last Will, shared subscriptions."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiomqtt
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector import store
from collector.consumer import Collector
from collector.db import create_schema, make_engine
from collector.ingest import Ingestor
from collector.settings import CollectorSettings
from collector.state import Hysteresis
from tests import broker_fixtures as bf
from tests import db_fixtures as dbf
from tests.collector_helpers import health, seed_registry, status

mosquitto, mosquitto_factory, amqtt_broker = bf.mosquitto, bf.mosquitto_factory, bf.amqtt_broker
postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)
CAMERAS = {"00001": [f"cam-{i}" for i in range(10)]}


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    create_schema(eng)
    seed_registry(eng, CAMERAS)
    yield eng
    eng.dispose()


def settings(host: str, port: int, **kw: object) -> CollectorSettings:
    base: dict[str, object] = {
        "mqtt_host": host,
        "mqtt_port": port,
        "metrics_port": 0,
        "batch_wait": 0.02,
        "watchdog_interval": 0.2,
        "backoff_max": 1,
    }
    return CollectorSettings(**{**base, **kw})  # type: ignore[arg-type]


@asynccontextmanager
async def running(collector: Collector) -> AsyncIterator[Collector]:
    task = asyncio.create_task(collector.run())
    try:
        await asyncio.wait_for(collector.connected.wait(), 10)
        yield collector
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def wait_for(predicate: object, limit: float = 20) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not predicate():  # type: ignore[operator]
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


def count(engine: Engine, table: object, *where: object) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        return int(conn.scalar(query.where(*where)) or 0)  # type: ignore[arg-type]


WRONG_TYPES: list[tuple[str, object]] = [
    ("seq", "x"),
    ("seq", -1),
    ("seq", None),
    ("probed_at", 1e308),
    ("probed_at", "yesterday"),
    ("faults", {}),
    ("faults", ["on_fire"]),
    ("stream", "x"),
    ("metrics", ["a"]),
    ("report_id", 12),
    ("camera_id", None),
    ("commune", 1),
    ("cause", "aliens"),
    ("timings", {"total": "slow"}),
]


def fuzzed(rng: random.Random, valid: bytes) -> tuple[str, bytes]:
    """A malformed payload on a camera topic: bad JSON, wrong types, huge strings, versions."""
    topic = "camnet/v1/00001/agent-00001/cam-1/health"
    doc = json.loads(valid)
    kind = rng.randrange(7)
    if kind == 0:
        return topic, valid[: rng.randrange(1, len(valid) - 1)]  # truncated JSON
    if kind == 1:
        return topic, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 2:
        field, bad = rng.choice(WRONG_TYPES)
        doc[field] = bad
    elif kind == 3:
        doc["detail"] = "đ" * rng.randrange(501, 20000)  # huge string
    elif kind == 4:
        doc["schema_version"] = rng.choice([0, 2, "1", 99])
    elif kind == 5:
        doc.pop(rng.choice(["report_id", "camera_id", "probed_at", "status", "seq"]))
    else:
        doc["status"] = rng.choice(["OK", "broken", "", 3])
    return topic, json.dumps(doc).encode()


async def test_ten_thousand_malformed_payloads_are_quarantined_and_ingest_goes_on(
    mosquitto: bf.Mosquitto, engine: Engine
) -> None:
    rng = random.Random(20261122)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    valid = [health(f"cam-{i % 10}", "ok", t0 + timedelta(seconds=i)) for i in range(200)]
    collector = Collector(settings(mosquitto.host, mosquitto.port), Ingestor(engine))
    async with running(collector), aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
        sent = 0
        for i in range(10_000):
            topic, payload = fuzzed(rng, valid[i % 200].model_dump_json().encode())
            await pub.publish(topic, payload, qos=1)
            if i % 50 == 0:
                report = valid[sent]
                await pub.publish(report.topic(), report.model_dump_json(), qos=1)
                sent += 1
        await wait_for(lambda: collector.stored >= 10_000 + sent, limit=90)
    assert count(engine, store.QUARANTINE) == 10_000
    assert count(engine, store.HEALTH) == sent == 200
    rejected = sum(
        s.value
        for m in collector.metrics.rejected.collect()
        for s in m.samples
        if s.name.endswith("_total")
    )
    assert rejected == 10_000


async def test_last_will_turns_the_agents_cameras_unknown(
    mosquitto: bf.Mosquitto, engine: Engine
) -> None:
    t0 = datetime.now(UTC)
    collector = Collector(settings(mosquitto.host, mosquitto.port), Ingestor(engine))
    async with running(collector), aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
        will = status("agent-00001", "offline", t0, heartbeat=1).model_dump_json().encode()
        writer = await bf.connect_with_will(
            mosquitto.host,
            mosquitto.port,
            "agent-00001",
            "camnet/v1/agents/agent-00001/status",
            will,
        )
        for cam in ("cam-1", "cam-2"):
            report = health(cam, "ok", t0)
            await pub.publish(report.topic(), report.model_dump_json(), qos=1)
        await wait_for(lambda: collector.stored >= 2)
        writer.transport.abort()  # the agent's link dies without DISCONNECT
        await wait_for(lambda: count(engine, store.STATE, store.STATE.c.status == "unknown") == 2)
    with engine.connect() as conn:
        presence = conn.execute(select(store.PRESENCE)).mappings().one()
    assert presence["state"] == "offline"


async def test_missed_heartbeats_turn_cameras_unknown_in_time(
    amqtt_broker: bf.EmbeddedBroker, engine: Engine
) -> None:
    """amqtt has no $share: the collector subscribes plainly (share_group '')."""
    ingest = Ingestor(engine, Hysteresis(), offline_after_heartbeats=2)
    collector = Collector(settings(amqtt_broker.host, amqtt_broker.port, share_group=""), ingest)
    async with running(collector), aiomqtt.Client(amqtt_broker.host, amqtt_broker.port) as pub:
        now = datetime.now(UTC)
        online = status("agent-00001", "online", now, heartbeat=0.5)
        await pub.publish(online.topic(), online.model_dump_json(), qos=1)
        report = health("cam-3", "ok", now)
        await pub.publish(report.topic(), report.model_dump_json(), qos=1)
        await wait_for(lambda: collector.stored >= 2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await wait_for(lambda: ingest.states["cam-3"].status == "unknown", limit=10)
        waited = loop.time() - started
    assert waited < 0.5 * 2 + 1.0  # two missed heartbeats plus one watchdog turn, roughly


async def test_two_collectors_split_a_shared_subscription(
    mosquitto: bf.Mosquitto, engine: Engine, tmp_path: object
) -> None:
    other = make_engine(f"sqlite:///{tmp_path}/second.db")
    create_schema(other)
    seed_registry(other, CAMERAS)
    shared = {"share_group": "camnet"}
    first = Collector(
        settings(mosquitto.host, mosquitto.port, client_id="c1", **shared), Ingestor(engine)
    )
    second = Collector(
        settings(mosquitto.host, mosquitto.port, client_id="c2", **shared), Ingestor(other)
    )
    t0 = datetime.now(UTC)
    try:
        async with (
            running(first),
            running(second),
            aiomqtt.Client(mosquitto.host, mosquitto.port) as pub,
        ):
            for i in range(400):
                report = health(f"cam-{i % 10}", "ok", t0 + timedelta(seconds=i))
                await pub.publish(report.topic(), report.model_dump_json(), qos=1)
            await wait_for(lambda: first.stored + second.stored >= 400)
        a, b = count(engine, store.HEALTH), count(other, store.HEALTH)
    finally:
        other.dispose()
    assert a + b == 400
    assert a > 50
    assert b > 50


async def test_metrics_endpoint_counts_reports_and_rejections_and_ratio(
    amqtt_broker: bf.EmbeddedBroker, engine: Engine
) -> None:
    from collector.metrics import serve
    from tests.conftest import free_port

    collector = Collector(
        settings(amqtt_broker.host, amqtt_broker.port, share_group="", ratio_interval=0.2),
        Ingestor(engine),
    )
    port = free_port()
    server = await serve(collector.metrics.render, "127.0.0.1", port)
    try:
        async with running(collector), aiomqtt.Client(amqtt_broker.host, amqtt_broker.port) as pub:
            now = datetime.now(UTC)
            for cam in ("cam-1", "cam-2"):
                report = health(cam, "ok", now)
                await pub.publish(report.topic(), report.model_dump_json(), qos=1)
            await pub.publish("camnet/v1/00001/agent-00001/cam-1/health", b"{", qos=1)
            await wait_for(lambda: collector.stored >= 3)
            await asyncio.sleep(0.5)  # one ratio turn
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            body = (await reader.read()).decode()
            writer.close()
            await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    assert 'camnet_collector_reports_total{outcome="accepted"} 2.0' in body
    assert 'camnet_collector_rejected_total{reason="bad_json"} 1.0' in body
    assert 'camnet_commune_working_ratio{commune="00001"} 0.2' in body  # 2 of 10 cameras
    assert "camnet_collector_ingest_lag_seconds_bucket" in body


async def test_a_backlog_is_read_in_bounded_steps(mosquitto: bf.Mosquitto, engine: Engine) -> None:
    """Thousands queued for the collector: it pauses reading instead of holding them all."""
    s = settings(mosquitto.host, mosquitto.port, batch_size=20, client_id="backlog")
    first = Collector(s, Ingestor(engine))
    async with running(first):
        pass  # the persistent session now exists; the collector is away from here on
    t0 = datetime.now(UTC) - timedelta(hours=1)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, max_inflight_messages=1000) as pub:
        for i in range(3000):
            report = health(f"cam-{i % 10}", "ok", t0 + timedelta(seconds=i))
            await pub.publish(report.topic(), report.model_dump_json(), qos=1)
    collector = Collector(s, Ingestor(engine))
    async with running(collector):
        most = 0
        while collector.stored < 3000:
            assert collector.gate is not None
            most = max(most, collector.gate.waiting())
            await asyncio.sleep(0.002)
        assert collector.gate.pauses > 0
    assert count(engine, store.HEALTH) == 3000
    assert most <= 4 * 20 + 200  # the gate's bound plus what one read can bring in
