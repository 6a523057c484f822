"""Publish the agent's reports over MQTT (aiomqtt), store-and-forward through the outbox.

``submit(report, picture)`` -> HealthReport (+ Snapshot) -> Outbox (SQLite) -> broker.

* Every message goes to the outbox first, connected or not, and is deleted only after its
  PUBACK (aiomqtt's ``publish(qos=1)`` returns on paho's ``on_publish``, which for QoS 1 is
  the PUBACK). ``inflight`` messages at most are unacknowledged; after a reconnect sending
  starts again at the oldest row, so a message may arrive twice (collectors dedup).
* One connection, client id = agent id, persistent session, user/password and TLS. Last
  Will: retained ``AgentStatus(state="offline")``; retained ``online`` on connect and every
  ``heartbeat`` (never through the outbox: they are about now), ``offline`` on a clean stop.
* Reconnect with exponential backoff and full jitter; a refused CONNACK waits
  ``backoff_max``. The link is logged once when it goes down and once when it is back.

aiomqtt/paho errors are mapped to :class:`~agent.errors.PublishError` here and never leave
this module: the broker being away is a state, not a reason to stop probing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from agent.errors import BrokerRefusedError, OutboxError, PublishError
from agent.messages import AgentStatus, HealthReport, ProbeReport, status_topic
from agent.mqtt_client import (
    Client,
    ClosingSSLSocket,
    PublishRefusedError,
    abandon,
    session_options,
)
from agent.outbox import Outbox, OutboxMessage, drain
from agent.snapshots import SnapshotPolicy, make_snapshot

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from agent.config import MqttConfig
    from agent.metrics import AgentMetrics

log = logging.getLogger(__name__)
#: Seconds to wait for one PUBACK before the link is taken for dead.
PUBLISH_TIMEOUT = 30.0
#: Seconds to wait for the CONNACK after the TCP (and TLS) connection is made.
CONNECT_TIMEOUT = 10.0
#: Seconds a clean stop may spend sending the retained ``offline`` status.
STOP_TIMEOUT = 3.0
#: Seconds a clean stop may spend delivering what the outbox holds (the rest waits on disk).
STOP_FLUSH = 2.0


def backoff_delay(attempt: int, cap: float, base: float = 1.0) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0.0, min(cap, base * 2.0 ** min(attempt, 30)))  # noqa: S311


class MqttPublisher:
    """Send an agent's reports to the broker through the outbox; keep its status current.

    Use as an async context manager (``start()``/``stop()`` underneath)::

        async with MqttPublisher(config.mqtt, outbox, agent_id=..., commune=...) as pub:
            await pub.submit(report, picture)

    Args:
        settings: The ``mqtt:`` section of ``agent.yaml``.
        outbox: The on-disk outbox (opened by the caller, who closes it after ``stop``).
        agent_id: This agent's id: MQTT client id and topic level.
        commune: 5-digit commune code of the wire messages.
        cameras: How many cameras the agent probes (in ``AgentStatus``).
        metrics: Counters and gauges to keep current, if any.
        version: camnet version reported in ``AgentStatus``.

    Raises:
        ConfigError: TLS files in ``settings`` are unusable.
    """

    def __init__(
        self,
        settings: MqttConfig,
        outbox: Outbox,
        *,
        agent_id: str,
        commune: str,
        cameras: int = 0,
        metrics: AgentMetrics | None = None,
        version: str = "",
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.agent_id = agent_id
        self.commune = commune
        self.cameras = cameras
        self.metrics = metrics
        self.version = version[:40]
        self.connections = 0
        self._v5 = settings.protocol == "5"
        self._tls = settings.ssl_context()
        if self._tls is not None:
            self._tls.sslsocket_class = ClosingSSLSocket
        self._where = (settings.host, settings.effective_port())
        self._topic = status_topic(agent_id)
        self._snapshots = SnapshotPolicy(outbox)
        self._connected = False
        self._connected_at: datetime | None = None  # when the current connection opened
        self._failure: str | None = None  # kind of the current outage; drives log-once
        self._down_since = 0.0
        self._wake = asyncio.Event()  # outbox grew or a publish finished
        self._stop = asyncio.Event()
        self._drained = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._gauge()

    @property
    def connected(self) -> bool:
        """Whether the broker accepted the current connection."""
        return self._connected

    async def submit(
        self, report: ProbeReport, picture: NDArray[np.uint8] | None = None
    ) -> HealthReport | None:
        """Queue ``report`` (and a snapshot of ``picture`` when one is due) for the broker.

        Returns:
            The wire report queued, or ``None`` if the outbox could not store it (logged).
        """
        try:
            health = HealthReport.from_probe(
                report,
                report_id=uuid.uuid4().hex,
                agent_id=self.agent_id,
                commune=self.commune,
                seq=self.outbox.next_seq(),
            )
            self._put(health.topic(), health.model_dump_json().encode())
            reason = self._snapshots.reason(health.camera_id, health.status, health.probed_at)
            if reason is not None and picture is not None:
                snapshot = make_snapshot(
                    picture,
                    report_id=health.report_id,
                    agent_id=self.agent_id,
                    camera_id=health.camera_id,
                    commune=self.commune,
                    taken_at=health.probed_at,
                    reason=reason,
                )
                self._put(snapshot.topic(), snapshot.model_dump_json().encode())
                self._snapshots.sent(health.camera_id, health.probed_at)
        except OutboxError:
            log.exception("outbox: report of camera %s not stored", report.camera_id)
            return None
        return health

    def _put(self, topic: str, payload: bytes) -> None:
        before = self.outbox.pending()
        self.outbox.put(topic, payload, qos=1)
        dropped = before + 1 - self.outbox.pending()
        if dropped and self.metrics is not None:
            self.metrics.outbox_dropped.inc(dropped)
        self._drained.clear()
        self._wake.set()
        self._gauge()

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.outbox_pending.set(self.outbox.pending())
            self.metrics.connected.set(1 if self._connected else 0)

    def status(self, state: Literal["online", "offline"]) -> AgentStatus:
        """This agent's ``AgentStatus`` now."""
        return AgentStatus(
            agent_id=self.agent_id,
            commune=self.commune,
            state=state,
            sent_at=datetime.now(UTC),
            connected_at=self._connected_at,
            heartbeat=self.settings.heartbeat,
            cameras=self.cameras,
            outbox_pending=self.outbox.pending(),
            outbox_dropped=self.outbox.dropped(),
            version=self.version,
        )

    def start(self) -> None:
        """Start connecting and sending in the background."""
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name=f"camnet-mqtt-{self.agent_id}")

    async def stop(self, grace: float = STOP_FLUSH + STOP_TIMEOUT + 2.0) -> None:
        """Deliver the outbox (``STOP_FLUSH`` s at most) and say ``offline`` if connected.

        What is not delivered in time stays in the outbox for the next start.

        Args:
            grace: Seconds the goodbye may take before the task is cancelled.
        """
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait({task}, timeout=grace)
        finally:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def flush(self) -> None:
        """Wait until the broker acknowledged everything in the outbox (bound it yourself)."""
        while self.outbox.pending() > 0:
            self._drained.clear()
            await self._drained.wait()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            was = self.connections
            try:
                await self._connection()
            except BrokerRefusedError as exc:
                self._went_down(exc, "refused")
                delay = self.settings.backoff_max * random.uniform(0.8, 1.0)  # noqa: S311
            except PublishError as exc:
                self._went_down(exc, "down")
                attempt = 0 if self.connections > was else attempt + 1
                cap = self.settings.backoff_max
                delay = backoff_delay(attempt, cap, base=min(1.0, cap))
            except Exception:  # a bug here must never stop the probing
                log.exception("MQTT publisher: unexpected error; reconnecting")
                self._failure = "bug"
                delay = self.settings.backoff_max
            else:
                return  # stopped cleanly
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # 3.11's wait_for can lose a cancel
                    await self._stop.wait()

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        self._connected_at = datetime.now(UTC)  # this connection: its Will and statuses
        offline = self.status("offline").model_dump_json().encode()
        client = Client(
            s.host,
            s.effective_port(),
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            identifier=self.agent_id,
            keepalive=s.keepalive,
            will=aiomqtt.Will(self._topic, offline, qos=1, retain=True),
            tls_context=self._tls,
            max_inflight_messages=s.inflight,
            timeout=CONNECT_TIMEOUT,
            **session_options(self._v5),
        )
        client.pending_calls_threshold = s.inflight + 10  # a full window is normal here
        return client

    async def _connection(self) -> None:
        """Connect, run one session until the link drops or stop is asked; map errors."""
        host, port = self._where
        client = self._client()
        try:
            await client.__aenter__()
        except MqttConnectError as exc:
            abandon(client)
            hint = "; a broker without MQTT 5 needs mqtt.protocol: 3.1.1" if self._v5 else ""
            detail = f"{exc}{hint}"
            raise BrokerRefusedError(host, port, detail) from exc
        except aiomqtt.MqttError as exc:
            abandon(client)
            raise PublishError(host, port, str(exc) or "cannot connect") from exc
        try:
            self._came_up()
            await self._session(client)
        except PublishRefusedError as exc:  # kept in the outbox: sent again after a wait
            detail = f"{exc}; agent_id and commune must match the registry, ACL regenerated"
            raise BrokerRefusedError(host, port, detail) from exc
        except aiomqtt.MqttError as exc:
            raise PublishError(host, port, f"link lost: {exc}") from exc
        finally:
            self._connected = False
            self._gauge()
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)

    async def _session(self, client: aiomqtt.Client) -> None:
        await client.publish(self._topic, self._status_bytes("online"), qos=1, retain=True)
        tasks = [
            asyncio.create_task(self._watch(client)),
            asyncio.create_task(self._drain(client)),
            asyncio.create_task(self._heartbeat(client)),
            asyncio.create_task(self._stop.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if done == {tasks[3]} and self.outbox.pending():  # stopping: the last reports
                self._drained.clear()
                tasks.append(asyncio.create_task(self._drained.wait()))
                await asyncio.wait(
                    tasks[:2] + tasks[4:], timeout=STOP_FLUSH, return_when=asyncio.FIRST_COMPLETED
                )
                done = {t for t in tasks[:3] if t.done()} | done
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if (error := task.exception()) is not None:
                raise error
        # a clean stop: say so (the Last Will is only for when we vanish)
        await client.publish(
            self._topic, self._status_bytes("offline"), qos=1, retain=True, timeout=STOP_TIMEOUT
        )

    async def _watch(self, client: aiomqtt.Client) -> None:
        async for _ in client.messages:  # nothing subscribed: raises MqttError when link drops
            pass

    async def _heartbeat(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat)
            await client.publish(self._topic, self._status_bytes("online"), qos=1, retain=True)

    async def _drain(self, client: aiomqtt.Client) -> None:
        async def send(msg: OutboxMessage) -> None:
            await client.publish(
                msg.topic, msg.payload, qos=msg.qos, retain=msg.retain, timeout=PUBLISH_TIMEOUT
            )

        await drain(self.outbox, send, self.settings.inflight, self._wake, self._acked)

    def _acked(self, messages: list[OutboxMessage]) -> None:
        if self.metrics is not None:
            for m in messages:
                self.metrics.published.labels(m.topic.rsplit("/", 1)[-1]).inc()
        if self.outbox.pending() == 0:
            self._drained.set()
        self._gauge()

    def _status_bytes(self, state: Literal["online", "offline"]) -> bytes:
        return self.status(state).model_dump_json().encode()

    def _came_up(self) -> None:
        self._connected, self.connections = True, self.connections + 1
        if self.connections > 1 and self.metrics is not None:
            self.metrics.reconnects.inc()
        if self._failure is not None:
            down = asyncio.get_running_loop().time() - self._down_since
            msg = "MQTT %s:%d: đã kết nối lại / link back after %.0f s; %d messages to send"
            log.warning(msg, *self._where, down, self.outbox.pending())
        else:
            log.info("MQTT %s:%d: connected as %s", *self._where, self.agent_id)
        self._failure = None
        self._gauge()

    def _went_down(self, exc: PublishError, kind: Literal["down", "refused"]) -> None:
        """Log a failure when its kind is new (an error if refused); repeats at DEBUG."""
        if self._failure is None:
            self._down_since = asyncio.get_running_loop().time()
        if kind == self._failure:
            log.debug("MQTT %s:%d: still %s: %s", exc.host, exc.port, kind, exc.detail)
            return
        self._failure = kind
        if kind == "refused":
            msg = (
                "MQTT %s:%d từ chối kết nối — kiểm tra mqtt.username/password trong agent.yaml"
                " / the broker refused the connection (%s): check mqtt.username, mqtt.password"
                " and the broker's ACL; retrying every %g s"
            )
            log.error(msg, exc.host, exc.port, exc.detail, self.settings.backoff_max)
        else:
            msg = "MQTT %s:%d: mất kết nối / link down (%s); %d messages wait in the outbox"
            log.warning(msg, exc.host, exc.port, exc.detail, self.outbox.pending())
