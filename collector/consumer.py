"""``camnet collector``: take health messages from MQTT and store them, losing nothing.

* One aiomqtt client with a fixed id and a persistent session (``clean_session=False``):
  while the collector is away the broker queues its QoS 1 messages.
* Shared subscriptions (``$share/<group>/camnet/v1/...``) let several collectors split the
  load on a clustered broker; an empty group subscribes plainly (amqtt has no $share).
* Acknowledgement only after commit: the collector acks QoS 1 messages itself (paho's
  ``manual_ack``; aiomqtt has no public switch yet — aiomqtt #345/#346; the PUBACKs of a
  batch go out in one write, see ``collector/mqtt_read.py``), after the batch is stored,
  so a SIGKILL between receipt and commit makes the broker deliver again and the
  ``report_id`` dedup drops what was already stored. The broker's in-flight window
  (mosquitto ``max_inflight_messages``) bounds the messages held in memory.
* Subscribe again inside every connection (Home Assistant #7958); reconnect with
  exponential backoff and full jitter; a failed transaction drops the connection so the
  unacknowledged batch comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import NamedTuple

import aiomqtt

from agent.messages import HEALTH_FILTER, SNAPSHOT_FILTER, STATUS_FILTER
from collector.batch import Incoming, Prepared
from collector.coverage_live import LiveCoverage
from collector.events import STATE_TOPIC, CameraChange, state_messages
from collector.ingest import Ingestor
from collector.metrics import CollectorMetrics
from collector.mqtt_read import Inbox, ReadGate, incoming_of
from collector.ratio import ratio_now
from collector.settings import CollectorSettings
from collector.state import Change

log = logging.getLogger(__name__)
#: Batches committing or queued to commit while the next one is prepared: two keep the
#: database busy when a prepare runs short, and the collector when a commit runs long.
QUEUED = 2
Clock = Callable[[], datetime]


def subscriptions(group: str) -> list[str]:
    """The topic filters to subscribe, shared within ``group`` when one is given."""
    filters = [HEALTH_FILTER, SNAPSHOT_FILTER, STATUS_FILTER]
    return [f"$share/{group}/{f}" for f in filters] if group else filters


def _client(settings: CollectorSettings) -> aiomqtt.Client:
    tls = None
    if settings.mqtt_tls:
        tls = ssl.create_default_context(cafile=settings.mqtt_ca_file)
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    client = aiomqtt.Client(
        settings.mqtt_host,
        settings.mqtt_port,
        identifier=settings.client_id,
        username=settings.mqtt_username,
        password=password,
        clean_session=False,
        tls_context=tls,
        keepalive=30,
    )
    client._client.manual_ack_set(True)  # ack after commit (aiomqtt #345)
    return client


class Collector:
    """The consume → store → acknowledge loop around one ``Ingestor``."""

    def __init__(
        self,
        settings: CollectorSettings,
        ingestor: Ingestor,
        metrics: CollectorMetrics | None = None,
        clock: Clock = lambda: datetime.now(UTC),
        coverage: LiveCoverage | None = None,
    ) -> None:
        self.settings = settings
        self.ingestor = ingestor
        self.metrics = metrics or CollectorMetrics()
        self.clock = clock
        self.coverage = coverage
        self._coverage_ready = False
        self._coverage_backlog: list[tuple[str, Change]] | None = None  # while (re)loading
        self._committer: ThreadPoolExecutor  # one per run(): commits in order
        self.connected = asyncio.Event()
        self.stored = 0  # messages committed since start (for tests and logs)
        self.gate: ReadGate | None = None  # the current connection's reader
        self._publishing: set[asyncio.Task[None]] = set()  # state events in flight

    async def run(self) -> None:
        """Consume until cancelled; keep the ratio gauges fresh meanwhile."""
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="camnet-commit")
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._ratio_loop())
                group.create_task(self._connection_loop())
                if self.coverage is not None:
                    group.create_task(self._coverage_loop())
        finally:
            self._committer.shutdown(wait=False)  # settled: nothing is left in it

    async def _connection_loop(self) -> None:
        """Connect, consume, and reconnect after any broker or database failure."""
        attempt = 0
        down_since: float | None = None
        while True:
            try:
                async with _client(self.settings) as client:
                    if down_since is not None:
                        log.warning(
                            "broker reachable again after %.0f s", time.monotonic() - down_since
                        )
                    attempt, down_since = 0, None
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning(
                        "mất kết nối MQTT / broker %s:%s unreachable: %s",
                        self.settings.mqtt_host,
                        self.settings.mqtt_port,
                        exc,
                    )
            except _StoreError as exc:
                log.error(  # noqa: TRY400 - the cause is enough; no traceback per retry
                    "database write failed, batch not acknowledged: %s", exc.__cause__
                )
            finally:
                self.connected.clear()
                self.metrics.connected.set(0)
            attempt += 1
            cap = min(self.settings.backoff_max, 0.5 * 2 ** min(attempt, 10))
            await asyncio.sleep(random.uniform(0.1, cap))  # noqa: S311 - jitter, not security

    async def _session(self, client: aiomqtt.Client) -> None:
        inbox = Inbox()
        high = 4 * self.settings.batch_size
        gate = ReadGate(client, high, deliver=inbox.put, queued=inbox.qsize, clock=self.clock)
        gate.install()
        self.gate = gate
        # agents were not silent while *we* were away: their reports are queued for us
        self.ingestor.hold_watchdog(self.clock())

        async def read() -> None:
            try:
                async for message in client.messages:  # only what paho parsed (QoS 2)
                    inbox.put(incoming_of(message, self.clock()))
                    gate.check()
            except aiomqtt.MqttError as exc:  # hand the failure to the store loop
                inbox.put(exc)

        # reading and storing run before SUBACK: a persistent session's backlog flows
        # right after CONNACK, and the gate may pause until some of it is stored
        reader = asyncio.create_task(read())
        storer = asyncio.create_task(self._store_loop(client, inbox, gate))
        try:
            for topic in subscriptions(self.settings.share_group):
                await client.subscribe(topic, qos=1)
            self.connected.set()
            self.metrics.connected.set(1)
            await storer
        finally:
            # state events still waiting for their PUBACK go with this connection (hints)
            for task in (reader, storer, *self._publishing):
                task.cancel()
            # wait for all without raising again what ``await storer`` already raised
            await asyncio.gather(reader, storer, *self._publishing, return_exceptions=True)

    async def _store_loop(
        self,
        client: aiomqtt.Client,
        inbox: Inbox,
        gate: ReadGate,
    ) -> None:
        """Prepare batch N+1 while batch N commits; acknowledge N once it has committed.

        Preparing is CPU work and runs right here on the event loop (reading the socket
        waits meanwhile: the kernel holds what arrives). In a thread of its own it cost
        the collector about 20 % more CPU a report in three benchmark pairs: both threads
        wanted the GIL at once and handed it to and fro. Commits run one after the other
        in one thread, mostly waiting on the database: N+1 is queued there as soon as it
        is prepared, so it starts the moment N has committed (no trip through the event
        loop between two transactions), and is never written if N failed. Up to
        ``QUEUED`` batches commit or wait to; reports of all of them count as stored for
        the dedup of the batch being prepared.

        Ownership of the caches: a batch is prepared (caches changed), then committing;
        if the session ends or a commit fails, what is not committed is undone, the later
        batch first (see ``Ingestor.prepare``).
        """
        inflight: list[_Pending] = []  # committing or queued to commit, oldest first
        ready: Prepared | None = None  # prepared, not queued yet
        try:
            while True:
                while inflight and not inbox.qsize():  # nothing to overlap with
                    await self._finish(client, gate, inflight[0])
                    inflight.pop(0)
                batch, failure = await self._collect(inbox)
                gate.check()
                now, started = self.clock(), time.perf_counter()
                ids = set().union(*(p.prepared.ids for p in inflight)) if inflight else ()
                try:
                    ready = self.ingestor.prepare(batch, now, ids)
                except Exception as exc:  # prepare undid itself
                    raise _StoreError from exc
                before = inflight[-1].done if inflight else None
                done = self._committer.submit(self._commit_after, ready, before)
                commit = asyncio.wrap_future(done)
                commit.add_done_callback(_retrieved)  # a failure is raised by _finish or undone
                inflight.append(_Pending(batch, ready, started, commit, done))
                ready = None
                while len(inflight) > QUEUED or (inflight and failure is not None):
                    await self._finish(client, gate, inflight[0])
                    inflight.pop(0)
                if failure is not None:
                    raise failure
        finally:
            await self._settle(inflight, ready)

    def _commit_after(self, prepared: Prepared, before: Future[None] | None) -> None:
        """Commit ``prepared`` (in the commit thread) unless the batch before it failed."""
        if before is not None and (before.cancelled() or before.exception() is not None):
            raise _StoreError("the batch before this one was not stored")
        self.ingestor.commit(prepared)

    async def _collect(self, inbox: Inbox) -> tuple[list[Incoming], aiomqtt.MqttError | None]:
        """Up to a batch of messages (none when idle: the watchdog still runs)."""
        s, batch = self.settings, list[Incoming]()
        if not await inbox.wait(s.watchdog_interval):
            return batch, None
        deadline = time.monotonic() + s.batch_wait
        while (failure := inbox.take(s.batch_size - len(batch), batch)) is None:
            left = deadline - time.monotonic()
            if len(batch) >= s.batch_size or left <= 0 or not await inbox.wait(left):
                break
        return batch, failure

    async def _finish(self, client: aiomqtt.Client, gate: ReadGate, pending: _Pending) -> None:
        """Wait for ``pending``'s commit, then acknowledge it and tell what changed."""
        try:
            await asyncio.shield(pending.commit)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise _StoreError from exc
        result = pending.prepared.result
        gate.ack(pending.batch)  # only now: see the module docstring
        self.stored += len(pending.batch)
        self.metrics.observe(result, time.perf_counter() - pending.started, len(pending.batch))
        if self._coverage_backlog is not None:  # a reload is running: applied after it
            self._coverage_backlog += result.changes
        elif self.coverage is not None and self._coverage_ready and result.changes:
            touched = await asyncio.to_thread(self.coverage.apply, result.changes)
            self._set_coverage_gauges(self.coverage, touched)
        for camera, change in result.changes:
            log.info("camera %s → %s since %s", camera, change.status, change.at.isoformat())
        if self.settings.events and result.changes:
            self._announce(client, result.changes)

    async def _settle(self, inflight: list[_Pending], ready: Prepared | None) -> None:
        """At the end of a session: undo what did not commit, the later batch first."""
        if ready is not None:
            self.ingestor.undo(ready)
        for pending in reversed(inflight):  # the thread's outcome, whoever cancelled what
            outcome = asyncio.wrap_future(pending.done)
            outcome.add_done_callback(_retrieved)
            await asyncio.wait([outcome])
            if pending.done.cancelled() or pending.done.exception() is not None:
                self.ingestor.undo(pending.prepared)
        # a batch committed but not acknowledged comes again and is dropped as a duplicate

    def _announce(self, client: aiomqtt.Client, changes: list[tuple[str, Change]]) -> None:
        """Publish the committed changes (QoS 0) without holding up the next batch."""
        found = [
            CameraChange(camera_id=cam, status=c.status, since=c.at, faults=_faults(c.faults))
            for cam, c in changes
        ]
        for payload in state_messages(found):
            task = asyncio.create_task(self._publish(client, payload))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def _publish(self, client: aiomqtt.Client, payload: bytes) -> None:
        try:
            await client.publish(STATE_TOPIC, payload, qos=0)
        except aiomqtt.MqttError as exc:  # an event is a hint: subscribers also look
            self.metrics.events_failed.inc()
            log.debug("state event not published: %s", exc)
        else:
            self.metrics.events.inc()

    async def _ratio_loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # a gauge is never worth stopping ingest
                figures = await asyncio.to_thread(self._ratios)
                for commune, ratio in figures.items():
                    self.metrics.ratio.labels(commune).set(ratio)
            await asyncio.sleep(self.settings.ratio_interval)

    async def load_coverage(self) -> bool:
        """Recompute coverage in a thread; apply after it the changes stored meanwhile.

        The recompute reads the database after the backlog opened, so a change stored
        before is in what it read and one stored after is applied again (idempotent).
        Returns whether it worked (a failure is logged; the old coverage is kept).
        """
        if self.coverage is None:
            return False
        self._coverage_backlog = []
        try:
            computed = await asyncio.to_thread(self.coverage.compute)
        except Exception:  # a coverage failure never stops ingest
            log.exception("coverage: full recompute failed; trying again later")
            computed = None
        backlog, self._coverage_backlog = self._coverage_backlog, None
        if computed is not None:
            self.coverage.install(computed)
            self._coverage_ready = True
        if self._coverage_ready:
            await asyncio.to_thread(self.coverage.apply, backlog)
            self._set_coverage_gauges(self.coverage, self.coverage.communes)
        return computed is not None

    async def _coverage_loop(self) -> None:
        if self._coverage_ready:  # loaded before the start: the next one is a reload
            await asyncio.sleep(self.settings.coverage_reload)
        while True:
            await self.load_coverage()
            await asyncio.sleep(self.settings.coverage_reload)

    def _set_coverage_gauges(self, coverage: LiveCoverage, communes: Iterable[str]) -> None:
        for commune in communes:
            for kind, fraction in coverage.fractions(commune).items():
                self.metrics.coverage.labels(commune, kind).set(fraction)

    def _ratios(self) -> dict[str, float]:
        with self.ingestor.engine.connect() as conn:
            figures = ratio_now(conn)
        return {c: r.ratio for c, r in figures.items() if r.ratio is not None}


class _Pending(NamedTuple):
    """A batch whose transaction runs (or waits to run) in the commit thread."""

    batch: list[Incoming]
    prepared: Prepared
    started: float
    commit: asyncio.Future[None]  # awaited by the event loop (shielded)
    done: Future[None]  # the thread's own outcome


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a commit's outcome as seen (its failure is handled elsewhere)."""
    if not future.cancelled():
        future.exception()


class _StoreError(Exception):
    """The batch's transaction failed; its messages stay unacknowledged."""


def _faults(value: str) -> list[str]:
    return [f for f in value.split(",") if f]
