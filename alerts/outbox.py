"""The outbox: every notification is a row before it is sent; at most once per recipient.

* :func:`enqueue` writes rows (in the caller's transaction, with the cursor move), each
  under a unique ``dedup_key``: the same event read twice adds nothing.
* :func:`recover` runs at start: a row left ``sending`` by a process that died mid-send
  may have reached the person, so it becomes ``uncertain`` and is never sent again.
* :func:`due` lists the rows due; :func:`take` moves one to ``sending`` (committed just
  before its request leaves), holding back rows over the recipient's hourly rate limit.
* :func:`finish` records the answer: ``sent``, ``failed``, ``uncertain``, or ``pending``
  again with a later ``next_attempt_at`` (backoff, or what the service asked for).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from alerts.channels import Outcome, Result
from alerts.config import AlertRules
from collector.models import as_utc
from collector.models_alerts import AlertNotification

log = logging.getLogger(__name__)

OUTBOX: Table = AlertNotification.__table__  # type: ignore[attr-defined]
#: Rows that count against a recipient's hourly rate limit.
COUNTED = ("sending", "sent", "uncertain")


@dataclass(frozen=True)
class Draft:
    """One notification to store: what, to whom, on which channel."""

    key: str  # what makes it unique besides the recipient (kind and first event / day)
    kind: str
    commune_code: str | None
    task_id: int | None
    user_id: int | None
    channel: str
    address: str
    priority: str
    subject: str
    body: str
    payload: dict[str, Any]

    def dedup_key(self) -> str:
        """Unique per event (or day), recipient, channel and address; 200 characters at most."""
        where = hashlib.sha256(self.address.encode()).hexdigest()[:16]
        return f"{self.key}:u{self.user_id or 0}:{self.channel}:{where}"[:200]


def enqueue(conn: Connection, drafts: list[Draft], now: datetime, rules: AlertRules) -> int:
    """Store ``drafts`` as pending rows (quiet hours hold them); return how many are new."""
    quiet_until = rules.quiet_hours.quiet_until(now)
    added = 0
    for draft in drafts:
        held = ""
        due = now
        if quiet_until is not None and draft.priority not in rules.quiet_hours.override_priorities:
            held, due = "quiet_hours", quiet_until
        key = draft.dedup_key()
        if conn.scalar(select(OUTBOX.c.id).where(OUTBOX.c.dedup_key == key)) is not None:
            continue
        values = {
            "dedup_key": key, "kind": draft.kind, "commune_code": draft.commune_code,
            "task_id": draft.task_id, "user_id": draft.user_id, "channel": draft.channel,
            "address": draft.address[:300], "priority": draft.priority,
            "subject": draft.subject[:300], "body": draft.body,
            "payload": json.dumps(draft.payload, ensure_ascii=False, default=str),
            "state": "pending", "attempts": 0, "created_at": now, "next_attempt_at": due,
            "held": held, "last_error": "", "updated_at": now,
        }  # fmt: skip
        try:
            with conn.begin_nested():
                conn.execute(insert(OUTBOX).values(**values))
        except IntegrityError:  # written by an earlier pass after all
            continue
        added += 1
    return added


def recover(engine: Engine, now: datetime) -> int:
    """Rows a dead process left ``sending`` become ``uncertain``; return how many."""
    note = (
        "dừng giữa lúc gửi: có thể đã tới, không gửi lại / "
        "stopped while sending: may have arrived, not sent again (at most once)"
    )
    with engine.begin() as conn:
        moved = conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.state == "sending")
            .values(state="uncertain", last_error=note, updated_at=now)
        ).rowcount
    if moved:
        log.warning("%d notifications were being sent when alerts stopped: uncertain", moved)
    return int(moved or 0)


def due(engine: Engine, now: datetime, limit: int = 50) -> list[int]:
    """Ids of pending rows due at ``now``, oldest first."""
    o = OUTBOX.c
    with engine.connect() as conn:
        return list(
            conn.scalars(
                select(o.id)
                .where(o.state == "pending", o.next_attempt_at <= now)
                .order_by(o.next_attempt_at, o.id)
                .limit(limit)
            )
        )


def take(engine: Engine, row_id: int, now: datetime, rules: AlertRules) -> Any | None:
    """Move one due row to ``sending`` (committed) right before it is sent; None if not.

    None when another pass took it, or when the recipient is over the hourly rate limit
    (the row then waits, ``held = rate_limit``, until the oldest message of the hour ages).
    """
    o = OUTBOX.c
    with engine.begin() as conn:
        row = conn.execute(select(o.channel, o.address).where(o.id == row_id)).first()
        if row is None:
            return None
        per_hour = rules.rate_limit.per_hour
        later = _over_limit(conn, row.channel, row.address, now, per_hour) if per_hour else None
        if later is not None:
            conn.execute(
                update(OUTBOX)
                .where(o.id == row_id, o.state == "pending")
                .values(next_attempt_at=later, held="rate_limit", updated_at=now)
            )
            return None
        taken = conn.execute(
            update(OUTBOX)
            .where(o.id == row_id, o.state == "pending")
            .values(state="sending", attempts=o.attempts + 1, updated_at=now, held="")
        ).rowcount
        return conn.execute(select(OUTBOX).where(o.id == row_id)).one() if taken else None


def claim(engine: Engine, now: datetime, rules: AlertRules, limit: int = 50) -> list[Any]:
    """Take every due row at once (tests and one-shot use; the service takes one by one)."""
    taken = (take(engine, row_id, now, rules) for row_id in due(engine, now, limit))
    return [row for row in taken if row is not None]


def _over_limit(
    conn: Connection, channel: str, address: str, now: datetime, per_hour: int
) -> datetime | None:
    """When the recipient may receive again, or None when under the limit now."""
    o = OUTBOX.c
    window = now - timedelta(hours=1)
    recent = (o.channel == channel, o.address == address, o.state.in_(COUNTED))
    count = conn.scalar(select(func.count()).where(*recent, o.updated_at > window)) or 0
    if count < per_hour:
        return None
    oldest = conn.scalar(
        select(o.updated_at)
        .where(*recent, o.updated_at > window)
        .order_by(o.updated_at)
        .offset(count - per_hour)
        .limit(1)
    )
    return (as_utc(oldest) if oldest is not None else now) + timedelta(hours=1, seconds=1)


def finish(engine: Engine, row: Any, result: Result, now: datetime, rules: AlertRules) -> str:
    """Record the channel's answer for ``row``; return the row's new state."""
    detail = result.detail[:500]
    values: dict[str, Any] = {"updated_at": now, "last_error": detail}
    if result.outcome is Outcome.SENT:
        values.update(state="sent", sent_at=now, last_error="")
    elif result.outcome is Outcome.RETRY and row.attempts < rules.retry.max_attempts:
        wait = max(rules.retry.delay(row.attempts), result.retry_after or 0.0)
        values.update(state="pending", next_attempt_at=now + timedelta(seconds=wait))
    elif result.outcome is Outcome.RETRY:
        values.update(state="failed", last_error=f"{row.attempts} lần / attempts: {detail}"[:500])
    elif result.outcome is Outcome.UNCERTAIN:
        values.update(state="uncertain")
    else:
        values.update(state="failed")
    with engine.begin() as conn:
        conn.execute(update(OUTBOX).where(OUTBOX.c.id == row.id).values(**values))
    return str(values["state"])
