"""Which agent rows a batch writes: changes at once, a newer ``last_seen`` at most every 10 s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.presence import WRITE_EVERY, Presence, Row

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def batch(presence: Presence, *seconds: float, agent: str = "agent-1") -> list[Row]:
    """One batch hearing from ``agent`` at ``T0 + seconds``; the rows it writes."""
    changed: dict[str, Row] = {}
    for s in seconds:
        presence.seen(agent, "00001", T0 + timedelta(seconds=s), changed)
    return presence.to_write(changed)


def test_last_seen_alone_is_written_at_most_every_ten_seconds() -> None:
    p = Presence()
    assert timedelta(seconds=10) == WRITE_EVERY
    first = batch(p, 0, 1)  # a new agent: written, with the batch's newest time
    assert [(r["state"], r["last_seen"]) for r in first] == [("online", T0 + timedelta(seconds=1))]
    assert batch(p, 2, 5, 10.9) == []  # under 10 s after the time written
    assert [r["last_seen"] for r in batch(p, 11)] == [T0 + timedelta(seconds=11)]
    assert batch(p, 3) == []  # older than known: nothing new
    assert p.rows["agent-1"]["last_seen"] == T0 + timedelta(seconds=11)


def test_a_state_change_is_written_at_once_and_rows_are_copies() -> None:
    p = Presence()
    batch(p, 0)
    p.rows["agent-1"].update(state="offline", since=T0 + timedelta(seconds=1))
    back = batch(p, 2)
    assert [(r["state"], r["since"]) for r in back] == [("online", T0 + timedelta(seconds=2))]
    batch(p, 20)  # the live row moves on; the written one is the batch's own
    assert back[0]["last_seen"] == T0 + timedelta(seconds=2)


def test_restore_undoes_rows_and_written_marks() -> None:
    p = Presence()
    row = {"agent_id": "agent-1", "commune_code": "00001", "state": "online", "since": T0}
    row |= {"last_seen": T0, "heartbeat": 60.0, "outbox_pending": 0, "outbox_dropped": 0}
    p.load([row])
    assert batch(p, 5) == []  # loaded rows count as written
    saved = p.save()
    assert len(batch(p, 30)) == 1
    p.restore(saved)  # that batch failed: its write did not happen
    assert p.rows["agent-1"]["last_seen"] == T0 + timedelta(seconds=5)
    assert len(batch(p, 30)) == 1  # so the next one writes again
