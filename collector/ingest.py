"""Turn a batch of MQTT messages into stored facts, in one transaction.

``Ingestor.process(batch)`` validates every payload with the wire contract, quarantines
what fails (bad topic, bad JSON, wrong schema, unknown camera, topic and payload that
disagree), drops reports already stored (dedup on ``report_id``), runs each camera's
state machine, and writes reports, intervals, states, presence, snapshots and quarantine
rows in one transaction. Only after that commit may the consumer acknowledge the
messages, so a crash anywhere loses nothing and stores nothing twice.

``process`` is ``prepare`` (validate, dedup, state machines, rows: CPU and one read) then
``commit`` (the writes). The consumer overlaps them: it prepares batch N+1 while batch N
commits, passing N's report ids so a report in both is still caught. ``prepare`` changes
the caches and ``undo`` takes a prepared batch back out of them; batches are undone in
the reverse order of their preparation. ``commit`` reads nothing but its batch's rows.

The camera states and the registry are cached in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from agent.messages import MAX_PAYLOAD, AgentStatus, Snapshot
from collector import store
from collector.batch import BatchResult, Cam, Incoming, Prepared, Work, snapshot_row, state_of
from collector.fast_report import Report
from collector.models import Camera
from collector.presence import Presence
from collector.state import Change, Hysteresis, State, advance, same_stored, to_unknown
from collector.validate import validate

log = logging.getLogger(__name__)
Parsed = tuple[Incoming, Report, Cam]  # a valid report of a registered camera


class Ingestor:
    """Validate, dedup, judge and store batches; owns the in-memory camera states."""

    def __init__(
        self,
        engine: Engine,
        rules: Hysteresis | None = None,
        offline_after_heartbeats: float = 3.0,
    ) -> None:
        self.engine = engine
        self.rules = rules or Hysteresis()
        self.offline_after_heartbeats = offline_after_heartbeats
        self.cams: dict[str, Cam] = {}  # registry, state and last reporter of each camera
        self.agents = Presence()
        self._started_at: datetime | None = None
        self.reload()

    # ------------------------------------------------------------------ cache
    def reload(self) -> None:
        """(Re)build the caches from the database."""
        with self.engine.connect() as conn:
            self.cams = {}
            self._load_registry(conn)
            last = store.last_reports(conn)
            for row in conn.execute(select(store.STATE)).mappings():
                cam = row["camera_id"]
                rec = self.cams.get(cam) or self.cams.setdefault(cam, Cam())
                rec.state, rec.reporter = state_of(row, last.get(cam)), row["agent_id"]
            self.agents.load(conn.execute(select(store.PRESENCE)).mappings())

    @property
    def states(self) -> dict[str, State]:
        """Each camera's state (a copy: for tests and tools, not the hot path)."""
        return {cam: rec.state for cam, rec in self.cams.items() if rec.state is not None}

    @property
    def presence(self) -> dict[str, dict[str, Any]]:
        """Each agent's ``agent_presence`` row as the collector knows it."""
        return self.agents.rows

    def hold_watchdog(self, now: datetime) -> None:
        """Count agents' silence only from ``now`` (the collector itself was away)."""
        self._started_at = now

    def refresh_registry(self) -> None:
        """Pick up cameras imported since the last load."""
        with self.engine.connect() as conn:
            self._load_registry(conn)

    def _load_registry(self, conn: Connection) -> None:
        table = Camera.__table__  # type: ignore[attr-defined]
        rows = conn.execute(select(table.c.id, table.c.commune_code, table.c.agent_id))
        for rec in self.cams.values():  # the same records: batches in flight hold them
            rec.commune = rec.agent = None
        for r in rows:
            rec = self.cams.get(r.id) or self.cams.setdefault(r.id, Cam())
            rec.commune, rec.agent = r.commune_code, r.agent_id

    # ---------------------------------------------------------------- process
    def process(self, batch: list[Incoming], now: datetime | None = None) -> BatchResult:
        """Store one batch in one transaction; return what happened.

        Raises the database's exception if the transaction fails; the caches are then
        restored, and the caller must not acknowledge the batch.
        """
        prepared = self.prepare(batch, now)
        try:
            self.commit(prepared)
        except Exception:
            self.undo(prepared)
            raise
        return prepared.result

    def prepare(
        self, batch: list[Incoming], now: datetime | None = None, pending: Collection[str] = ()
    ) -> Prepared:
        """Everything but the writes; ``pending``: report ids of a batch not committed yet."""
        result, work = BatchResult(), Work()
        prepared = Prepared(work, result, self.agents.save())  # a row per agent
        try:
            reports = self._parse(batch, work, result)
            fresh = self._dedup(reports, result, pending)
            for msg, report, rec in fresh:
                self._apply_report(msg, report, rec, work, result)
            if now is not None:
                self._watchdog(now, work, result)
        except Exception:
            self.undo(prepared)
            raise
        # rows as of this batch: the next one may change the caches before this commits
        work.states = [
            store.state_row(cam, rec.state, rec.reporter)  # type: ignore[arg-type]  # set
            for cam, rec in work.dirty.items()
        ]
        work.presence_rows = self.agents.to_write(work.presence)
        prepared.ids = {report.report_id for _, report, _ in fresh}
        return prepared

    def commit(self, prepared: Prepared) -> None:
        """Write a prepared batch in one transaction (raises if it fails)."""
        with self.engine.begin() as conn:
            self._write(conn, prepared.work)

    def undo(self, prepared: Prepared) -> None:
        """Take a prepared batch (not committed, or failed) back out of the caches."""
        for rec, state, reporter in prepared.work.undo.values():  # only what it touched
            rec.state, rec.reporter = state, reporter
        self.agents.restore(prepared.presence_before)

    def _remember(self, cam: str, rec: Cam, work: Work) -> None:
        if cam not in work.undo:
            work.undo[cam] = (rec, rec.state, rec.reporter)

    def _parse(self, batch: list[Incoming], work: Work, result: BatchResult) -> list[Parsed]:
        reports: list[Parsed] = []
        for msg in batch:
            reason, detail = self._parse_one(msg, work, result, reports)
            if reason is not None:
                self._quarantine(msg, reason, detail, work, result)
        return reports

    def _parse_one(
        self,
        msg: Incoming,
        work: Work,
        result: BatchResult,
        reports: list[Parsed],
    ) -> tuple[str | None, str]:
        data, reason, detail = validate(msg)
        if data is None:
            return reason, detail
        if isinstance(data, AgentStatus):
            self._apply_status(msg, data, work, result)
            return None, ""
        rec = self._camera(data.camera_id)
        if rec is None:
            return "unknown_camera", f"camera {data.camera_id!r} is not in the registry"
        if rec.commune != data.commune:
            return "wrong_commune", f"registry says commune {rec.commune}, report {data.commune}"
        if isinstance(data, Snapshot):
            return self._apply_snapshot(data, work, result)
        reports.append((msg, data, rec))
        return None, ""

    def _camera(self, camera_id: str) -> Cam | None:
        rec = self.cams.get(camera_id)
        if rec is None or rec.commune is None:
            self.refresh_registry()  # imported since we loaded? (rare: costs one query)
            rec = self.cams.get(camera_id)
        return rec if rec is not None and rec.commune is not None else None

    def _dedup(
        self,
        reports: list[Parsed],
        result: BatchResult,
        pending: Collection[str],
    ) -> list[Parsed]:
        # Only a report no newer than its camera's last one can have been stored: a stored
        # report moved its camera's ``last_report_at`` (in memory; at start, the newest
        # stored report's), and replays and redeliveries are older. Newer ones need no
        # lookup: most of them, most of the time.
        maybe = [
            r.report_id
            for _, r, rec in reports
            if (s := rec.state) is None
            or s.last_report_at is None
            or r.probed_at <= s.last_report_at
        ]
        stored: set[str] = set()
        if maybe:  # no connection (nor its liveness check) for a batch of new reports
            with self.engine.connect() as conn:
                stored = store.existing_report_ids(conn, maybe)
        fresh = []
        for parsed in reports:
            report_id = parsed[1].report_id
            if report_id in stored or report_id in pending:
                result.duplicates += 1
                continue
            stored.add(report_id)
            fresh.append(parsed)
        return fresh

    def _apply_report(
        self, msg: Incoming, report: Report, rec: Cam, work: Work, result: BatchResult
    ) -> None:
        at = report.probed_at
        faults = ",".join(sorted(report.faults))
        work.health.append(
            {
                "report_id": report.report_id,
                "camera_id": report.camera_id,
                "agent_id": report.agent_id,
                "probed_at": at,
                "received_at": msg.received_at,
                "status": report.status,
                "cause": report.cause,
                "faults": faults,
            }
        )
        result.accepted += 1
        result.lags.append((msg.received_at - at).total_seconds())
        self._seen_agent(report.agent_id, report.commune, msg.received_at, work)
        cam = report.camera_id
        self._remember(cam, rec, work)
        agent, rec.reporter = rec.reporter, report.agent_id
        state = rec.state or State(status="never_reported", since=at)
        if state.last_report_at is not None and at < state.last_report_at:
            result.late += 1  # stored, but too old to move the state
            return
        new, change = advance(state, report.status, faults, report.cause, at, self.rules)
        if change is not None and self._bridges_unknown(state, report.agent_id, at):
            # the agent reported this camera all along (a replayed outbox): no gap after all
            change = change._replace(at=state.since)
            new = new._replace(since=state.since)
        if change is not None:
            work.ops.append(("set", cam, change))
            result.changes.append((cam, change))
        elif (new.faults, new.cause) != (state.faults, state.cause):
            work.ops.append(("faults", cam, Change(new.status, at, new.faults, new.cause)))
        rec.state = new
        if change is not None or not same_stored(new, state) or agent != report.agent_id:
            work.dirty[cam] = rec  # else its row stands: only the last report's time moved

    def _bridges_unknown(self, state: State, agent: str, at: datetime) -> bool:
        if state.status != "unknown" or state.last_report_at is None:
            return False
        heartbeat = float(self.presence.get(agent, {}).get("heartbeat", 60.0))
        tolerance = heartbeat * self.offline_after_heartbeats
        return (at - state.last_report_at).total_seconds() <= tolerance

    def _apply_status(
        self, msg: Incoming, status: AgentStatus, work: Work, result: BatchResult
    ) -> None:
        result.statuses += 1
        agent = status.agent_id
        known = self.presence.get(agent)
        if msg.retained and known is not None and known["last_seen"] >= status.sent_at:
            return  # a stale retained status replayed on (re)subscribe: we know better
        if self.agents.older_connection(status):
            # mosquitto publishes a connected agent's Will when it shuts down and delivers
            # it again after a restart, possibly after the agent's new connection is up
            result.stale_wills += 1
            return
        last_seen = known["last_seen"] if known else msg.received_at
        row = self._seen_agent(agent, status.commune, msg.received_at, work)
        row.update(
            heartbeat=status.heartbeat,
            outbox_pending=status.outbox_pending,
            outbox_dropped=status.outbox_dropped,
        )
        work.presence[agent] = row
        if status.state == "offline":  # from the first heartbeat that did not come
            first_missed = last_seen + timedelta(seconds=status.heartbeat)
            self._agent_offline(agent, min(first_missed, msg.received_at), work, result)

    def _seen_agent(self, agent: str, commune: str, at: datetime, work: Work) -> dict[str, Any]:
        return self.agents.seen(agent, commune, at, work.presence)

    def _agent_offline(self, agent: str, at: datetime, work: Work, result: BatchResult) -> None:
        row = self.presence[agent]
        row.update(state="offline", since=at)
        work.presence[agent] = row
        cameras = sorted(c for c, r in self.cams.items() if agent in (r.reporter, r.agent))
        for cam in cameras:
            rec = self.cams[cam]
            if rec.state is None:
                continue
            new, change = to_unknown(rec.state, at)
            if change is not None:
                self._remember(cam, rec, work)
                rec.state = new
                work.ops.append(("set", cam, change))
                work.dirty[cam] = rec
                result.changes.append((cam, change))
        log.warning("agent %s offline since %s: %d cameras unknown", agent, at, len(cameras))

    def _watchdog(self, now: datetime, work: Work, result: BatchResult) -> None:
        """Agents silent for ``offline_after_heartbeats`` heartbeats are offline."""
        if self._started_at is None:
            self._started_at = now
        for agent, row in list(self.presence.items()):
            allowed = timedelta(seconds=row["heartbeat"] * self.offline_after_heartbeats)
            if row["state"] == "online" and now - max(row["last_seen"], self._started_at) > allowed:
                first_missed = row["last_seen"] + timedelta(seconds=row["heartbeat"])
                self._agent_offline(agent, first_missed, work, result)

    def _apply_snapshot(
        self, snap: Snapshot, work: Work, result: BatchResult
    ) -> tuple[str | None, str]:
        row, problem = snapshot_row(snap)
        if row is None:
            return "bad_schema", problem
        work.snapshots.append(row)
        result.snapshots += 1
        return None, ""

    def _quarantine(
        self, msg: Incoming, reason: str, detail: str, work: Work, result: BatchResult
    ) -> None:
        result.quarantined[reason] += 1
        work.quarantine.append(
            {
                "received_at": msg.received_at,
                "topic": msg.topic[:512],
                "reason": reason,
                "detail": detail[:2000],
                "size": len(msg.payload),
                "payload": msg.payload[:MAX_PAYLOAD],
            }
        )

    # ------------------------------------------------------------------ write
    def _write(self, conn: Connection, work: Work) -> None:
        store.bulk_rows(conn, store.HEALTH, work.health)
        for kind, cam, change in work.ops:
            if kind == "set":
                store.set_status_from(
                    conn, cam, change.at, change.status, change.faults, change.cause
                )
            else:
                store.update_open_faults(conn, cam, change.faults, change.cause)
        store.bulk_rows(conn, store.STATE, work.states, key="camera_id")
        store.bulk_rows(conn, store.PRESENCE, work.presence_rows, key="agent_id")
        store.insert_ignore(conn, store.SNAPSHOT, work.snapshots)
        store.insert_rows(conn, store.QUARANTINE, work.quarantine)
