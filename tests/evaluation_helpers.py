"""A hand-built evaluation year (16/11/2025 → 15/11/2026) whose figures are worked out by hand.

Commune 00001 "Xã Mới" (district 001) was formed in 2025 by merging 00002 "Xã Cũ" into it;
00003 "Xã Ba" has an agent that went offline for a week. Days are local (Vietnam). The
period has 365 days.

* cam-a1 (00001): down 14/11/2025 → 18/11/2025 (2 days inside: the 16th and 17th), ok
  until 13/11/2026, then down to the end (3 days, still down): ok 360, down 5.
  Longest outage: 3 days, ongoing. It alone sees hotspot hs-1: covered 360/365 of the time,
  unseen at the end (a repairable gap).
* cam-a2 (00001): installed 16/05/2026 (184 days counted); first report 17/05: 1 day
  never reported, then ok 183.
* cam-b1 (00002, merged into 00001): removed 16/02/2026 (92 days counted); ok 46 (to
  1/1/2026), degraded 46; a down interval after its removal is not counted.
* cam-c1 (00003): ok, but unknown 01/03 → 08/03/2026 (agent offline: 7 days unknown, 0
  down); cam-c2 (00003) never reports: 365 days never_reported.

Tasks (00001 + 00002): T1 cam-a1 failed 14/11/2025, deadline 16/11/2025 00:10, fixed
18/11/2025 (96 h, late); T2 cam-a1 failed 13/11/2026, deadline 15/11/2026 00:10, not fixed;
T3 cam-b1 failed 01/01/2026, fixed 02/01/2026 (24 h, in time); T4 before the period.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector import store
from collector.models import Camera, Commune, District, KeyArea, Province
from collector.models_ops import RepairTask
from collector.ratio import VN

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=VN)
LAT, LON = 21.0, 105.8
METRE_LAT = 1 / 111_320  # degrees of latitude per metre (about)


def vn(y: int, m: int, d: int, hour: float = 0) -> datetime:
    """A local (Vietnam) time."""
    return datetime(y, m, d, tzinfo=VN) + timedelta(hours=hour)


def _registry(session: Session) -> None:
    session.add(Province(code="26", name="Tỉnh Thử"))
    session.flush()
    session.add(District(code="001", name="Huyện Một", province_code="26"))
    session.flush()
    session.add(Commune(code="00001", name="Xã Mới", province_code="26", district_code="001"))
    session.flush()
    session.add(
        Commune(
            code="00002",
            name="Xã Cũ",
            province_code="26",
            district_code="001",
            valid_to=date(2025, 6, 30),
            merged_into="00001",
        )
    )
    session.add(Commune(code="00003", name="Xã Ba", province_code="26", district_code="001"))
    session.flush()
    cams = [
        Camera(
            id="cam-a1",
            commune_code="00001",
            lat=LAT,
            lon=LON,
            heading=0.0,
            fov=90.0,
            range_m=50.0,
            priority="hotspot",
        ),
        Camera(id="cam-a2", commune_code="00001", installed_on=date(2026, 5, 16)),
        Camera(id="cam-b1", commune_code="00002", removed_on=date(2026, 2, 16)),
        Camera(id="cam-c1", commune_code="00003"),
        Camera(id="cam-c2", commune_code="00003"),
    ]
    session.add_all(cams)
    point = {"type": "Point", "coordinates": [LON, LAT + 20 * METRE_LAT]}
    session.add(
        KeyArea(
            id="hs-1", commune_code="00001", kind="hotspot", name="Chợ", geometry=json.dumps(point)
        )
    )
    session.commit()


HISTORY = [
    ("cam-a1", vn(2025, 11, 1), "ok"),
    ("cam-a1", vn(2025, 11, 14), "down"),
    ("cam-a1", vn(2025, 11, 18), "ok"),
    ("cam-a1", vn(2026, 11, 13), "down"),
    ("cam-a2", vn(2026, 5, 17), "ok"),
    ("cam-b1", vn(2025, 10, 1), "ok"),
    ("cam-b1", vn(2026, 1, 1), "degraded"),
    ("cam-b1", vn(2026, 2, 16), "down"),
    ("cam-c1", vn(2025, 9, 1), "ok"),
    ("cam-c1", vn(2026, 3, 1), "unknown"),
    ("cam-c1", vn(2026, 3, 8), "ok"),
]


def _task(
    tid: int, cam: str, commune: str, failed: datetime, **kw: datetime | None
) -> dict[str, object]:
    opened = kw.get("opened") or failed + timedelta(minutes=10)
    return {
        "id": tid,
        "kind": "camera",
        "camera_id": cam,
        "commune_code": commune,
        "state": "closed" if kw.get("closed") else "open",
        "problem": "offline",
        "status_seen": "down",
        "priority": "normal",
        "failed_at": failed,
        "opened_at": opened,
        "deadline": opened + timedelta(days=2),
        "fixed_at": kw.get("fixed"),
        "closed_at": kw.get("closed"),
        "updated_at": opened,
    }


TASKS = [
    _task(
        1, "cam-a1", "00001", vn(2025, 11, 14), fixed=vn(2025, 11, 18), closed=vn(2025, 11, 18, 6)
    ),
    _task(2, "cam-a1", "00001", vn(2026, 11, 13)),
    _task(
        3,
        "cam-b1",
        "00002",
        vn(2026, 1, 1),
        opened=vn(2026, 1, 1, 1),
        fixed=vn(2026, 1, 2),
        closed=vn(2026, 1, 2, 2),
    ),
    _task(4, "cam-b1", "00002", vn(2025, 10, 1), fixed=vn(2025, 10, 2), closed=vn(2025, 10, 2)),
]


def build_year(engine: Engine) -> None:
    """Write the registry, intervals and tasks described above into an empty database."""
    with Session(engine) as session:
        _registry(session)
    with engine.begin() as conn:
        for cam, at, status in HISTORY:
            store.set_status_from(conn, cam, at, status, "", None)
        conn.execute(insert(RepairTask.__table__), TASKS)  # type: ignore[attr-defined]
