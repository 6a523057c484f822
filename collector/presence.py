"""What the collector knows of each agent (``agent_presence``), and when to write it.

An agent's row is written when its state, heartbeat or outbox figures change, and for a
newer ``last_seen`` alone at most every ``WRITE_EVERY``: every report moves ``last_seen``,
and rewriting a hundred agents' rows for every batch of reports cost PostgreSQL about
2 µs a report. The stored ``last_seen`` is at most that much behind; the watchdog uses
the collector's own, which is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from agent.messages import AgentStatus
from collector.models import as_utc

WRITE_EVERY = timedelta(seconds=10)
Row = dict[str, Any]
Saved = tuple[dict[str, Row], dict[str, datetime]]  # rows and written marks, for undo


class Presence:
    """Agents' presence rows, kept in memory, and which of them a batch must write."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.written: dict[str, datetime] = {}  # ``last_seen`` as last written, per agent
        # newest MQTT connection seen per agent: a Will from an older one is stale
        self.connections: dict[str, datetime] = {}

    def load(self, rows: Iterable[Mapping[Any, Any]]) -> None:
        """Take the stored rows (as written, so nothing to write yet)."""
        self.rows = {}
        for stored in rows:
            row = dict(stored)
            row["since"], row["last_seen"] = as_utc(row["since"]), as_utc(row["last_seen"])
            self.rows[row["agent_id"]] = row
        self.written = {agent: row["last_seen"] for agent, row in self.rows.items()}

    def save(self) -> Saved:
        """A copy to :meth:`restore` if the batch about to change the rows is undone."""
        return {k: dict(v) for k, v in self.rows.items()}, dict(self.written)

    def restore(self, saved: Saved) -> None:
        """Back to what :meth:`save` copied."""
        self.rows, self.written = saved

    def seen(self, agent: str, commune: str, at: datetime, changed: dict[str, Row]) -> Row:
        """``agent`` was heard from at ``at`` (its row goes into ``changed`` to be written)."""
        row = self.rows.get(agent)
        if row is None:
            row = {
                "agent_id": agent,
                "commune_code": commune,
                "state": "online",
                "since": at,
                "last_seen": at,
                "heartbeat": 60.0,
                "outbox_pending": 0,
                "outbox_dropped": 0,
            }
            self.rows[agent] = changed[agent] = row
            return row
        if row["state"] != "online":
            row.update(state="online", since=at)
            changed[agent] = row
        if at > row["last_seen"]:
            row["last_seen"] = at
            if at - self.written.get(agent, at - WRITE_EVERY) >= WRITE_EVERY:
                changed[agent] = row
        return row

    def to_write(self, changed: dict[str, Row]) -> list[Row]:
        """The rows of ``changed`` as of now (later batches change the live ones)."""
        out = [dict(row) for row in changed.values()]
        for row in out:
            self.written[row["agent_id"]] = row["last_seen"]
        return out

    def older_connection(self, status: AgentStatus) -> bool:
        """Whether ``status`` belongs to an older connection than one already seen."""
        if status.connected_at is None:
            return False  # an agent from before the field: trust it
        newest = self.connections.get(status.agent_id)
        if newest is not None and status.connected_at < newest:
            return True
        self.connections[status.agent_id] = status.connected_at
        return False
