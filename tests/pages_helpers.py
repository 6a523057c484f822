"""The world of the dashboard tests (tests/integration/test_pages.py) and their helpers.

Three communes: 00001 (a1 ok, a2 down for 3 days 4 hours, a3 degraded: 2 of 3 working),
00002 (b1 ok) and 00003 (c1 down, c2 never reported: 0 of 2). Users: an admin, the
officer of 00001, a technician of 00001 and a national read-only reader. Tasks: #1 a2
assigned to the technician, #2 c1 in 00003 (overdue), #3 a3 open. Daily roll-ups are
computed, so the trend chart has points.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import insert, update
from sqlalchemy.engine import Engine

from api import rollup
from api.app import create_app
from api.settings import ApiSettings
from api.users import UserIn, create_user
from collector.models import (
    Camera,
    CameraState,
    HealthRow,
    KeyArea,
    SnapshotRow,
    StatusInterval,
)
from collector.models_ops import RepairTask
from tests.collector_helpers import seed_registry

CAMERA = Camera.__table__  # type: ignore[attr-defined]
STATE = CameraState.__table__  # type: ignore[attr-defined]
INTERVAL = StatusInterval.__table__  # type: ignore[attr-defined]
HEALTH = HealthRow.__table__  # type: ignore[attr-defined]
SNAPSHOT = SnapshotRow.__table__  # type: ignore[attr-defined]
AREA = KeyArea.__table__  # type: ignore[attr-defined]
TASK = RepairTask.__table__  # type: ignore[attr-defined]
PASSWORD = "mat-khau-dai-1"
NOW = datetime.now(UTC).replace(microsecond=0)
# camera: commune, (lat, lon), history of (status, started that long ago), oldest first
CAMERAS: dict[str, tuple[str, tuple[float, float], list[tuple[str, timedelta]]]] = {
    "a1": ("00001", (21.0400, 105.8700), [("ok", timedelta(days=40))]),
    "a2": (
        "00001",
        (21.0410, 105.8720),
        [("ok", timedelta(days=40)), ("down", timedelta(days=3, hours=4))],
    ),
    "a3": ("00001", (21.0420, 105.8740), [("degraded", timedelta(days=5))]),
    "b1": ("00002", (21.0500, 105.8800), [("ok", timedelta(days=40))]),
    "c1": ("00003", (21.0600, 105.8900), [("down", timedelta(days=1))]),
    "c2": ("00003", (21.0610, 105.8910), []),
}


def seed(engine: Engine) -> None:
    communes: dict[str, list[str]] = {}
    for cam, (commune, _, _) in CAMERAS.items():
        communes.setdefault(commune, []).append(cam)
    seed_registry(engine, communes)
    with engine.begin() as conn:
        for cam, (_, (lat, lon), history) in CAMERAS.items():
            conn.execute(
                update(CAMERA)
                .where(CAMERA.c.id == cam)
                .values(name=f"Camera {cam.upper()}", lat=lat, lon=lon, heading=90.0, fov=90.0)
            )
            starts = [NOW - ago for _, ago in history]
            for i, (status, _) in enumerate(history):
                end = starts[i + 1] if i + 1 < len(history) else None
                conn.execute(
                    insert(INTERVAL).values(
                        camera_id=cam, status=status, start=starts[i], end=end, faults=""
                    )
                )
            if history:
                status = history[-1][0]
                conn.execute(
                    insert(STATE).values(
                        camera_id=cam,
                        status=status,
                        faults="covered" if status == "down" else "",
                        cause=None,
                        since=starts[-1],
                    )
                )
                last = NOW - timedelta(minutes=1)
                conn.execute(
                    insert(HEALTH).values(
                        report_id=f"r-{cam}",
                        camera_id=cam,
                        agent_id="agent-1",
                        status=status,
                        probed_at=last,
                        received_at=last,
                        faults="",
                    )
                )
        road = {"type": "LineString", "coordinates": [[105.869, 21.040], [105.875, 21.040]]}
        conn.execute(
            insert(AREA).values(
                id="road-1",
                commune_code="00001",
                kind="main_road",
                name="Đường Nguyễn Văn Cừ",
                weight=1.0,
                geometry=json.dumps(road),
            )
        )
        users = {}
        for username, role, scope in (
            ("admin", "admin", []),
            ("officer", "commune", ["00001"]),
            ("tech", "technician", ["00001"]),
            ("reader", "reader", []),
        ):
            user = UserIn(
                username=username,
                password=PASSWORD,
                role=role,
                full_name=f"Nguyễn Văn {username}",
                communes=scope,
            )
            users[username] = create_user(conn, user, NOW)
        for task_id, cam, commune, state, assignee, deadline in (
            (1, "a2", "00001", "assigned", users["tech"], NOW + timedelta(days=1)),
            (2, "c1", "00003", "open", None, NOW - timedelta(hours=2)),
            (3, "a3", "00001", "open", None, NOW + timedelta(days=2)),
        ):
            conn.execute(
                insert(TASK).values(
                    id=task_id,
                    kind="camera",
                    camera_id=cam,
                    commune_code=commune,
                    state=state,
                    problem="covered",
                    status_seen="down",
                    faults="covered",
                    diagnosis="Ống kính bị che: lau hoặc gỡ vật che.",
                    diagnosis_en="The lens is covered: clean it.",
                    priority="main_road" if cam == "a2" else "normal",
                    failed_at=NOW - timedelta(days=3, hours=4),
                    opened_at=NOW - timedelta(days=3),
                    deadline=deadline,
                    assignee_id=assignee,
                    updated_at=NOW,
                )
            )
        conn.execute(
            insert(SNAPSHOT).values(
                camera_id="a2",
                report_id="snap-a2",
                taken_at=NOW - timedelta(days=10),
                reason="daily",
                width=640,
                height=360,
                jpeg=b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9",
            )
        )
    rollup.rollup_days(engine, NOW)


def app_client(db_url: str, tmp_path: Path, **settings: Any) -> Iterator[TestClient]:
    config = ApiSettings(
        db_url=db_url,
        secret_key=SecretStr("test-session-key"),
        secret_file=tmp_path / "secret",
        **settings,
    )
    with TestClient(create_app(config, background=False)) as client:
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD, next_: str = "/") -> Any:
    token = csrf_of(client.get("/login").text)
    form = {"username": username, "password": password, "csrf": token, "next": next_}
    return client.post("/login", data=form, follow_redirects=False)


def communes_listed(html: str) -> list[str]:
    return re.findall(r'<tr data-commune="(\d{5})"', html)
