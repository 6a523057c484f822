"""Killing ``camnet alerts`` mid-send and starting it again sends no duplicate.

The real command line runs as a process; a webhook receiver (tests.alert_servers) holds
the first request open while the process is killed with SIGKILL. The row stays
``sending``; the next start marks it ``uncertain`` (it may have arrived: at most once)
and sends only what had not gone out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import delete, select

from collector.db import create_schema, make_engine
from collector.models_alerts import AlertContact, AlertNotification
from tests.alert_servers import FakeHttpService, fake_http
from tests.api_helpers import build_world

fake_http = fake_http
OUTBOX = AlertNotification.__table__  # type: ignore[attr-defined]
ROOT = Path(__file__).resolve().parents[2]


def _start(db_url: str, rules: Path, log: Path, secret: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CAMNET_ALERTS_METRICS_PORT": "0",
        "CAMNET_ALERTS_CONCURRENCY": "1",
        "CAMNET_ALERTS_SCAN_SECONDS": "0.5",
        "HOOK_SECRET": secret,
    }
    command = [sys.executable, "-m", "camnet_cli", "alerts", "--db", db_url, "--rules", str(rules)]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


async def _wait(check: object, seconds: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_killed_mid_send_then_restarted_sends_no_duplicate(
    tmp_path: Path, fake_http: FakeHttpService
) -> None:
    db_url = f"sqlite:///{tmp_path}/alerts.db"
    engine = make_engine(db_url)
    create_schema(engine)
    build_world(engine)  # two tasks raised: one notice per commune
    with engine.begin() as conn:
        conn.execute(delete(OUTBOX))
        conn.execute(delete(AlertContact.__table__))  # type: ignore[attr-defined]
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        "quiet_hours: {enabled: false}\nratio: {enabled: false}\ndigest: {enabled: false}\n"
        "channels:\n  webhooks:\n"
        f"    - {{name: ubnd, url: '{fake_http.url('/hook')}', secret: 'env:HOOK_SECRET',"
        " timeout: 60}\n",
        encoding="utf-8",
    )
    log = tmp_path / "alerts.log"
    fake_http.hang_next(1, seconds=30)  # the first message: in flight when the process dies
    first = _start(db_url, rules, log, fake_http.secret)
    try:
        await _wait(lambda: len(fake_http.requests) == 1, 120, "the first request")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    with engine.connect() as conn:
        assert sorted(conn.scalars(select(OUTBOX.c.state))) == ["pending", "sending"]
    second = _start(db_url, rules, log, fake_http.secret)
    try:
        await _wait(lambda: len(fake_http.requests) >= 2, 120, "the second message")
        await asyncio.sleep(2)  # time for a duplicate to show up, if there were one
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, log.read_text(encoding="utf-8")
    ids = [r.headers["x-camnet-delivery"] for r in fake_http.requests]
    assert len(ids) == 2, ids
    assert len(set(ids)) == 2, ids  # each notification reached the receiver once
    with engine.connect() as conn:
        states = dict(conn.execute(select(OUTBOX.c.id, OUTBOX.c.state)).all())
    assert states == {int(ids[0]): "uncertain", int(ids[1]): "sent"}
    engine.dispose()
