"""``camnet agent``: probe every camera of a site on a schedule and publish reports.

One task per camera in one ``asyncio.TaskGroup``; each start is spread over the interval
and each interval jittered (Home Assistant #82231), a semaphore bounds concurrent probes,
and decoding/judging runs in a small thread pool. A probe's failure is a report; an
unexpected error in one camera's task is logged and that camera goes on at its next turn.
History (reference picture, baselines) is kept per camera under ``state_dir``. A camera is
logged once when it goes down and once when it recovers, never at every probe.

Reports go to a JSON-lines file (``reports``) and, with an ``mqtt:`` section, to the
broker through the on-disk outbox (``agent.publisher``): health reports, snapshots and the
agent's status. ``--once`` waits (``mqtt.flush_timeout``) until the outbox is delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING

from agent.config import AgentConfig, CameraConfig, load_config
from agent.errors import AgentError, InvalidConfigError
from agent.messages import ProbeReport, redact_url
from agent.metrics import AgentMetrics, serve_metrics
from agent.probe import CameraSpec, probe_with_picture
from agent.rtsp import ProbeOptions

if TYPE_CHECKING:  # aiomqtt loads only when the agent publishes
    from agent.publisher import MqttPublisher

log = logging.getLogger(__name__)
ReportSink = Callable[[ProbeReport], Awaitable[None]]


class JsonlSink:
    """Append each report as one JSON line to a file (or stdout with '-')."""

    def __init__(self, target: str) -> None:
        self._own = target != "-"
        if self._own:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        # the sink lives as long as the agent; close() ends it
        self._out: IO[str] = Path(target).open("a", encoding="utf-8") if self._own else sys.stdout  # noqa: SIM115

    async def __call__(self, report: ProbeReport) -> None:
        """Write one report and flush, so a reader sees it at once."""
        self._out.write(report.model_dump_json() + "\n")
        self._out.flush()

    def close(self) -> None:
        """Close the file (never stdout)."""
        if self._own:
            self._out.close()


class Agent:
    """Probe the cameras of one ``AgentConfig``; hand every report to ``sink`` and publisher.

    Args:
        config: The site.
        sink: Where each report goes (JSON lines, a test's list), if anywhere.
        metrics: The agent's metrics (a new set if not given).
        publisher: Queues each report and its picture for the MQTT broker, if set.
    """

    def __init__(
        self,
        config: AgentConfig,
        sink: ReportSink | None,
        *,
        metrics: AgentMetrics | None = None,
        publisher: MqttPublisher | None = None,
    ) -> None:
        from agent.history import CameraHistory
        from agent.quality import Thresholds

        self.config = config
        self.sink = sink
        self.publisher = publisher
        self.metrics = metrics if metrics is not None else AgentMetrics()
        self.last_status: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._gate = asyncio.Semaphore(config.concurrency)
        self._pool = ThreadPoolExecutor(config.decode_workers, thread_name_prefix="camnet-decode")
        self._thresholds = {
            c.id: Thresholds(**{**config.thresholds, **c.thresholds}) for c in config.cameras
        }
        self._histories = {c.id: CameraHistory.load(self._history_path(c)) for c in config.cameras}

    def _history_path(self, camera: CameraConfig) -> Path:
        return self.config.state_dir / camera.id / "history.npz"

    async def probe_camera(self, camera: CameraConfig) -> ProbeReport:
        """Probe one camera now, record the result, and return its report."""
        e = camera.expected
        options = ProbeOptions(
            timeout=self.config.timeout, transport=camera.transport or self.config.transport
        )
        async with self._gate:
            report, picture = await probe_with_picture(
                camera.full_url(),
                options,
                camera_id=camera.id,
                history=self._histories[camera.id],
                thresholds=self._thresholds[camera.id],
                spec=CameraSpec(e.width, e.height, e.fps, e.audio),
                executor=self._pool,
            )
        if report.cause is None:
            history = self._histories[camera.id]
            await asyncio.get_running_loop().run_in_executor(
                self._pool, history.save, self._history_path(camera)
            )
        self._note(camera, report)
        if self.sink is not None:
            await self.sink(report)
        if self.publisher is not None:
            await self.publisher.submit(report, picture)
        self.metrics.reports_written.inc()
        return report

    def _note(self, camera: CameraConfig, report: ProbeReport) -> None:
        self.metrics.observe(report)
        before = self.last_status.get(camera.id)
        self.last_status[camera.id] = report.status
        for status in ("ok", "degraded", "down"):
            count = sum(1 for s in self.last_status.values() if s == status)
            self.metrics.cameras.labels(status).set(count)
        what = report.cause or ",".join(report.faults)
        if report.status == "down" and before != "down":
            log.warning("camera %s (%s) down: %s", camera.id, redact_url(camera.url), what)
        elif report.status != "down" and before == "down":
            log.warning("camera %s recovered: %s", camera.id, report.status)

    async def _camera_loop(self, camera: CameraConfig) -> None:
        loop = asyncio.get_running_loop()
        interval, jitter = self.config.interval, self.config.jitter
        await asyncio.sleep(random.uniform(0, interval))  # noqa: S311 - spreading, not security
        while True:
            started = loop.time()
            try:
                await self.probe_camera(camera)
            except Exception:
                log.exception("camera %s: unexpected error; trying again next turn", camera.id)
            pause = interval * random.uniform(1 - jitter, 1 + jitter)  # noqa: S311
            await asyncio.sleep(max(0.0, pause - (loop.time() - started)))

    async def run_once(self) -> list[ProbeReport]:
        """Probe every camera once (no spreading) and return the reports."""
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self.probe_camera(c)) for c in self.config.cameras]
        return [t.result() for t in tasks]

    async def run(self) -> None:
        """Probe forever on the schedule (until cancelled)."""
        async with asyncio.TaskGroup() as group:
            self._tasks = [group.create_task(self._camera_loop(c)) for c in self.config.cameras]

    def close(self) -> None:
        """Release the decode threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def open_publisher(config: AgentConfig, metrics: AgentMetrics) -> MqttPublisher:
    """Open the outbox and build the publisher of ``config.mqtt`` (not started yet).

    Raises:
        OutboxError: The outbox file cannot be opened.
        ConfigError: TLS files are unusable.
    """
    from importlib.metadata import PackageNotFoundError, version

    from agent.outbox import Outbox
    from agent.publisher import MqttPublisher

    if config.mqtt is None:
        raise ValueError("the config has no mqtt section")
    try:
        camnet_version = version("camnet")
    except PackageNotFoundError:
        camnet_version = ""
    outbox = Outbox(config.outbox_path(), config.mqtt.outbox_max)
    try:
        return MqttPublisher(
            config.mqtt,
            outbox,
            agent_id=config.agent_id,
            commune=config.commune,
            cameras=len(config.cameras),
            metrics=metrics,
            version=camnet_version,
        )
    except BaseException:
        outbox.close()
        raise


async def _deliver(publisher: MqttPublisher, limit: float) -> None:
    """With ``--once``: wait until the outbox is delivered, at most ``limit`` seconds."""
    try:
        async with asyncio.timeout(limit):
            await publisher.flush()
    except TimeoutError:
        log.warning(
            "MQTT: %d messages still in the outbox after %.0f s; they go out at the next run",
            publisher.outbox.pending(),
            limit,
        )


async def run(config: AgentConfig, once: bool = False, sink: ReportSink | None = None) -> None:
    """Run the agent until SIGTERM/SIGINT (or one round with ``once``).

    Raises:
        OutboxError: The outbox file cannot be opened (before anything is probed).
        ConfigError: The TLS files of ``mqtt`` are unusable (idem).
    """
    from agent.decode import keep_freed_memory

    keep_freed_memory()
    metrics = AgentMetrics()
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:  # closed in reverse order
        publisher = None
        if config.mqtt is not None:
            publisher = open_publisher(config, metrics)
            stack.callback(publisher.outbox.close)
        jsonl = None
        if sink is None and config.reports is not None:
            jsonl = JsonlSink(config.reports)
            stack.callback(jsonl.close)
        agent = Agent(
            config, sink if sink is not None else jsonl, metrics=metrics, publisher=publisher
        )
        stack.callback(agent.close)
        if publisher is not None:
            publisher.start()
            stack.push_async_callback(publisher.stop)  # after the probes: the last reports
        if config.metrics_port and not once:
            server = await serve_metrics(metrics, config.metrics_host, config.metrics_port)
            stack.push_async_callback(server.wait_closed)
            stack.callback(server.close)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, main.cancel if main else (lambda: None))
                stack.callback(loop.remove_signal_handler, sig)
        try:
            if once:
                await agent.run_once()
                if publisher is not None and config.mqtt is not None:
                    await _deliver(publisher, config.mqtt.flush_timeout)
            else:
                log.info("agent %s: %d cameras", config.agent_id, len(config.cameras))
                await agent.run()
        except asyncio.CancelledError:
            log.info("agent %s stopping", config.agent_id)


def main(args: argparse.Namespace) -> int:
    """Handle ``camnet agent``."""
    try:
        config = load_config(Path(args.config))
    except InvalidConfigError as exc:
        sys.stderr.write(f"Cấu hình sai / invalid config ({len(exc.errors)} lỗi):\n")
        for error in exc.errors:
            sys.stderr.write(f"  {error}\n")
        return 2
    if args.check_config:
        sys.stdout.write(f"Cấu hình hợp lệ / config OK: {len(config.cameras)} camera\n")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(run(config, once=args.once))
    except AgentError as exc:  # outbox or TLS files unusable at start
        sys.stderr.write(f"Không khởi động được / cannot start: {exc}\n")
        return 2
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``camnet agent`` to the subcommands."""
    p = sub.add_parser(
        "agent",
        help="chạy trạm biên kiểm tra camera / run the edge agent",
        description="Kiểm tra định kỳ mọi camera trong agent.yaml. Probe every camera on a "
        "schedule, write JSON-line reports, publish them over MQTT (mqtt: section, with an "
        "on-disk outbox), serve Prometheus metrics.",
    )
    p.add_argument("--config", required=True, help="agent.yaml")
    p.add_argument("--check-config", action="store_true", help="validate the config and exit")
    p.add_argument(
        "--once",
        action="store_true",
        help="probe every camera once, deliver the outbox (mqtt.flush_timeout) and exit",
    )
    p.set_defaults(handler=main)
