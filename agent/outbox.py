"""The agent's store-and-forward outbox: wire messages on disk until the broker has them.

Every health report and snapshot is written here first and deleted only after the broker
acknowledged it (PUBACK), so neither a broker outage nor a crash of the agent loses one;
a crash between the PUBACK and the delete sends that message again, which is harmless
because collectors dedup on ``report_id``.

One SQLite file (stdlib ``sqlite3``, WAL, ``synchronous=NORMAL``: a commit is durable
against a crash of the process without an fsync per message)::

    outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, topic, payload, qos, retain, created_at)
    meta(key TEXT PRIMARY KEY, value)   -- dropped, report_seq, snapshot_at:<camera>, ...

``AUTOINCREMENT`` keeps ``seq`` increasing even after every row was deleted, so a sender's
cursor ("sent up to seq N") stays valid. The outbox is bounded: beyond ``max_messages``
the oldest rows are dropped and counted in ``meta`` (the count survives restarts and is
reported in ``AgentStatus.outbox_dropped``).

Not thread-safe: use it from the event loop's thread only. Each call is one short
transaction (tens of microseconds on a local disk). :func:`drain` sends an outbox through
any async ``send`` (the MQTT publisher's QoS 1 publish) with a window of messages in flight.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import OutboxError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""


@dataclass(frozen=True)
class OutboxMessage:
    """One stored message, oldest first by ``seq``."""

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created_at: float


class Outbox:
    """A bounded, persistent FIFO of MQTT messages in one SQLite file.

    Args:
        path: The SQLite file (created with its folder if missing).
        max_messages: Most messages kept; putting one more drops the oldest.

    Raises:
        OutboxError: The file cannot be opened or is not an outbox.
    """

    def __init__(self, path: Path, max_messages: int = 100_000) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.path = path
        self.max_messages = max_messages
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode: every transaction below is explicit (BEGIN ... COMMIT)
            self._db = sqlite3.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(str(path), f"cannot open the outbox: {exc}") from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._count: int = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        except sqlite3.Error as exc:
            self._db.close()
            raise OutboxError(str(path), f"cannot open the outbox: {exc}") from exc

    # ------------------------------------------------------------------ messages

    def put(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Store one message at the end; drop the oldest beyond the bound. Return its seq."""
        try:
            with self._transaction() as db:
                cur = db.execute(
                    "INSERT INTO outbox (topic, payload, qos, retain, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (topic, payload, qos, int(retain), time.time()),
                )
                seq = int(cur.lastrowid or 0)
                count = self._count + 1
                if count > self.max_messages:
                    excess = count - self.max_messages
                    gone = db.execute(
                        "DELETE FROM outbox WHERE seq IN"
                        " (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                        (excess,),
                    ).rowcount
                    count -= gone
                    self._add_meta(db, "dropped", gone)
        except sqlite3.Error as exc:
            raise OutboxError(str(self.path), f"cannot store a message: {exc}") from exc
        self._count = count
        return seq

    def peek(self, n: int, after: int = 0) -> list[OutboxMessage]:
        """Return up to ``n`` messages with ``seq > after``, oldest first (nothing removed)."""
        if n <= 0:
            return []
        try:
            rows = self._db.execute(
                "SELECT seq, topic, payload, qos, retain, created_at FROM outbox"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, n),
            ).fetchall()
        except sqlite3.Error as exc:
            raise OutboxError(str(self.path), f"cannot read messages: {exc}") from exc
        return [OutboxMessage(s, t, bytes(p), q, bool(r), c) for s, t, p, q, r, c in rows]

    def ack(self, seqs: int | Iterable[int]) -> int:
        """Delete delivered messages: every ``seq <= seqs`` (an int) or exactly those listed.

        Returns:
            How many rows were deleted (a message dropped meanwhile is simply not there).
        """
        try:
            with self._transaction() as db:
                if isinstance(seqs, int):
                    gone = db.execute("DELETE FROM outbox WHERE seq <= ?", (seqs,)).rowcount
                else:
                    gone = db.executemany(
                        "DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs]
                    ).rowcount
        except sqlite3.Error as exc:
            raise OutboxError(str(self.path), f"cannot delete delivered messages: {exc}") from exc
        self._count -= gone
        return gone

    def pending(self) -> int:
        """Messages waiting for the broker."""
        return self._count

    def dropped(self) -> int:
        """Messages dropped because the outbox was full, since the file was created."""
        return int(self.get_meta("dropped") or 0)

    # ------------------------------------------------------------------ meta

    def next_seq(self, name: str = "report_seq") -> int:
        """Return the next value of the persistent counter ``name`` (0, 1, 2, ...)."""
        try:
            with self._transaction() as db:
                self._add_meta(db, name, 1)
                value = db.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
        except sqlite3.Error as exc:
            raise OutboxError(str(self.path), f"cannot advance {name}: {exc}") from exc
        return int(value[0]) - 1

    def get_meta(self, key: str) -> str | int | float | None:
        """Return the stored value of ``key``, or ``None``."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str | int | float) -> None:
        """Store ``value`` under ``key``."""
        try:
            with self._transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        except sqlite3.Error as exc:
            raise OutboxError(str(self.path), f"cannot store {key}: {exc}") from exc

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._db.close()

    # ------------------------------------------------------------------ helpers

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    @staticmethod
    def _add_meta(db: sqlite3.Connection, key: str, amount: int) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            (key, amount),
        )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


async def drain(
    outbox: Outbox,
    send: Callable[[OutboxMessage], Coroutine[Any, Any, None]],
    window: int,
    wake: asyncio.Event,
    acked: Callable[[list[OutboxMessage]], None],
) -> None:
    """Send ``outbox`` oldest first with ``send``; delete each message once ``send`` returned.

    At most ``window`` sends run at once. They are started in ``seq`` order, so a ``send``
    that hands the message to a connection before its first ``await`` (aiomqtt does) keeps
    the order on the wire. Deletes are batched: all sends that finished together, one
    transaction.

    Args:
        outbox: The outbox to send.
        send: Delivers one message; returns once it is acknowledged, raises if it is not.
        window: Most messages sent and not yet acknowledged.
        wake: Set by whoever puts into ``outbox``; cleared here.
        acked: Called with the messages just deleted.

    Raises:
        Exception: The first error of a ``send``; the other sends are cancelled, their
            messages stay in the outbox to be sent again from the oldest.
    """
    inflight: dict[asyncio.Task[None], OutboxMessage] = {}
    cursor = 0  # highest seq handed to ``send`` by this call
    try:
        while True:
            wake.clear()
            done = [t for t in inflight if t.done()]
            error: BaseException | None = None
            ok: list[OutboxMessage] = []
            for task in done:
                msg = inflight.pop(task)
                if (exc := task.exception()) is None:
                    ok.append(msg)
                elif error is None:
                    error = exc
            if ok:
                outbox.ack([m.seq for m in ok])
                acked(ok)
            if error is not None:
                raise error
            for msg in outbox.peek(window - len(inflight), after=cursor):
                task = asyncio.create_task(send(msg))
                task.add_done_callback(lambda _: wake.set())
                inflight[task] = msg
                cursor = msg.seq
            await wake.wait()
    finally:
        for task in inflight:
            task.cancel()
        await asyncio.gather(*inflight, return_exceptions=True)
