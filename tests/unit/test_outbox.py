"""The on-disk outbox: order, bound, acknowledgement, counters that survive a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.errors import OutboxError
from agent.outbox import Outbox, OutboxMessage, drain


def fill(box: Outbox, n: int, start: int = 0) -> list[int]:
    return [box.put(f"t/{i}", f"m{i}".encode()) for i in range(start, start + n)]


def test_messages_come_back_oldest_first_and_only_ack_removes_them(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_messages=100)
    seqs = fill(box, 5)
    assert seqs == sorted(seqs)
    assert box.pending() == 5
    got = box.peek(3)
    assert [m.payload for m in got] == [b"m0", b"m1", b"m2"]
    assert [m.topic for m in got] == ["t/0", "t/1", "t/2"]
    assert got[0].qos == 1
    assert not got[0].retain
    assert [m.payload for m in box.peek(10, after=got[-1].seq)] == [b"m3", b"m4"]
    assert box.peek(10)[0].payload == b"m0"  # peeking removes nothing
    assert box.ack([seqs[1], seqs[3]]) == 2  # acks may come in any order
    assert [m.payload for m in box.peek(10)] == [b"m0", b"m2", b"m4"]
    assert box.ack(seqs[2]) == 2  # everything up to and including seqs[2]
    assert [m.payload for m in box.peek(10)] == [b"m4"]
    assert box.ack([seqs[0], 999]) == 0  # already gone, or never there
    assert box.pending() == 1
    box.close()


def test_full_outbox_drops_the_oldest_and_counts_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_messages=10)
    fill(box, 25)
    assert box.pending() == 10
    assert box.dropped() == 15
    assert [m.payload for m in box.peek(100)] == [f"m{i}".encode() for i in range(15, 25)]
    box.close()

    again = Outbox(path, max_messages=4)  # a smaller bound applies at the next put
    assert again.pending() == 10
    assert again.dropped() == 15
    again.put("t/x", b"mx")
    assert again.pending() == 4
    assert again.dropped() == 22
    assert [m.payload for m in again.peek(100)] == [b"m22", b"m23", b"m24", b"mx"]
    again.close()


def test_seq_keeps_growing_after_everything_was_acked_and_reopened(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    last = fill(box, 3)[-1]
    box.ack(last)
    box.close()
    again = Outbox(path)
    assert again.pending() == 0
    assert again.put("t", b"x") > last  # AUTOINCREMENT: a sender's cursor stays valid
    again.close()


def test_report_seq_is_persistent_per_agent(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    assert [box.next_seq() for _ in range(3)] == [0, 1, 2]
    assert box.next_seq("other") == 0  # counters are independent
    box.close()
    again = Outbox(path)
    assert again.next_seq() == 3
    again.set_meta("snapshot_at:cam", 1234.5)
    again.close()
    last = Outbox(path)
    assert last.get_meta("snapshot_at:cam") == 1234.5
    last.close()


def test_unusable_file_is_an_outbox_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not SQLite at all" * 100)
    with pytest.raises(OutboxError, match="cannot open the outbox"):
        Outbox(bad)
    with pytest.raises(ValueError, match="at least 1"):
        Outbox(tmp_path / "x.sqlite", max_messages=0)


async def test_drain_sends_in_order_with_a_window_and_deletes_after_ack(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    fill(box, 20)
    wake = asyncio.Event()
    sent: list[bytes] = []
    acked: list[bytes] = []
    running = 0
    peak = 0
    release = asyncio.Event()

    async def send(msg: OutboxMessage) -> None:
        nonlocal running, peak
        sent.append(msg.payload)
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    def on_ack(messages: list[OutboxMessage]) -> None:
        acked.extend(m.payload for m in messages)

    task = asyncio.create_task(drain(box, send, 5, wake, on_ack))
    await asyncio.sleep(0.05)
    assert sent == [f"m{i}".encode() for i in range(5)]  # the window is full
    assert box.pending() == 20  # nothing acknowledged yet, nothing deleted
    release.set()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if box.pending() == 0:
            break
    assert sent == [f"m{i}".encode() for i in range(20)]
    assert sorted(acked) == sorted(sent)
    assert peak == 5
    box.put("t/late", b"late")  # a new message wakes the sender
    wake.set()
    await asyncio.sleep(0.05)
    assert sent[-1] == b"late"
    assert box.pending() == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    box.close()


async def test_drain_stops_at_a_failed_send_and_keeps_the_rest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    fill(box, 6)

    async def send(msg: OutboxMessage) -> None:
        if msg.payload == b"m3":
            await asyncio.sleep(0.1)
            raise ConnectionError("link lost")
        await asyncio.sleep(0.01 if msg.payload < b"m3" else 5.0)

    with pytest.raises(ConnectionError):
        await drain(box, send, 10, asyncio.Event(), lambda _: None)
    # m0..m2 were acknowledged; m3 failed; m4, m5 were cancelled: sent again later
    assert [m.payload for m in box.peek(10)] == [b"m3", b"m4", b"m5"]
    box.close()
