"""The collector's batch ingest on a real database: dedup, quarantine, intervals, unknown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from agent.messages import status_topic
from collector import store
from collector.batch import Incoming
from collector.db import create_schema, make_engine
from collector.ingest import Ingestor
from collector.models import as_utc
from collector.state import Hysteresis
from tests import db_fixtures as dbf
from tests.collector_helpers import health, incoming, seed_registry, status, utc

postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)

T0 = utc(2026, 11, 2, 8, 0)
RULES = Hysteresis(worse_after=2, worse_after_seconds=3600, better_after=2)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    create_schema(eng)
    seed_registry(eng, {"00001": ["cam-1", "cam-2"], "00002": ["cam-3"]})
    yield eng
    eng.dispose()


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def intervals(engine: Engine, camera: str) -> list[tuple[str, int, int | None]]:
    """(status, start minute, end minute) of ``camera``'s intervals."""
    c = store.INTERVAL.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.status, c.start, c.end).where(c.camera_id == camera).order_by(c.start)
        )
        return [
            (
                r.status,
                int((as_utc(r.start) - T0).total_seconds() // 60),
                None if r.end is None else int((as_utc(r.end) - T0).total_seconds() // 60),
            )
            for r in rows
        ]


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def test_reports_build_intervals_with_hysteresis(engine: Engine) -> None:
    ingest = Ingestor(engine, RULES)
    seq = ["ok", "ok", "down", "ok", "down", "down", "down", "ok", "ok"]
    batch = [incoming(health("cam-1", s, T0 + minutes(i))) for i, s in enumerate(seq)]
    result = ingest.process(batch[:4])
    result2 = ingest.process(batch[4:])
    assert result.accepted + result2.accepted == 9
    assert intervals(engine, "cam-1") == [("ok", 0, 4), ("down", 4, 7), ("ok", 7, None)]
    assert count(engine, store.HEALTH) == 9


def test_duplicates_are_stored_once_within_and_across_batches(engine: Engine) -> None:
    ingest = Ingestor(engine, RULES)
    msg = incoming(health("cam-1", "ok", T0))
    first = ingest.process([msg, msg])
    again = Ingestor(engine, RULES).process([msg])  # a restarted collector sees a redelivery
    assert (first.accepted, first.duplicates, again.accepted, again.duplicates) == (1, 1, 0, 1)
    assert count(engine, store.HEALTH) == 1
    assert intervals(engine, "cam-1") == [("ok", 0, None)]
    # an agent publishes an old report again (its PUBACK was lost) after newer ones
    newer = Ingestor(engine, RULES)
    newer.process([incoming(health("cam-1", "down", T0 + minutes(i))) for i in (1, 2)])
    late = newer.process([msg])
    assert (late.accepted, late.duplicates) == (0, 1)
    assert count(engine, store.HEALTH) == 3


def test_camera_state_is_written_when_the_state_changes_not_for_every_report(
    engine: Engine,
) -> None:
    ingest = Ingestor(engine, RULES)
    rows, sent = [], []
    for i, s in enumerate(["ok", "ok", "ok", "down", "down", "down", "ok"]):
        sent.append(incoming(health("cam-1", s, T0 + minutes(i))))
        prepared = ingest.prepare(sent[-1:])
        ingest.commit(prepared)
        rows.append(len(prepared.work.states))
    # first report; two that only move the time; down pending, confirmed; still down;
    # up pending (the pending run is part of the row)
    assert rows == [1, 0, 0, 1, 1, 0, 1]
    # a restarted collector takes each camera's last report time from health_report
    again = Ingestor(engine, RULES)
    assert again.states["cam-1"].last_report_at == T0 + minutes(6)
    assert again.states["cam-1"] == ingest.states["cam-1"]
    assert "cam-2" not in again.states  # never reported: no state
    # so a redelivered report is found stored, and an older new one is late
    result = again.process([sent[2], sent[6], incoming(health("cam-1", "down", T0))])
    assert (result.accepted, result.duplicates, result.late) == (1, 2, 1)
    assert again.states["cam-1"] == ingest.states["cam-1"]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("camnet/v1/00001/agent-00001/cam-1/health", b"{not json", "bad_json"),
        ("camnet/v1/00001/agent-00001/cam-1/health", b'{"schema_version": 2}', "bad_schema"),
        ("camnet/v2/x/health", b"{}", "bad_topic"),
        ("camnet/v1/00001/agent-00001/cam-1/health", b"x" * 300_000, "too_large"),
    ],
)
def test_bad_payloads_are_quarantined(
    engine: Engine, topic: str, payload: bytes, reason: str
) -> None:
    result = Ingestor(engine, RULES).process([Incoming(topic, payload, T0)])
    assert result.quarantined == {reason: 1}
    with engine.connect() as conn:
        row = conn.execute(select(store.QUARANTINE)).mappings().one()
    assert (row["reason"], row["size"], row["topic"]) == (reason, len(payload), topic)


def test_values_the_collector_cannot_compute_with_are_quarantined(engine: Engine) -> None:
    """A heartbeat of 1e300 s or a time with no UTC equivalent once raised in ``prepare``:
    the batch failed, came again and failed again, and ingest stopped."""
    ok = incoming(health("cam-1", "ok", T0))
    heart = status("agent-00001", "offline", T0).model_dump(mode="json")
    old = health("cam-1", "ok", T0 + minutes(1)).model_dump(mode="json")
    old["probed_at"] = "0001-01-01T00:00:00+01:00"
    bad = [
        Incoming(
            status_topic("agent-00001"), json.dumps({**heart, "heartbeat": 1e300}).encode(), T0
        ),
        Incoming(ok.topic, json.dumps(old).encode(), T0),
    ]
    ingest = Ingestor(engine, RULES)
    result = ingest.process([*bad, ok])
    assert (result.accepted, result.quarantined) == (1, {"bad_schema": 2})
    assert ingest.process([], T0 + minutes(60)).quarantined == {}  # the watchdog runs on


def test_unknown_camera_wrong_commune_and_topic_mismatch(engine: Engine) -> None:
    stranger = incoming(health("cam-9", "ok", T0))
    wrong = incoming(health("cam-3", "ok", T0, commune="00001"))
    good = health("cam-1", "ok", T0)
    liar = Incoming("camnet/v1/00001/agent-00001/cam-2/health", good.model_dump_json().encode(), T0)
    result = Ingestor(engine, RULES).process([stranger, wrong, liar])
    assert result.quarantined == {"unknown_camera": 1, "wrong_commune": 1, "topic_mismatch": 1}
    assert result.accepted == 0


def test_agent_last_will_makes_its_cameras_unknown_not_down(engine: Engine) -> None:
    ingest = Ingestor(engine, RULES)
    ingest.process(
        [incoming(health("cam-1", "ok", T0)), incoming(health("cam-3", "ok", T0, commune="00002"))]
    )
    will = incoming(status("agent-00001", "offline", T0 + minutes(5)), received_at=T0 + minutes(5))
    result = ingest.process([will])
    assert [c for c, _ in result.changes] == ["cam-1"]
    assert intervals(engine, "cam-1") == [("ok", 0, 1), ("unknown", 1, None)]
    assert intervals(engine, "cam-3") == [("ok", 0, None)]  # another agent: untouched


def test_a_will_from_an_older_connection_is_ignored(engine: Engine) -> None:
    """mosquitto re-delivers a Will after its restart, maybe after the agent is back."""
    ingest = Ingestor(engine, RULES)
    first, second = T0, T0 + minutes(2)
    ingest.process([incoming(status("agent-00001", "online", first, connected_at=first))])
    ingest.process([incoming(health("cam-1", "ok", T0 + minutes(1)))])
    ingest.process([incoming(status("agent-00001", "online", second, connected_at=second))])
    ingest.process([incoming(health("cam-1", "ok", T0 + minutes(3)))])
    old_will = status("agent-00001", "offline", first, connected_at=first)
    result = ingest.process([incoming(old_will, received_at=T0 + minutes(4))])
    assert (result.stale_wills, result.changes) == (1, [])
    assert intervals(engine, "cam-1") == [("ok", 1, None)]
    will = status("agent-00001", "offline", second, connected_at=second)  # the current one
    result = ingest.process([incoming(will, received_at=T0 + minutes(5))])
    assert [(c, ch.status) for c, ch in result.changes] == [("cam-1", "unknown")]


def test_missed_heartbeats_make_cameras_unknown(engine: Engine) -> None:
    ingest = Ingestor(engine, RULES, offline_after_heartbeats=3)
    ingest.process([incoming(status("agent-00001", "online", T0, heartbeat=10))], now=T0)
    ingest.process([incoming(health("cam-1", "ok", T0 + minutes(0.1)))], now=T0 + minutes(0.1))
    assert ingest.process([], now=T0 + minutes(0.5)).changes == []  # 24 s silent < 30 s
    result = ingest.process([], now=T0 + minutes(1))
    assert [(c, ch.status) for c, ch in result.changes] == [("cam-1", "unknown")]


def test_late_reports_replace_unknown_with_what_really_happened(engine: Engine) -> None:
    ingest = Ingestor(engine, RULES)
    ingest.process([incoming(health("cam-1", "ok", T0))])
    ingest.process([incoming(status("agent-00001", "offline", T0 + minutes(1)), T0 + minutes(1))])
    # the agent's outbox replays what it probed while its link was down
    replay = [incoming(health("cam-1", "ok", T0 + minutes(i)), T0 + minutes(10)) for i in (2, 3, 4)]
    ingest.process(replay)
    assert intervals(engine, "cam-1") == [("ok", 0, None)]


def test_a_failed_transaction_leaves_the_cache_as_it_was(engine: Engine) -> None:
    ingest = Ingestor(engine, RULES)
    ingest.process([incoming(health("cam-1", "ok", T0))])
    before = dict(ingest.states)
    with engine.begin() as conn:  # break the table the batch writes to
        conn.exec_driver_sql("DROP TABLE status_interval")
    with pytest.raises(Exception, match="status_interval"):
        ingest.process([incoming(health("cam-1", "down", T0 + minutes(i))) for i in (1, 2)])
    assert ingest.states == before


def test_a_report_of_the_batch_still_committing_is_a_duplicate(engine: Engine) -> None:
    """The consumer prepares batch N+1 before N commits: N's ids are passed along."""
    ingest = Ingestor(engine, RULES)
    first = [incoming(health("cam-1", "ok", T0)), incoming(health("cam-2", "ok", T0))]
    a = ingest.prepare(first)
    b = ingest.prepare([first[1], incoming(health("cam-1", "ok", T0 + minutes(1)))], None, a.ids)
    ingest.commit(a)
    ingest.commit(b)
    assert (a.result.accepted, b.result.accepted, b.result.duplicates) == (2, 1, 1)
    assert count(engine, store.HEALTH) == 3
    assert intervals(engine, "cam-2") == [("ok", 0, None)]


def test_batches_prepared_ahead_are_undone_latest_first(engine: Engine) -> None:
    """Batch N fails to commit while N+1 is prepared on top of it: both leave the caches."""
    ingest = Ingestor(engine, RULES)
    ingest.process([incoming(health("cam-1", "ok", T0))])
    before, presence = dict(ingest.states), {k: dict(v) for k, v in ingest.presence.items()}
    a = ingest.prepare([incoming(health("cam-1", "down", T0 + minutes(1)))])
    b = ingest.prepare([incoming(health("cam-1", "down", T0 + minutes(2)))], None, a.ids)
    assert b.result.changes  # the second down confirms it: built on top of a
    with engine.begin() as conn:  # break a table every batch writes to
        conn.exec_driver_sql("DROP TABLE camera_state")
    with pytest.raises(Exception, match="camera_state"):
        ingest.commit(a)
    ingest.undo(b)
    ingest.undo(a)
    assert ingest.states == before
    assert ingest.presence == presence
    assert count(engine, store.HEALTH) == 1  # neither batch stored a report


def test_migrations_match_the_models(tmp_path: object) -> None:
    """``alembic upgrade head`` builds exactly what ``collector.models`` declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    eng = make_engine(f"sqlite:///{tmp_path}/m.db")
    create_schema(eng)
    create_schema(eng)  # idempotent: a second upgrade is a no-op
    with eng.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    eng.dispose()
    assert diff == [], "models changed without a migration: add an Alembic revision"


def test_snapshots_are_stored_once_and_bad_ones_quarantined(engine: Engine) -> None:
    import base64

    import cv2
    import numpy as np

    from agent.messages import Snapshot, snapshot_topic

    ok, jpeg = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    assert ok
    snap = Snapshot(
        report_id="c" * 32,
        agent_id="agent-00001",
        camera_id="cam-1",
        commune="00001",
        taken_at=T0,
        reason="status_change",
        width=160,
        height=90,
        jpeg_base64=base64.b64encode(jpeg.tobytes()).decode(),
    )
    topic = snapshot_topic("00001", "agent-00001", "cam-1")
    msg = Incoming(topic, snap.model_dump_json().encode(), T0)
    fake = snap.model_copy(update={"report_id": "d" * 32, "jpeg_base64": "aGVsbG8="})
    bad = Incoming(topic, fake.model_dump_json().encode(), T0)
    result = Ingestor(engine, RULES).process([msg, msg, bad])
    assert result.snapshots == 2  # the same message twice: stored once (unique report id)
    assert result.quarantined == {"bad_schema": 1}
    with engine.connect() as conn:
        rows = conn.execute(select(store.SNAPSHOT)).mappings().all()
    assert len(rows) == 1
    assert bytes(rows[0]["jpeg"]) == jpeg.tobytes()
