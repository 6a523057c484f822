"""The MQTT side of ``camnet jobs``: wake on state changes, announce task events.

``camnet jobs`` ticks every ``tick_seconds`` anyway; with a broker configured it also

* runs a tick as soon as the collector announces camera state changes
  (``camnet/v1/events/state``) and at the exact moment the next grace period or deadline
  ends (``TickResult.next_due``), so a task is raised seconds after its grace, not up to a
  tick later;
* announces each tick that wrote task events on ``camnet/v1/events/tasks`` so that
  ``camnet alerts`` reads them at once.

APScheduler runs the jobs in threads; the MQTT client lives in a thread of its own with
its own event loop. Events are hints: when the broker is away, the periodic tick and the
alerts' own looks still do everything, only later.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable

import aiomqtt

from collector.events import STATE_TOPIC, TASKS_TOPIC, Broker, TasksChanged, follow

log = logging.getLogger(__name__)


class JobsEvents:
    """Subscribe to state events (calling ``wake``) and publish task events."""

    def __init__(self, broker: Broker, identifier: str, wake: Callable[[], None]) -> None:
        self.broker, self.identifier, self.wake = broker, identifier, wake
        self.connected = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: aiomqtt.Client | None = None
        self._thread = threading.Thread(target=self._run, name="jobs-events", daemon=True)
        self._ready = threading.Event()

    def start(self) -> None:
        """Start the MQTT thread."""
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._task = loop.create_task(
            follow(
                self.broker,
                self.identifier,
                STATE_TOPIC,
                lambda _payload: self.wake(),
                on_client=self._set_client,
            )
        )
        self._ready.set()
        try:
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    def _set_client(self, client: aiomqtt.Client | None) -> None:
        self._client = client
        if client is None:
            self.connected.clear()
        else:
            self.connected.set()
            self.wake()  # changes may have happened while we were away

    def announce(self, event: TasksChanged, timeout: float = 5.0) -> bool:
        """Publish ``event`` (QoS 0: a hint) from any thread; False when it could not go out."""
        loop, client = self._loop, self._client
        if loop is None or client is None:
            return False
        payload = event.model_dump_json().encode()
        future = asyncio.run_coroutine_threadsafe(client.publish(TASKS_TOPIC, payload, qos=0), loop)
        try:
            future.result(timeout)
        except (aiomqtt.MqttError, concurrent.futures.TimeoutError) as exc:
            log.warning("tasks event not published: %s", exc or "timeout")
            return False
        return True

    def stop(self) -> None:
        """Disconnect and end the thread."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        self._thread.join(5)
