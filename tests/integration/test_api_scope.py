"""Roles and scope on every ``/api/v1`` route, on SQLite and PostgreSQL.

A commune officer of commune A must get 404 (as if absent) for everything of commune B
on every route that names an object, and must not see B in any list. The route table is
checked against the app, so a new route without a scope case fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from collector.db import create_schema, make_engine
from tests import db_fixtures as dbf
from tests.api_helpers import PASSWORD, A, B, World, api_settings, bearer, build_world

postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)


@pytest.fixture
def world_client(db_url: str, tmp_path: Path) -> Iterator[tuple[World, TestClient]]:
    engine = make_engine(db_url)
    create_schema(engine)
    world = build_world(engine)
    engine.dispose()
    with TestClient(create_app(api_settings(db_url, tmp_path), background=False)) as client:
        yield world, client


#: Routes with a path parameter that are lists (filtered by scope, never 404).
LISTS = {"/api/v1/evaluations/{year}/records"}


def b_objects(world: World) -> dict[str, tuple[str, str, dict[str, object] | None]]:
    """For every route with a path parameter: (method, URL of a B object, JSON body)."""
    task, snap, tech_b = world.tasks[B], world.snapshots[B], world.user_ids["tech-b"]
    return {
        "/api/v1/communes/{code}": ("GET", f"/api/v1/communes/{B}", None),
        "/api/v1/communes/{code}/trend": ("GET", f"/api/v1/communes/{B}/trend", None),
        "/api/v1/communes/{code}/coverage": ("GET", f"/api/v1/communes/{B}/coverage", None),
        "/api/v1/communes/{code}/areas": ("GET", f"/api/v1/communes/{B}/areas", None),
        "/api/v1/cameras/{camera_id}": ("GET", "/api/v1/cameras/cam-b2", None),
        "/api/v1/snapshots/{snapshot_id}.jpg": ("GET", f"/api/v1/snapshots/{snap}.jpg", None),
        "/api/v1/tasks/{task_id}": ("GET", f"/api/v1/tasks/{task}", None),
        "/api/v1/tasks/{task_id}/state": (
            "POST",
            f"/api/v1/tasks/{task}/state",
            {"state": "in_progress"},
        ),
        "/api/v1/tasks/{task_id}/assign": (
            "POST",
            f"/api/v1/tasks/{task}/assign",
            {"assignee_id": world.user_ids["tech-a"]},
        ),
        "/api/v1/tasks/{task_id}/notes": ("POST", f"/api/v1/tasks/{task}/notes", None),
        "/api/v1/tasks/{task_id}/photos/{event_id}": (
            "GET",
            f"/api/v1/tasks/{task}/photos/1",
            None,
        ),
        "/api/v1/alerts/deliveries/{delivery_id}": (
            "GET",
            f"/api/v1/alerts/deliveries/{world.deliveries['b-tech']}",
            None,
        ),
        "/api/v1/users/{user_id}/contacts": ("GET", f"/api/v1/users/{tech_b}/contacts", None),
        "/api/v1/evaluations/{year}": ("GET", f"/api/v1/evaluations/2026?commune={B}", None),
        "/api/v1/evaluations/{year}/export.{fmt}": (
            "GET",
            f"/api/v1/evaluations/2026/export.csv?commune={B}",
            None,
        ),
        "/api/v1/users/{user_id}/contacts/{contact_id}": (
            "DELETE",
            f"/api/v1/users/{tech_b}/contacts/{world.contacts['tech-b']}",
            None,
        ),
    }


def test_every_object_route_hides_commune_b_from_an_officer_of_a(
    world_client: tuple[World, TestClient], tmp_path: Path
) -> None:
    world, client = world_client
    cases = b_objects(world)
    # a recorded evaluation holding B's figures (recorded by a district user's request)
    both = client.get("/api/v1/evaluations/2026", headers=bearer(world, "district")).json()
    record = f"/api/v1/evaluations/records/{both['record']}"
    cases["/api/v1/evaluations/records/{record_id}"] = ("GET", record, None)
    app = create_app(api_settings("sqlite://", tmp_path), background=False)
    routes = {p for p in app.openapi()["paths"] if p.startswith("/api/v1/") and "{" in p}
    routes -= LISTS
    assert routes == set(cases), "a route with a path parameter needs a scope case here"
    for user in ("officer-a", "tech-a"):
        for path, (method, url, body) in cases.items():
            if path.endswith("/notes"):
                r = client.post(url, data={"note": "x"}, headers=bearer(world, user))
            else:
                r = client.request(method, url, json=body, headers=bearer(world, user))
            assert r.status_code == 404, (user, url, r.status_code, r.text)
            assert r.json()["error"] == "not_found"
    # and the same URLs are there for someone whose scope includes B
    for path, (method, url, _) in cases.items():
        if method == "GET" and not path.endswith("/photos/{event_id}"):
            r = client.get(url, headers=bearer(world, "district"))
            assert r.status_code == 200, (url, r.text)


def test_lists_show_only_what_is_in_scope(world_client: tuple[World, TestClient]) -> None:
    world, client = world_client
    h = bearer(world, "officer-a")
    assert [c["code"] for c in client.get("/api/v1/communes", headers=h).json()] == [A]
    cams = client.get("/api/v1/cameras", headers=h).json()
    assert sorted(c["id"] for c in cams) == ["cam-a1", "cam-a2"]
    tasks = client.get("/api/v1/tasks", headers=h).json()
    assert [t["commune_code"] for t in tasks] == [A]
    assert client.get(f"/api/v1/cameras?commune={B}", headers=h).status_code == 404
    assert client.get(f"/api/v1/tasks?commune={B}", headers=h).status_code == 404
    users = {u["username"] for u in client.get("/api/v1/users", headers=h).json()}
    assert users == {"officer-a", "tech-a"}
    admin = bearer(world, "admin")
    assert {c["code"] for c in client.get("/api/v1/communes", headers=admin).json()} == {A, B}
    both = client.get("/api/v1/evaluations/2026", headers=admin).json()
    mine = client.get("/api/v1/evaluations/2026", headers=h).json()
    assert [c["code"] for c in mine["communes"]] == [A]
    records = client.get("/api/v1/evaluations/2026/records", headers=h).json()
    assert [r["id"] for r in records] == [mine["record"]]  # not the record holding B
    assert both["record"] != mine["record"]


def test_roles_and_read_only_tokens(world_client: tuple[World, TestClient]) -> None:
    world, client = world_client
    task_a = world.tasks[A]
    assert client.get("/api/v1/communes").status_code == 401
    assert (
        client.get("/api/v1/communes", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    reader = bearer(world, "scoring")
    assert client.get("/api/v1/communes", headers=reader).status_code == 200
    r = client.post(f"/api/v1/tasks/{task_a}/state", json={"state": "in_progress"}, headers=reader)
    assert r.status_code == 403
    assert "hint" in r.json()
    new_user = {"username": "x-user", "password": PASSWORD, "role": "admin"}
    assert (
        client.post("/api/v1/users", json=new_user, headers=bearer(world, "officer-a")).status_code
        == 403
    )
    assert client.get("/api/v1/users", headers=bearer(world, "tech-a")).status_code == 403
    created = client.post("/api/v1/users", json=new_user, headers=bearer(world, "admin"))
    assert created.status_code == 201
    assert created.json()["role"] == "admin"


def test_a_technician_moves_a_task_and_an_invalid_move_says_what_is_possible(
    world_client: tuple[World, TestClient],
) -> None:
    world, client = world_client
    h = bearer(world, "tech-a")
    task = client.get(f"/api/v1/tasks/{world.tasks[A]}", headers=h).json()
    assert task["assignee"] == "tech-a"
    assert task["diagnosis"]
    wrong = client.post(f"/api/v1/tasks/{task['id']}/state", json={"state": "closed"}, headers=h)
    assert wrong.status_code == 409
    assert wrong.json()["error"] == "invalid_transition"
    for state in ("in_progress", "reported_fixed"):
        r = client.post(
            f"/api/v1/tasks/{task['id']}/state", json={"state": state, "note": "ok"}, headers=h
        )
        assert r.status_code == 200, r.text
        assert r.json()["state"] == state
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    r = client.post(
        f"/api/v1/tasks/{task['id']}/notes",
        data={"note": "thay nguồn PoE"},
        files={"photo": ("p.png", png, "image/png")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    photo_event = next(e for e in r.json()["events"] if e["has_photo"])
    got = client.get(f"/api/v1/tasks/{task['id']}/photos/{photo_event['id']}", headers=h)
    assert got.content == png
