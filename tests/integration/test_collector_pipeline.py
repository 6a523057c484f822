"""The collector's pipeline (batch N+1 prepared while N commits) when commits fail.

A trigger makes every write to ``health_report`` fail while a flag row exists: the
collector drops its connection, undoes what did not commit and gets the unacknowledged
reports again. Once the flag is gone, every report is stored exactly once and the
intervals are those of an uninterrupted run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import timedelta

import aiomqtt
import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from collector import store
from collector.batch import Incoming
from collector.consumer import Collector, _StoreError
from collector.db import create_schema, make_engine
from collector.ingest import Ingestor
from collector.state import Hysteresis
from tests import broker_fixtures as bf
from tests import db_fixtures as dbf
from tests.collector_helpers import health, seed_registry, utc
from tests.integration.test_collector_mqtt import count, running, settings, wait_for

mosquitto, mosquitto_factory = bf.mosquitto, bf.mosquitto_factory
postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)
CAMERAS = [f"cam-{i}" for i in range(8)]
RULES = Hysteresis(worse_after=2, worse_after_seconds=3600, better_after=2)
T0 = utc(2026, 11, 2, 8, 0)

FAIL_WHILE_FLAGGED = {
    "sqlite": [
        "CREATE TABLE fail_flag (x INTEGER)",
        "CREATE TRIGGER fail_reports BEFORE INSERT ON health_report"
        " WHEN EXISTS (SELECT 1 FROM fail_flag)"
        " BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    ],
    "postgresql": [
        "CREATE TABLE fail_flag (x INTEGER)",
        "CREATE FUNCTION fail_reports() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF EXISTS (SELECT 1 FROM fail_flag) THEN RAISE EXCEPTION 'injected failure';"
        " END IF; RETURN NEW; END $$",
        "CREATE TRIGGER fail_reports BEFORE INSERT ON health_report"
        " FOR EACH STATEMENT EXECUTE FUNCTION fail_reports()",
    ],
}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    create_schema(eng)
    seed_registry(eng, {"00001": CAMERAS})
    with eng.begin() as conn:
        for sql in FAIL_WHILE_FLAGGED[eng.dialect.name]:
            conn.exec_driver_sql(sql)
    yield eng
    eng.dispose()


def flag(engine: Engine, on: bool) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO fail_flag VALUES (1)" if on else "DELETE FROM fail_flag")


def status_of(camera: str, minute: int) -> str:
    """cam-0 is down from minute 25 to 44: confirmed (minute 26) while commits fail."""
    return "down" if camera == "cam-0" and 25 <= minute < 45 else "ok"


def intervals(engine: Engine) -> list[tuple[str, str, int, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(store.INTERVAL.select().order_by("camera_id", "start")).mappings()
        return [
            (
                r["camera_id"],
                r["status"],
                int((r["start"].replace(tzinfo=T0.tzinfo) - T0).total_seconds() // 60),
                None
                if r["end"] is None
                else int((r["end"].replace(tzinfo=T0.tzinfo) - T0).total_seconds() // 60),
            )
            for r in rows
        ]


@pytest.mark.timeout(180)
async def test_failed_commits_lose_nothing_and_store_nothing_twice(
    mosquitto: bf.Mosquitto, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    s = settings(mosquitto.host, mosquitto.port, batch_size=15, client_id="pipeline")
    collector = Collector(s, Ingestor(engine, RULES))
    minutes = 60
    async with running(collector):
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            for minute in range(minutes):
                if minute == 25:
                    await wait_for(lambda: collector.stored >= 25 * len(CAMERAS))
                    flag(engine, True)  # commits fail from here...
                for camera in CAMERAS:
                    at = T0 + timedelta(minutes=minute)
                    report = health(camera, status_of(camera, minute), at)
                    await pub.publish(report.topic(), report.model_dump_json(), qos=1)
                if minute == 35:
                    await asyncio.sleep(1.5)  # ...while the collector retries...
                    flag(engine, False)  # ...until here
        total = minutes * len(CAMERAS)
        await wait_for(lambda: count(engine, store.HEALTH) >= total, limit=60)
        await asyncio.sleep(0.5)  # anything stored twice would show now
    assert count(engine, store.HEALTH) == total
    assert "database write failed, batch not acknowledged" in caplog.text  # it did fail
    # hysteresis 2: down confirmed from the first down report, up again likewise
    want = [("cam-0", "ok", 0, 25), ("cam-0", "down", 25, 45), ("cam-0", "ok", 45, None)]
    want += [(camera, "ok", 0, None) for camera in CAMERAS[1:]]
    assert intervals(engine) == want


def test_a_batch_queued_behind_a_failed_commit_is_not_written(engine: Engine) -> None:
    s = settings("127.0.0.1", 1883, client_id="chain")
    ingestor = Ingestor(engine, RULES)
    collector = Collector(s, ingestor)
    at = T0 + timedelta(minutes=1)

    def batch(minute: int) -> list[Incoming]:
        reports = [health(c, "ok", T0 + timedelta(minutes=minute)) for c in CAMERAS]
        return [Incoming(r.topic(), r.model_dump_json().encode(), at) for r in reports]

    first = ingestor.prepare(batch(0), at)
    second = ingestor.prepare(batch(1), at, first.ids)
    flag(engine, True)
    failed: Future[None] = Future()
    failed.set_exception(RuntimeError("injected failure"))
    with pytest.raises(DBAPIError, match="injected failure"):
        ingestor.commit(first)
    with pytest.raises(_StoreError):
        collector._commit_after(second, failed)  # the chain itself
    flag(engine, False)
    assert count(engine, store.HEALTH) == 0  # the trigger did not stop the second: the chain did
    ok: Future[None] = Future()
    ok.set_result(None)
    collector._commit_after(first, ok)
    assert count(engine, store.HEALTH) == len(CAMERAS)
