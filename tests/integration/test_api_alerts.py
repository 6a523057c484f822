"""The delivery log and alert contacts: API scope and masking, contacts, CLI, ``/alerts``.

The world is ``tests.api_helpers.build_world``: communes A and B, users admin, district
(sees both), officer-a, tech-a, tech-b, scoring (a national read-only reader), and four
notifications (``DELIVERIES``): one to officer-a and one to tech-a in A, one to tech-b
in B, a webhook test about no commune.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from alerts.notice import KINDS
from api.app import create_app
from api.contacts import CONTACT, validate_contact
from api.errors import BadRequest
from api.i18n import Translator, catalog
from api.queries_alerts import NOTE, mask_address
from api.schemas import ContactChannel, DeliveryState
from api.users import UserIn, create_user
from collector.db import create_schema, make_engine
from collector.models_alerts import CONTACT_CHANNELS, NOTIFICATION_STATES
from tests import db_fixtures as dbf
from tests.api_helpers import A, B, World, api_settings, bearer, build_world
from tests.collector_helpers import seed_registry
from tests.pages_helpers import login

postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)
DELIVERIES = "/api/v1/alerts/deliveries"


@pytest.fixture
def world_client(db_url: str, tmp_path: Path) -> Iterator[tuple[World, TestClient, str]]:
    engine = make_engine(db_url)
    create_schema(engine)
    world = build_world(engine)
    engine.dispose()
    with TestClient(create_app(api_settings(db_url, tmp_path), background=False)) as client:
        yield world, client, db_url


def names(world: World, rows: list[dict[str, Any]]) -> list[str]:
    by_id = {v: k for k, v in world.deliveries.items()}
    return [by_id.get(r["id"], str(r["id"])) for r in rows]


def log_of(world: World, client: TestClient, user: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"{DELIVERIES}{query}", headers=bearer(world, user))
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def add_delivery(url: str, world: World, **values: Any) -> int:
    """One more notification (defaults: a sent camera_down e-mail made now)."""
    row = {
        "dedup_key": f"extra:{values}",
        "kind": "camera_down",
        "channel": "email",
        "address": "x@example.com",
        "payload": "{}",
        "body": "",
        "state": "sent",
        "created_at": world.now,
        "next_attempt_at": world.now,
        "updated_at": world.now,
    } | values
    engine = make_engine(url)
    with engine.begin() as conn:
        new_id: int = conn.execute(insert(NOTE).values(**row).returning(NOTE.c.id)).scalar_one()
    engine.dispose()
    return new_id


# --------------------------------------------------------------------------- the log


def test_an_officer_sees_their_commune_and_what_was_sent_to_them(
    world_client: tuple[World, TestClient, str],
) -> None:
    world, client, url = world_client
    rows = log_of(world, client, "officer-a")
    assert names(world, rows) == ["a-officer", "a-tech"]  # newest first; no B, no webhook
    own, other = rows
    assert own["address"] == "officer-a@example.com"  # their own: not masked
    assert own["username"] == "officer-a"
    assert own["commune_name"]
    assert other["address"] == "****4567"  # tech-a's Zalo id
    assert other["last_error"]
    # a message to the officer about commune B (say, a district digest) is theirs to see
    to_me = add_delivery(
        url, world, commune_code=B, user_id=world.user_ids["officer-a"], address="me@example.vn"
    )
    rows = log_of(world, client, "officer-a")
    assert names(world, rows) == [str(to_me), "a-officer", "a-tech"]
    assert rows[0]["address"] == "me@example.vn"
    assert names(world, log_of(world, client, "tech-a")) == ["a-officer", "a-tech"]  # not to_me
    tech_b = log_of(world, client, "tech-b")
    assert names(world, tech_b) == [str(to_me), "b-tech"]  # commune B's, masked unless theirs
    assert [r["address"] for r in tech_b] == ["m***@example.vn", "-1001234567890"]


def test_district_reader_and_admin(world_client: tuple[World, TestClient, str]) -> None:
    world, client, _ = world_client
    district = log_of(world, client, "district")
    assert names(world, district) == ["b-tech", "a-officer", "a-tech"]
    assert {r["address"] for r in district} == {"o***@example.com", "****4567", "****7890"}
    reader = log_of(world, client, "scoring")  # sees every commune, but no commune-less row
    assert names(world, reader) == ["b-tech", "a-officer", "a-tech"]
    admin = log_of(world, client, "admin")
    assert names(world, admin) == ["webhook", "b-tech", "a-officer", "a-tech"]
    assert admin[0]["address"] == "antt-test"
    assert admin[0]["commune_code"] is None
    assert admin[2]["address"] == "officer-a@example.com"


def test_filters(world_client: tuple[World, TestClient, str]) -> None:
    world, client, _ = world_client
    assert names(world, log_of(world, client, "admin", "?state=failed")) == ["a-tech"]
    assert names(world, log_of(world, client, "admin", f"?commune={A}")) == ["a-officer", "a-tech"]
    assert names(world, log_of(world, client, "admin", "?kind=test")) == ["webhook"]
    assert names(world, log_of(world, client, "admin", "?channel=telegram")) == ["b-tech"]
    task_b = f"?task_id={world.tasks[B]}"
    assert names(world, log_of(world, client, "district", task_b)) == ["b-tech"]
    since = (world.now - timedelta(minutes=45)).isoformat()
    assert names(world, log_of(world, client, "admin", f"?since={since.replace('+', '%2B')}")) == [
        "webhook",
        "b-tech",
    ]
    assert names(world, log_of(world, client, "admin", "?since=2000-01-01T00:00:00")) == names(
        world, log_of(world, client, "admin")
    )
    assert names(world, log_of(world, client, "admin", "?limit=2&offset=1")) == [
        "b-tech",
        "a-officer",
    ]
    h = bearer(world, "officer-a")
    out_of_scope = client.get(f"{DELIVERIES}?commune={B}", headers=h)
    assert out_of_scope.status_code == 404
    assert out_of_scope.json()["error"] == "not_found"
    for bad in ("?state=lost", "?commune=1", "?limit=0", "?limit=501", "?channel=sms"):
        assert client.get(f"{DELIVERIES}{bad}", headers=h).status_code == 422, bad


def test_detail_has_the_text_and_hides_other_communes(
    world_client: tuple[World, TestClient, str],
) -> None:
    world, client, _ = world_client
    h = bearer(world, "officer-a")
    mine = client.get(f"{DELIVERIES}/{world.deliveries['a-officer']}", headers=h)
    assert mine.status_code == 200
    assert mine.json()["body"] == "Nội dung a-officer"
    masked = client.get(f"{DELIVERIES}/{world.deliveries['a-tech']}", headers=h).json()
    assert masked["address"] == "****4567"
    for name in ("b-tech", "webhook"):
        hidden = client.get(f"{DELIVERIES}/{world.deliveries[name]}", headers=h)
        assert hidden.status_code == 404, name
        assert hidden.json()["message"].startswith("Không tìm thấy thông báo")
        assert "hint" in hidden.json()
    assert client.get(f"{DELIVERIES}/999999", headers=bearer(world, "admin")).status_code == 404
    admin = client.get(
        f"{DELIVERIES}/{world.deliveries['webhook']}", headers=bearer(world, "admin")
    )
    assert admin.json()["address"] == "antt-test"
    assert client.get(f"{DELIVERIES}/{world.deliveries['b-tech']}").status_code == 401


def test_summary_counts_by_state(world_client: tuple[World, TestClient, str]) -> None:
    world, client, url = world_client
    add_delivery(
        url, world, commune_code=A, state="failed", created_at=world.now - timedelta(days=3)
    )
    admin = client.get("/api/v1/alerts/summary", headers=bearer(world, "admin")).json()
    assert admin["commune"] is None
    assert admin["last_24h"] == {
        "pending": 1,
        "sending": 0,
        "sent": 2,
        "failed": 1,
        "uncertain": 0,
    }
    assert admin["last_7d"]["failed"] == 2
    assert 1800 <= admin["oldest_pending_seconds"] < 1800 + 300
    officer = client.get("/api/v1/alerts/summary", headers=bearer(world, "officer-a")).json()
    assert (officer["last_24h"]["sent"], officer["last_24h"]["pending"]) == (1, 0)
    assert officer["oldest_pending_seconds"] is None
    only_b = client.get(f"/api/v1/alerts/summary?commune={B}", headers=bearer(world, "district"))
    assert only_b.json()["last_24h"]["pending"] == 1
    assert sum(only_b.json()["last_7d"].values()) == 1
    denied = client.get(f"/api/v1/alerts/summary?commune={B}", headers=bearer(world, "officer-a"))
    assert denied.status_code == 404


# --------------------------------------------------------------------------- contacts


def test_a_user_manages_their_own_contacts(world_client: tuple[World, TestClient, str]) -> None:
    world, client, _ = world_client
    h, me = bearer(world, "officer-a"), world.user_ids["officer-a"]
    path = f"/api/v1/users/{me}/contacts"
    listed = client.get(path, headers=h).json()
    assert [(c["channel"], c["address"], c["active"]) for c in listed] == [
        ("email", "officer-a@example.com", True)
    ]
    added = client.post(path, json={"channel": "telegram", "address": " -100987654 "}, headers=h)
    assert added.status_code == 201, added.text
    assert (added.json()["address"], added.json()["username"]) == ("-100987654", "officer-a")
    again = client.post(path, json={"channel": "telegram", "address": "-100987654"}, headers=h)
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    email = client.post(path, json={"channel": "email", "address": "Chu.Tich@UBND.Vn"}, headers=h)
    assert email.json()["address"] == "Chu.Tich@ubnd.vn"
    assert len(client.get(path, headers=h).json()) == 3
    gone = client.delete(f"{path}/{added.json()['id']}", headers=h)
    assert gone.status_code == 204
    assert len(client.get(path, headers=h).json()) == 2
    assert client.delete(f"{path}/{added.json()['id']}", headers=h).status_code == 404
    # another user's contact id under my path is not mine
    other = world.contacts["tech-b"]
    assert client.delete(f"{path}/{other}", headers=bearer(world, "admin")).status_code == 404


WRONG_ADDRESSES = [  # channel, address, what the answer must say
    ("email", "khong-phai-email", "ten@vi-du.vn"),
    ("email", "a@b", "ten@vi-du.vn"),
    ("telegram", "@can_bo_xa", "getUpdates"),
    ("telegram", "12 34", "getUpdates"),
    ("zalo", "0912345678", "số điện thoại"),
    ("zalo", "abc", "Zalo OA"),
    ("zalo", "١٢٣", "Zalo OA"),  # Arabic-Indic digits are not digits for Zalo
]


def test_a_wrong_address_is_refused_with_what_to_write(
    world_client: tuple[World, TestClient, str],
) -> None:
    world, client, _ = world_client
    path = f"/api/v1/users/{world.user_ids['tech-a']}/contacts"
    for channel, address, says in WRONG_ADDRESSES:
        body = {"channel": channel, "address": address}
        r = client.post(path, json=body, headers=bearer(world, "tech-a"))
        assert r.status_code == 400, (address, r.text)
        answer = r.json()
        assert answer["error"] == "bad_request"
        assert says in answer["message"] + answer["hint"], address
        assert answer["message_en"]
    assert client.get(path, headers=bearer(world, "tech-a")).json() == []


def test_who_may_see_and_change_contacts(world_client: tuple[World, TestClient, str]) -> None:
    world, client, _ = world_client
    ids = world.user_ids

    def contacts(user: str, of: str) -> int:
        return client.get(
            f"/api/v1/users/{ids[of]}/contacts", headers=bearer(world, user)
        ).status_code

    assert contacts("tech-a", "officer-a") == 403  # same commune: known, but not theirs
    assert contacts("officer-a", "tech-b") == 404  # another commune: as if absent
    assert contacts("district", "tech-b") == 200
    assert contacts("district", "admin") == 404  # not a user of their communes
    assert contacts("admin", "tech-b") == 200
    assert contacts("scoring", "tech-a") == 403
    assert contacts("scoring", "scoring") == 200
    assert (
        client.get("/api/v1/users/999999/contacts", headers=bearer(world, "admin")).status_code
        == 404
    )
    body = {"channel": "zalo", "address": "8412345678901234567"}
    by_district = client.post(
        f"/api/v1/users/{ids['tech-b']}/contacts", json=body, headers=bearer(world, "district")
    )
    assert by_district.status_code == 201
    read_only = client.post(
        f"/api/v1/users/{ids['scoring']}/contacts", json=body, headers=bearer(world, "scoring")
    )
    assert read_only.status_code == 403
    assert "chỉ được đọc" in read_only.json()["message"]
    bad_channel = {"channel": "sms", "address": "0912345678"}
    assert (
        client.post(
            f"/api/v1/users/{ids['tech-a']}/contacts",
            json=bad_channel,
            headers=bearer(world, "tech-a"),
        ).status_code
        == 422
    )


def test_adding_a_switched_off_contact_switches_it_on(
    world_client: tuple[World, TestClient, str],
) -> None:
    world, client, url = world_client
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            update(CONTACT).where(CONTACT.c.id == world.contacts["tech-b"]).values(active=False)
        )
    engine.dispose()
    path = f"/api/v1/users/{world.user_ids['tech-b']}/contacts"
    h = bearer(world, "tech-b")
    assert client.get(path, headers=h).json()[0]["active"] is False
    again = client.post(path, json={"channel": "telegram", "address": "-1001234567890"}, headers=h)
    assert again.status_code == 201
    assert (again.json()["id"], again.json()["active"]) == (world.contacts["tech-b"], True)


def test_validation_and_masking_without_a_database() -> None:
    assert get_args(DeliveryState) == NOTIFICATION_STATES
    assert get_args(ContactChannel) == CONTACT_CHANNELS
    assert validate_contact("telegram", "-1001234567890") == "-1001234567890"
    assert validate_contact("zalo", " 8412345678901234567\n") == "8412345678901234567"
    with pytest.raises(BadRequest, match="No channel 'sms'"):
        validate_contact("sms", "0912345678")
    assert mask_address("email", "nguyen@example.com") == "n***@example.com"
    assert mask_address("telegram", "-1001234567890") == "****7890"
    assert mask_address("zalo", "123") == "****"
    for kind in KINDS:  # every kind of notification has words on /alerts
        assert f"alertkind.{kind}" in catalog("vi"), kind


# -------------------------------------------------------------------------------- CLI


def camnet(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "camnet_cli", "users", "--db", url, "contact", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_cli_contact_add_list_remove(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/camnet.db"
    engine = make_engine(url)
    create_schema(engine)
    seed_registry(engine, {A: ["cam-1"]})
    with engine.begin() as conn:
        create_user(
            conn, UserIn(username="ktv", role="technician", communes=[A]), datetime.now(UTC)
        )
    engine.dispose()
    empty = camnet(url, "list")
    assert (empty.returncode, empty.stdout.strip()) == (
        0,
        "chưa có địa chỉ nhận cảnh báo / no alert contacts",
    )
    added = camnet(url, "add", "ktv", "telegram", "-1001234567890")  # a group: leading '-'
    assert added.returncode == 0, added.stderr
    assert "-1001234567890" in added.stdout
    assert camnet(url, "add", "ktv", "email", "ktv@xa.example.vn").returncode == 0
    listed = camnet(url, "list", "ktv").stdout
    assert "telegram  -1001234567890" in listed
    assert "ktv@xa.example.vn" in listed
    twice = camnet(url, "add", "ktv", "telegram", "-1001234567890")
    assert twice.returncode == 2
    assert twice.stderr.startswith("Người dùng này đã có")  # Vietnamese first
    wrong = camnet(url, "add", "ktv", "zalo", "0912345678")
    assert wrong.returncode == 2
    assert "số điện thoại" in wrong.stderr
    assert "Zalo OA" in wrong.stderr
    channel = camnet(url, "add", "ktv", "sms", "0912345678")
    assert channel.returncode == 2
    assert "email, telegram, zalo" in channel.stderr
    nobody = camnet(url, "add", "ai-do", "email", "a@example.vn")
    assert nobody.returncode == 1
    assert "camnet users list" in nobody.stderr
    removed = camnet(url, "remove", "ktv", "telegram", "-1001234567890")
    assert removed.returncode == 0, removed.stderr
    missing = camnet(url, "remove", "ktv", "telegram", "-1001234567890")
    assert missing.returncode == 1
    assert "camnet users contact list ktv" in missing.stderr
    assert "telegram" not in camnet(url, "list").stdout


# ------------------------------------------------------------------------------ /alerts


def test_alerts_page_in_both_languages(world_client: tuple[World, TestClient, str]) -> None:
    world, client, _ = world_client
    signed_out = client.get("/alerts", follow_redirects=False)
    assert signed_out.headers["location"] == "/login?next=/alerts"
    assert login(client, "officer-a").status_code == 303
    page = client.get("/alerts")
    assert page.status_code == 200
    html = page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "<script" not in html
    assert 'href="/alerts" aria-current="page"' in html
    assert "Cảnh báo đã gửi" in html
    shown = [int(i) for i in re.findall(r'data-delivery="(\d+)"', html)]
    assert shown == [world.deliveries["a-officer"], world.deliveries["a-tech"]]
    row = html[html.index(f'data-delivery="{world.deliveries["a-tech"]}"') :].split("</tr>")[0]
    assert "Camera hỏng" in row  # the kind in words
    assert "Gửi lỗi" in row
    assert "status-down" in row  # the failed badge is red
    assert "****4567" in row
    assert "người dùng chưa quan tâm OA" in row
    assert Translator("vi").when(world.now - timedelta(hours=2)) in row  # local time
    own = html[html.index(f'data-delivery="{world.deliveries["a-officer"]}"') :].split("</tr>")[0]
    assert "officer-a@example.com" in own
    failed = client.get("/alerts?state=failed").text
    assert f'data-delivery="{world.deliveries["a-officer"]}"' not in failed
    assert f'data-delivery="{world.deliveries["a-tech"]}"' in failed
    english = client.get("/alerts?lang=en").text
    assert '<html lang="en">' in english
    assert "Alerts sent" in english
    assert "Failed" in english
    assert "Camera down" in english
    assert client.get(f"/alerts?commune={B}").status_code == 404


def test_alerts_page_for_an_admin_and_the_empty_case(
    world_client: tuple[World, TestClient, str],
) -> None:
    world, client, _ = world_client
    login(client, "admin")
    html = client.get("/alerts?lang=vi").text
    assert f'data-delivery="{world.deliveries["webhook"]}"' in html
    assert "Tin thử" in html
    assert "giờ yên tĩnh" in html  # b-tech waits for the end of quiet hours
    assert 'id="oldest-pending"' in html
    assert 'id="no-deliveries"' in client.get("/alerts?state=uncertain").text
