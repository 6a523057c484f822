"""A service cancelled in the very loop turn it is woken still stops.

Python 3.11's ``asyncio.wait_for`` returns normally when its task is cancelled just as
the awaited event is set: the cancel is lost, and a ``while True`` loop around it never
ends. The whole-chain alerts test hung in CI on exactly that (the collector's store
loop or the alerts loop went on after their task group cancelled them). These tests
set the event and cancel in the same turn, which loses the cancel every time with
``wait_for``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from alerts.config import AlertRules
from alerts.service import AlertsService, AlertsSettings
from collector.batch import Incoming
from collector.db import create_schema, make_engine
from collector.mqtt_read import Inbox
from tests.hang_dump import awaits


async def _parked(task: asyncio.Task[object]) -> None:
    """Let ``task`` run until it waits (a few loop turns, no wall-clock sleep)."""
    for _ in range(5):
        await asyncio.sleep(0)
    assert _innermost(task) in PARKED


async def _stopped(task: asyncio.Task[object]) -> bool:
    done, _ = await asyncio.wait({task}, timeout=5)
    return bool(done) and task.cancelled()


async def test_the_collector_inbox_wait_keeps_a_cancel_that_comes_with_an_item() -> None:
    inbox = Inbox()

    async def store_loop() -> None:  # the shape of Collector._collect's loop
        while True:
            if await inbox.wait(60):
                inbox.take(10, [])

    task: asyncio.Task[object] = asyncio.create_task(store_loop())
    await _parked(task)
    inbox.put(Incoming("camnet/v1/10001/agent-1/cam-1/health", b"{}", datetime.now(UTC)))
    task.cancel()
    stopped = await _stopped(task)
    if not stopped:
        task.cancel()
    assert stopped, "the store loop went on after it was cancelled"


async def test_the_alerts_loop_keeps_a_cancel_that_comes_with_a_wake(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/alerts.db"
    engine = make_engine(url)
    create_schema(engine)
    rules = AlertRules.model_validate(
        {"quiet_hours": {"enabled": False}, "ratio": {"enabled": False},
         "digest": {"enabled": False}}
    )  # fmt: skip
    service = AlertsService(AlertsSettings(db_url=url, metrics_port=0), rules, engine)
    task: asyncio.Task[object] = asyncio.create_task(service.run())
    try:
        await _until_parked("AlertsService._loop")  # the first pass reads in threads
        service.wake.set()
        task.cancel()
        stopped = await _stopped(task)
        if not stopped:
            task.cancel()
        assert stopped, "the alerts loop went on after it was cancelled"
    finally:
        await asyncio.wait({task}, timeout=5)
        engine.dispose()


async def _until_parked(name: str) -> None:
    """Wait until the task running ``name`` waits for its wake-up (an ``Event.wait``)."""
    for _ in range(400):
        for task in asyncio.all_tasks():
            if task.get_coro().__qualname__ == name and _innermost(task) in PARKED:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never waited for its wake-up")


PARKED = {"wait", "wait_for"}  # Event.wait, or wait_for around it (before the fix)


def _innermost(task: asyncio.Task[object]) -> str:
    """The name of the innermost coroutine ``task`` is suspended in."""
    chain = awaits(task)
    return chain[-1].rsplit(" ", 1)[-1] if chain else ""
