"""``camnet alerts``: the notification service, one process.

A loop that, each time it wakes,

1. reads new task events into the outbox (``alerts.engine.collect``), and every
   ``ratio_seconds`` checks working ratios, once a day makes the digests;
2. sends what is due (``alerts.outbox.claim`` → channel → ``finish``), a few at a time;
3. sleeps until the next due row, the next look (``scan_seconds``) or an event.

It wakes at once on ``camnet/v1/events/tasks`` (published by ``camnet jobs`` after a
tick that raised, closed or escalated tasks), so a notice leaves seconds after its task.
Run one alerts process per database: at-most-once rests on one sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from alerts import engine as rules_engine
from alerts import outbox
from alerts.channels import Channel, Message, Outcome, Result, build_channels
from alerts.config import AlertRules
from alerts.metrics import AlertsMetrics
from collector.db import DEFAULT_URL
from collector.events import TASKS_TOPIC, BrokerSettings, follow, parse_tasks
from collector.models import as_utc

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class AlertsSettings(BrokerSettings):
    """Everything ``camnet alerts`` needs; environment ``CAMNET_ALERTS_*`` or flags."""

    model_config = SettingsConfigDict(env_prefix="CAMNET_ALERTS_", extra="forbid")

    db_url: str = Field(DEFAULT_URL, description="sqlite:///file.db or postgresql+psycopg://...")
    rules_file: Path | None = Field(
        None, description="YAML alert rules (deploy/alerts.example.yaml); unset: defaults."
    )
    scan_seconds: float = Field(15, gt=0, description="Look at the database at least this often.")
    ratio_seconds: float = Field(60, gt=0, description="Seconds between working-ratio checks.")
    concurrency: int = Field(4, ge=1, le=64, description="Messages sent at the same time.")
    metrics_host: str = Field("127.0.0.1", description="Prometheus metrics listen address.")
    metrics_port: int = Field(9114, ge=0, le=65535, description="Metrics port; 0 turns it off.")


class AlertsService:
    """The collect → send → sleep loop around one database and one rules file."""

    def __init__(
        self,
        settings: AlertsSettings,
        rules: AlertRules,
        engine: Engine,
        metrics: AlertsMetrics | None = None,
        clock: Clock = lambda: datetime.now(UTC),
        channels: dict[str, Channel] | None = None,
    ) -> None:
        self.settings, self.rules, self.engine, self.clock = settings, rules, engine, clock
        self.metrics = metrics or AlertsMetrics()
        self.channels = channels if channels is not None else build_channels(rules.channels)
        self.wake = asyncio.Event()
        self.events_connected = asyncio.Event()
        self._next_ratio = 0.0
        self._taking = asyncio.Lock()

    async def run(self) -> None:
        """Run until cancelled."""
        await asyncio.to_thread(outbox.recover, self.engine, self.clock())
        try:
            async with asyncio.TaskGroup() as group:
                if self.settings.mqtt_host:
                    ident = f"camnet-alerts-{socket.gethostname()}-{os.getpid()}"
                    group.create_task(
                        follow(
                            self.settings.broker(),
                            ident,
                            TASKS_TOPIC,
                            self._on_event,
                            self.events_connected,
                        )
                    )
                group.create_task(self._loop())
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the channels' connections."""
        for channel in self.channels.values():
            with contextlib.suppress(Exception):
                await channel.aclose()

    def _on_event(self, payload: bytes) -> None:
        if parse_tasks(payload) is not None:
            self.metrics.events.inc()
            self.wake.set()

    async def _loop(self) -> None:
        while True:
            self.wake.clear()
            try:
                await self.pass_once()
                pause = await asyncio.to_thread(self._pause)
            except SQLAlchemyError:
                self.metrics.errors.inc()
                log.exception("alerts: database failed; trying again in a few seconds")
                pause = 5.0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):  # 3.11's wait_for can lose a cancel
                    await self.wake.wait()

    async def pass_once(self) -> int:
        """Collect, apply the time rules, send what is due; return messages sent."""
        now = self.clock()
        added = await asyncio.to_thread(rules_engine.collect, self.engine, self.rules, now)
        if time.monotonic() >= self._next_ratio:
            added += await asyncio.to_thread(
                rules_engine.check_ratios, self.engine, self.rules, now
            )
            self._next_ratio = time.monotonic() + self.settings.ratio_seconds
        added += await asyncio.to_thread(rules_engine.digests, self.engine, self.rules, now)
        if added:
            self.metrics.enqueued.inc(added)
            log.info("alerts: %d notifications stored", added)
        return await self.send_due()

    async def send_due(self) -> int:
        """Send every row due now; return how many were sent."""
        sent = 0
        while True:
            ids = await asyncio.to_thread(
                outbox.due, self.engine, self.clock(), 4 * self.settings.concurrency
            )
            if not ids:
                return sent
            gate = asyncio.Semaphore(self.settings.concurrency)
            states = await asyncio.gather(*(self._send(row_id, gate) for row_id in ids))
            sent += sum(state == "sent" for state in states)
            if all(state is None for state in states):
                return sent  # all held back (rate limit) or taken elsewhere

    async def _send(self, row_id: int, gate: asyncio.Semaphore) -> str | None:
        async with gate:
            async with self._taking:  # one at a time: the rate limit counts the others
                row = await asyncio.to_thread(
                    outbox.take, self.engine, row_id, self.clock(), self.rules
                )
            if row is None:
                return None
            name = f"webhook:{row.address}" if row.channel == "webhook" else row.channel
            channel = self.channels.get(name)
            if channel is None:
                hint = f"kênh {name} chưa cấu hình / channel {name} not configured"
                result = Result(Outcome.FAILED, hint)
            else:
                message = Message(str(row.id), row.subject, row.body, _payload(row.payload))
                result = await channel.send(row.address, message)
        now = self.clock()
        state = await asyncio.to_thread(outbox.finish, self.engine, row, result, now, self.rules)
        self.metrics.delivered.labels(row.channel, state).inc()
        if state == "sent":
            self.metrics.age.observe((now - as_utc(row.created_at)).total_seconds())
        else:
            log.warning("alerts: #%s %s → %s: %s", row.id, row.channel, state, result.detail)
        return state

    def _pause(self) -> float:
        """Seconds until the next pending row is due, at most ``scan_seconds``."""
        with self.engine.connect() as conn:
            o = outbox.OUTBOX.c
            due = conn.scalar(select(func.min(o.next_attempt_at)).where(o.state == "pending"))
            pending = conn.scalar(select(func.count()).where(o.state == "pending")) or 0
        self.metrics.pending.set(pending)
        pause = self.settings.scan_seconds
        if due is not None:
            left = (as_utc(due) - self.clock()).total_seconds()
            pause = min(pause, max(0.05, left))
        return pause


def _payload(text: str) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        value = json.loads(text)
        if isinstance(value, dict):
            return value
    return {}
