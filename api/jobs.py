"""``camnet jobs``: the scheduler process — repair tasks every tick, the daily roll-up.

APScheduler runs here, in a process of its own, never inside web workers (STYLE.md;
APScheduler #160: every worker would run every job). Three jobs:

* ``tasks tick`` every ``tick_seconds`` (``api.tasks.tick``: raise, reopen, verify, close,
  escalate), at most one at a time; missed runs are coalesced into one.
* ``daily roll-up`` at 00:10 Asia/Ho_Chi_Minh and once at start (``api.rollup.rollup_days``:
  camera-seconds per commune and local day, for uptime over months).
* ``old reports pruned`` at 00:40 and once at start (``api.prune``): raw health reports
  older than ``report_days`` (default 14; 0 keeps them for ever) are deleted.

With ``mqtt_host`` set (``api.jobs_events``) a tick also runs as soon as the collector
announces state changes and when the next grace period or deadline ends, and each tick
that wrote task events is announced to ``camnet alerts``.

Prometheus counters (tasks raised / reopened / closed / escalated, tick duration, job
errors) are served on ``metrics_host:metrics_port`` unless the port is 0. SIGTERM or
SIGINT stops the scheduler after the job running at that moment has finished.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from api.jobs_events import JobsEvents
from api.prune import prune_reports
from api.rollup import rollup_days
from api.task_rules import TaskRules
from api.tasks import TickResult, tick
from collector.db import DEFAULT_URL
from collector.events import BrokerSettings, TasksChanged
from collector.models_ops import TaskEvent
from collector.ratio import VN

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)


class JobsSettings(BrokerSettings):
    """Everything ``camnet jobs`` needs; environment ``CAMNET_JOBS_*`` or flags."""

    model_config = SettingsConfigDict(env_prefix="CAMNET_JOBS_", extra="forbid")

    db_url: str = Field(DEFAULT_URL, description="sqlite:///file.db or postgresql+psycopg://...")
    tick_seconds: float = Field(30, gt=0, description="Seconds between task ticks.")
    rules_file: Path | None = Field(
        None, description="YAML task rules (deploy/tasks.example.yaml); unset: the defaults."
    )
    report_days: int = Field(
        14,
        ge=0,
        description="Keep raw health reports this many days (0: for ever); daily prune. "
        "The status intervals keep the whole history.",
    )
    metrics_host: str = Field("127.0.0.1", description="Prometheus metrics listen address.")
    metrics_port: int = Field(9112, ge=0, le=65535, description="Metrics port; 0 turns it off.")


class JobsMetrics:
    """Counters of what the jobs did, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.tasks = Counter(
            "camnet_jobs_tasks", "Repair tasks by what the tick did.", ["event"], registry=r
        )
        self.tick_seconds = Histogram(
            "camnet_jobs_tick_seconds",
            "Time one task tick took.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.rollup_days = Counter(
            "camnet_jobs_rollup_days", "Commune-days written by the roll-up.", registry=r
        )
        self.errors = Counter("camnet_jobs_errors", "Job runs that failed.", ["job"], registry=r)
        self.pruned = Counter(
            "camnet_jobs_reports_pruned", "Raw health reports deleted after their days.", registry=r
        )

    def count(self, result: TickResult) -> None:
        """Add one tick's figures."""
        for event in ("raised", "reopened", "verified", "closed", "escalated"):
            self.tasks.labels(event).inc(getattr(result, event))


class Jobs:
    """The two jobs, bound to an engine, the rules and the metrics."""

    def __init__(
        self,
        engine: Engine,
        rules: TaskRules,
        metrics: JobsMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        after_tick: Callable[[TickResult], None] | None = None,
        report_days: int = 0,
    ) -> None:
        self.engine, self.rules, self.metrics, self.clock = engine, rules, metrics, clock
        self.after_tick, self.report_days = after_tick, report_days
        self._one_at_a_time = threading.Lock()  # periodic, woken and due ticks queue up

    def run_tick(self) -> TickResult | None:
        """One task tick; None when the database failed (logged, counted, retried next tick)."""
        with self._one_at_a_time:
            started = time.monotonic()
            try:
                result = tick(self.engine, self.clock(), self.rules)
            except SQLAlchemyError:
                self.metrics.errors.labels("tick").inc()
                log.exception("tasks tick failed; retrying at the next tick")
                return None
            finally:
                self.metrics.tick_seconds.observe(time.monotonic() - started)
        self.metrics.count(result)
        if result.raised or result.reopened or result.closed or result.escalated:
            log.info("%s", result.summary())
        if self.after_tick is not None:
            self.after_tick(result)
        return result

    def tasks_changed(self, result: TickResult) -> TasksChanged | None:
        """The event announcing ``result``, or None when the tick wrote no task event."""
        if not (result.raised or result.reopened or result.closed or result.escalated):
            return None
        with self.engine.connect() as conn:
            last = conn.scalar(select(func.max(TaskEvent.__table__.c.id)))  # type: ignore[attr-defined]
        return TasksChanged(
            last_event_id=int(last or 0),
            raised=result.raised,
            reopened=result.reopened,
            closed=result.closed,
            escalated=result.escalated,
        )

    def run_rollup(self) -> int | None:
        """The daily roll-up; the number of commune-days written, None if it failed."""
        try:
            days = rollup_days(self.engine, self.clock())
        except SQLAlchemyError:
            self.metrics.errors.labels("rollup").inc()
            log.exception("daily roll-up failed; it runs again tomorrow or at the next start")
            return None
        self.metrics.rollup_days.inc(days)
        log.info("daily roll-up: %d commune-days", days)
        return days

    def run_prune(self) -> int | None:
        """Delete raw reports older than ``report_days`` (0: none); None if it failed."""
        if not self.report_days:
            return 0
        try:
            deleted = prune_reports(self.engine, self.clock() - timedelta(days=self.report_days))
        except SQLAlchemyError:
            self.metrics.errors.labels("prune").inc()
            log.exception("pruning old reports failed; it runs again tomorrow")
            return None
        self.metrics.pruned.inc(deleted)
        log.info("reports older than %d days deleted: %d", self.report_days, deleted)
        return deleted


def run_jobs(settings: JobsSettings, rules: TaskRules, engine: Engine) -> None:
    """Run the scheduler until SIGTERM or SIGINT; the running job finishes first."""
    metrics = JobsMetrics()
    jobs = Jobs(engine, rules, metrics, report_days=settings.report_days)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the running job", signum)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = None
    if settings.metrics_port:
        server, _thread = start_http_server(
            settings.metrics_port, settings.metrics_host, registry=metrics.registry
        )
    # A background scheduler leaves the main thread free to wait for the signal, then
    # shut down with wait=True: a tick in its transaction is never cut off.
    scheduler, events = start_scheduler(settings, jobs)
    log.info(
        "camnet jobs: tick every %ss, events %s, roll-up 00:10 ICT, metrics %s → %s",
        settings.tick_seconds,
        f"{settings.mqtt_host}:{settings.mqtt_port}" if events else "off",
        f"{settings.metrics_host}:{settings.metrics_port}" if server else "off",
        engine.url.render_as_string(hide_password=True),
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stop_scheduler(scheduler, events)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.shutdown()
            server.server_close()
        log.info("camnet jobs stopped")


def start_scheduler(settings: JobsSettings, jobs: Jobs) -> tuple[BaseScheduler, JobsEvents | None]:
    """Start the periodic tick, the daily roll-up and (with a broker) the event link."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = BackgroundScheduler(timezone=VN)
    events = _events(settings, jobs, scheduler)
    now = datetime.now(VN)
    scheduler.add_job(
        jobs.run_tick,
        IntervalTrigger(seconds=settings.tick_seconds, timezone=VN),
        id="tasks-tick",
        name="tasks tick",
        max_instances=1,
        coalesce=True,
        next_run_time=now,
    )
    scheduler.add_job(
        jobs.run_rollup,
        CronTrigger(hour=0, minute=10, timezone=VN),
        id="rollup",
        name="daily roll-up",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
        next_run_time=now,  # once at start, then every day at 00:10
    )
    scheduler.add_job(
        jobs.run_prune,
        CronTrigger(hour=0, minute=40, timezone=VN),
        id="prune",
        name="old reports pruned",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
        next_run_time=now,
    )
    scheduler.start()
    if events is not None:
        events.start()
    return scheduler, events


def stop_scheduler(scheduler: BaseScheduler, events: JobsEvents | None) -> None:
    """Disconnect the events, then let the running job finish."""
    if events is not None:
        events.stop()
    scheduler.shutdown(wait=True)


def _events(settings: JobsSettings, jobs: Jobs, scheduler: BaseScheduler) -> JobsEvents | None:
    """With a broker: tick on state events and when something falls due; announce ticks."""
    if not settings.mqtt_host:
        return None
    from apscheduler.triggers.date import DateTrigger

    def wake() -> None:
        scheduler.add_job(
            jobs.run_tick,
            id="tasks-now",
            name="tasks tick (event)",
            replace_existing=True,
            misfire_grace_time=None,
        )

    events = JobsEvents(
        settings.broker(), f"camnet-jobs-{socket.gethostname()}-{os.getpid()}", wake
    )

    def after(result: TickResult) -> None:
        if result.next_due is not None:
            scheduler.add_job(
                jobs.run_tick,
                DateTrigger(run_date=result.next_due + timedelta(milliseconds=50)),
                id="tasks-due",
                name="tasks tick (due)",
                replace_existing=True,
                misfire_grace_time=None,
            )
        announced = jobs.tasks_changed(result)
        if announced is not None:
            events.announce(announced)

    jobs.after_tick = after
    return events
