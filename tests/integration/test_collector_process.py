"""``camnet collector`` as a process on mosquitto and PostgreSQL: SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from collector import store
from collector.db import create_schema, make_engine
from tests import broker_fixtures as bf
from tests import db_fixtures as dbf
from tests.collector_helpers import health, seed_registry

mosquitto, mosquitto_factory = bf.mosquitto, bf.mosquitto_factory
postgres_server, pg_url = dbf.postgres_server, dbf.pg_url
CAMERAS = {"00001": [f"cam-{i}" for i in range(50)]}
CAMNET = str(Path(sys.executable).with_name("camnet"))


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    create_schema(eng)
    seed_registry(eng, CAMERAS)
    yield eng
    eng.dispose()


def start_collector(url: str, broker: bf.Mosquitto, log: Path) -> subprocess.Popen[bytes]:
    """The exact command line a deployment runs."""
    env = {**os.environ, "CAMNET_COLLECTOR_BATCH_WAIT": "0.01"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                CAMNET,
                "collector",
                "--db",
                url,
                "--mqtt-host",
                broker.host,
                "--mqtt-port",
                str(broker.port),
                "--metrics-port",
                "0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(store.HEALTH)) or 0)


async def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(
    mosquitto: bf.Mosquitto, engine: Engine, pg_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "collector.log"
    proc = start_collector(pg_url, mosquitto, log)
    total, t0 = 6000, datetime.now(UTC) - timedelta(hours=2)
    try:
        # wait until the collector's persistent session exists (it subscribed once)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while "collector camnet-collector-1" not in log.read_text(errors="replace"):
            assert loop.time() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            for i in range(total):
                # every camera flaps down/ok in runs, so intervals are written all along
                status = "down" if (i // 400) % 2 else "ok"
                report = health(f"cam-{i % 50}", status, t0 + timedelta(seconds=i))
                await pub.publish(report.topic(), report.model_dump_json(), qos=1)
                if i == total // 3:
                    while stored(engine) == 0:  # noqa: ASYNC110 - polling the database
                        await asyncio.sleep(0.01)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                    proc = start_collector(pg_url, mosquitto, log)
        deadline = loop.time() + 60
        while stored(engine) < total:
            assert loop.time() < deadline, f"stored {stored(engine)} of {total}\n{log.read_text()}"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything redelivered late must still not double
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    assert stored(engine) == total
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                'SELECT camera_id, status, start, "end" FROM status_interval '
                "ORDER BY camera_id, start"
            )
        ).all()
    by_camera: dict[str, list[tuple[str, datetime, datetime | None]]] = {}
    for cam, status, start, end in rows:
        by_camera.setdefault(cam, []).append((status, start, end))
    assert len(by_camera) == 50
    for cam, intervals in by_camera.items():
        # contiguous, no overlap, one open interval, statuses alternate (no duplicate)
        for (s1, _, e1), (s2, b2, _) in itertools.pairwise(intervals):
            assert e1 == b2, cam
            assert s1 != s2, cam
        assert intervals[-1][2] is None
        assert len(intervals) == 15, (cam, intervals)  # ok + 14 flips over 6000 reports
