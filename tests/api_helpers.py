"""A small world for API tests: two communes, states from real ingest, tasks, users."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from agent.messages import Snapshot, snapshot_topic
from api.settings import ApiSettings
from api.task_rules import TaskRules
from api.tasks import tick
from api.users import UserIn, create_token, create_user
from collector.batch import Incoming
from collector.ingest import Ingestor
from collector.models_alerts import AlertContact, AlertNotification
from collector.models_ops import RepairTask
from collector.state import Hysteresis
from tests.collector_helpers import health, incoming, seed_registry

A, B = "00001", "00002"
PASSWORD = "mat-khau-dai-1"
RULES = Hysteresis(worse_after=2, worse_after_seconds=3600, better_after=2)


@dataclass
class World:
    """What the tests need to address: ids of everything, tokens per user."""

    now: datetime
    cameras: dict[str, list[str]]
    tasks: dict[str, int] = field(default_factory=dict)  # commune -> a task id
    snapshots: dict[str, int] = field(default_factory=dict)  # commune -> a snapshot id
    tokens: dict[str, str] = field(default_factory=dict)  # username -> bearer token
    user_ids: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)  # name -> alert_notification id
    contacts: dict[str, int] = field(default_factory=dict)  # username -> alert_contact id


def _snapshot(camera: str, commune: str, at: datetime, n: int) -> Incoming:
    ok, jpeg = cv2.imencode(".jpg", np.full((90, 160, 3), 60 + n, np.uint8))
    assert ok
    snap = Snapshot(
        report_id=f"{n:032x}",
        agent_id=f"agent-{commune}",
        camera_id=camera,
        commune=commune,
        taken_at=at,
        reason="status_change",
        width=160,
        height=90,
        jpeg_base64=base64.b64encode(jpeg.tobytes()).decode(),
    )
    return Incoming(
        snapshot_topic(commune, f"agent-{commune}", camera), snap.model_dump_json().encode(), at
    )


def build_world(engine: Engine, now: datetime | None = None) -> World:
    """Commune A (cam-a1 ok, cam-a2 down) and B (cam-b1 ok, cam-b2 covered); tasks; users."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    cameras = {A: ["cam-a1", "cam-a2"], B: ["cam-b1", "cam-b2"]}
    seed_registry(engine, cameras)
    world = World(now=now, cameras=cameras)
    ingest = Ingestor(engine, RULES)
    start = now - timedelta(hours=6)
    for k in range(4):
        at = start + timedelta(minutes=5 * k)
        ingest.process(
            [
                incoming(health("cam-a1", "ok", at, commune=A)),
                incoming(health("cam-a2", "down", at, commune=A)),
                incoming(health("cam-b1", "ok", at, commune=B)),
                incoming(health("cam-b2", "degraded", at, commune=B, faults=["covered"])),
            ]
        )
    ingest.process([_snapshot("cam-a2", A, start, 1), _snapshot("cam-b2", B, start, 2)])
    with engine.begin() as conn:
        people = [
            UserIn(username="admin", password=PASSWORD, role="admin"),
            UserIn(username="district", password=PASSWORD, role="district", province_code="26"),
            UserIn(username="officer-a", password=PASSWORD, role="commune", communes=[A]),
            UserIn(username="tech-a", password=PASSWORD, role="technician", communes=[A]),
            UserIn(username="tech-b", password=PASSWORD, role="technician", communes=[B]),
            UserIn(username="scoring", role="reader"),
        ]
        for person in people:
            uid = create_user(conn, person, now)
            world.user_ids[person.username] = uid
            world.tokens[person.username] = create_token(
                conn, uid, "test", now, read_only=person.role == "reader"
            )
    tick(engine, now, TaskRules())  # after the users: tasks go to the commune's technician
    with engine.begin() as conn:
        t = RepairTask.__table__.c  # type: ignore[attr-defined]
        for cam, commune in (("cam-a2", A), ("cam-b2", B)):
            world.tasks[commune] = conn.scalar(select(t.id).where(t.camera_id == cam))
        from collector.models import SnapshotRow

        s = SnapshotRow.__table__.c  # type: ignore[attr-defined]
        for cam, commune in (("cam-a2", A), ("cam-b2", B)):
            world.snapshots[commune] = conn.scalar(select(s.id).where(s.camera_id == cam))
    _alerts(engine, world)
    return world


#: name -> (commune, recipient, channel, address, state, made that long ago)
DELIVERIES = {
    "a-officer": (A, "officer-a", "email", "officer-a@example.com", "sent", timedelta(hours=1)),
    "a-tech": (A, "tech-a", "zalo", "8412345678901234567", "failed", timedelta(hours=2)),
    "b-tech": (B, "tech-b", "telegram", "-1001234567890", "pending", timedelta(minutes=30)),
    "webhook": (None, None, "webhook", "antt-test", "sent", timedelta(minutes=10)),
}


def _alerts(engine: Engine, world: World) -> None:
    """Two contacts and a delivery log: one row per commune and person, one webhook test."""
    note = AlertNotification.__table__  # type: ignore[attr-defined]
    contact = AlertContact.__table__  # type: ignore[attr-defined]
    now = world.now
    with engine.begin() as conn:
        for user, channel, address in (
            ("officer-a", "email", "officer-a@example.com"),
            ("tech-b", "telegram", "-1001234567890"),
        ):
            world.contacts[user] = conn.execute(
                insert(contact)
                .values(
                    user_id=world.user_ids[user],
                    channel=channel,
                    address=address,
                    active=True,
                    created_at=now,
                )
                .returning(contact.c.id)
            ).scalar_one()
        for name, (commune, user, channel, address, state, ago) in DELIVERIES.items():
            pending = state == "pending"
            world.deliveries[name] = conn.execute(
                insert(note)
                .values(
                    dedup_key=f"test:{name}",
                    kind="test" if commune is None else "camera_down",
                    commune_code=commune,
                    task_id=world.tasks.get(commune) if commune else None,
                    user_id=world.user_ids[user] if user else None,
                    channel=channel,
                    address=address,
                    subject=f"Camera hỏng ({name})",
                    body=f"Nội dung {name}",
                    payload="{}",
                    state=state,
                    attempts=0 if pending else (3 if state == "failed" else 1),
                    created_at=now - ago,
                    next_attempt_at=now + timedelta(hours=5) if pending else now - ago,
                    held="quiet_hours" if pending else "",
                    sent_at=now - ago if state == "sent" else None,
                    last_error="Zalo: người dùng chưa quan tâm OA" if state == "failed" else "",
                    updated_at=now,
                )
                .returning(note.c.id)
            ).scalar_one()


def api_settings(db_url: str, tmp_path: Path) -> ApiSettings:
    """Settings for an app under test (its own secret; no background threads)."""
    return ApiSettings(db_url=db_url, secret_key="test-secret-key", secret_file=tmp_path / "s")


def bearer(world: World, user: str) -> dict[str, str]:
    """The Authorization header of ``user``."""
    return {"Authorization": f"Bearer {world.tokens[user]}"}
