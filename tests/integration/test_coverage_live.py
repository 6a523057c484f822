"""The collector keeps coverage gauges current as cameras change state (issue 4)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import aiomqtt
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.consumer import Collector
from collector.coverage import CommuneCoverage, load_commune
from collector.coverage_live import LiveCoverage
from collector.db import create_schema, make_engine
from collector.ingest import Ingestor
from collector.models import Camera, KeyArea
from collector.settings import CollectorSettings
from collector.state import Hysteresis
from tests import broker_fixtures as bf
from tests.collector_helpers import health, seed_registry

amqtt_broker = bf.amqtt_broker
ROAD = {"type": "LineString", "coordinates": [[105.80, 21.0], [105.81, 21.0]]}


@pytest.fixture
def engine(tmp_path: object) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path}/c.db")
    create_schema(eng)
    seed_registry(eng, {"00001": ["cam-1", "cam-2"]})
    with Session(eng) as session:
        # 20 m south of the road's middle, looking north: a 90° view sees 40 m of it
        for cam_id, lon in (("cam-1", 105.805), ("cam-2", 105.8080)):
            cam = session.get(Camera, cam_id)
            assert cam is not None
            cam.lat, cam.lon, cam.heading, cam.fov, cam.range_m = (
                21.0 - 20 / 110_750,
                lon,
                0,
                90,
                60,
            )
        session.add(
            KeyArea(id="road-1", commune_code="00001", kind="main_road", geometry=json.dumps(ROAD))
        )
        session.commit()
    yield eng
    eng.dispose()


def gauge(collector: Collector, kind: str = "main_road") -> float | None:
    for metric in collector.metrics.coverage.collect():
        for sample in metric.samples:
            if sample.labels == {"commune": "00001", "kind": kind}:
                return float(sample.value)
    return None


def collector_settings(broker: bf.EmbeddedBroker, **extra: float) -> CollectorSettings:
    """Quick batches; one report confirms a change."""
    return CollectorSettings(
        mqtt_host=broker.host, mqtt_port=broker.port, share_group="", metrics_port=0,
        batch_wait=0.01, worse_after=1, better_after=1, **extra,
    )  # fmt: skip


async def test_coverage_gauges_follow_state_changes(
    amqtt_broker: bf.EmbeddedBroker, engine: Engine
) -> None:
    settings = collector_settings(amqtt_broker)
    rules = Hysteresis(worse_after=1, better_after=1)
    collector = Collector(settings, Ingestor(engine, rules), coverage=LiveCoverage(engine))
    task = asyncio.create_task(collector.run())
    loop = asyncio.get_running_loop()

    async def until(predicate: object) -> None:
        end = loop.time() + 20
        while not predicate():  # type: ignore[operator]
            assert loop.time() < end, f"gauge is {gauge(collector)}"
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(collector.connected.wait(), 10)
        await until(lambda: gauge(collector) == 0.0)  # nobody reported: nothing is seen
        t0 = datetime.now(UTC)
        async with aiomqtt.Client(amqtt_broker.host, amqtt_broker.port) as pub:
            for cam in ("cam-1", "cam-2"):
                report = health(cam, "ok", t0)
                await pub.publish(report.topic(), report.model_dump_json(), qos=1)
            await until(lambda: (gauge(collector) or 0) > 0)
            with engine.connect() as conn:
                both = load_commune(conn, "00001").summary()["main_road"]
            await until(lambda: gauge(collector) == pytest.approx(both.fraction))
            assert both.covered == pytest.approx(80, abs=1)  # two disjoint 40 m views
            report = health("cam-2", "down", t0 + timedelta(seconds=1))
            await pub.publish(report.topic(), report.model_dump_json(), qos=1)
            await until(lambda: gauge(collector) == pytest.approx(both.fraction / 2, rel=0.02))
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


class HeldCoverage(LiveCoverage):
    """Real coverage whose recompute, once it has read the database, waits to be let go."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.has_read, self.go = threading.Event(), threading.Event()
        self.go.set()

    def compute(self) -> dict[str, CommuneCoverage]:
        computed = super().compute()
        self.has_read.set()
        self.go.wait(20)
        return computed


async def test_changes_stored_during_a_reload_are_not_lost(
    amqtt_broker: bf.EmbeddedBroker, engine: Engine
) -> None:
    settings = collector_settings(amqtt_broker, coverage_reload=3600)
    coverage = HeldCoverage(engine)
    collector = Collector(
        settings, Ingestor(engine, Hysteresis(worse_after=1, better_after=1)), coverage=coverage
    )
    assert await collector.load_coverage()  # as `camnet collector` does before consuming
    assert gauge(collector) == 0.0
    task = asyncio.create_task(collector.run())
    try:
        await asyncio.wait_for(collector.connected.wait(), 10)
        coverage.go.clear()
        coverage.has_read.clear()
        reload = asyncio.create_task(collector.load_coverage())
        await asyncio.to_thread(coverage.has_read.wait, 10)  # it read: nobody reported yet
        async with aiomqtt.Client(amqtt_broker.host, amqtt_broker.port) as pub:
            for cam in ("cam-1", "cam-2"):
                report = health(cam, "ok", datetime.now(UTC))
                await pub.publish(report.topic(), report.model_dump_json(), qos=1)
        end = asyncio.get_running_loop().time() + 10
        while collector.stored < 2:  # both stored while the reload holds what it read
            assert asyncio.get_running_loop().time() < end, "reports not stored"
            await asyncio.sleep(0.02)
        coverage.go.set()
        assert await reload
        with engine.connect() as conn:
            both = load_commune(conn, "00001").summary()["main_road"]
        assert both.fraction is not None
        assert both.fraction > 0
        assert gauge(collector) == pytest.approx(both.fraction)  # not the stale 0 it read
    finally:
        coverage.go.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
