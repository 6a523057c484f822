"""``GET /metrics`` of ``camnet api``: requests counted by route template, not raw path."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from collector.db import create_schema, make_engine
from tests.api_helpers import World, api_settings, bearer, build_world


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_requests_are_counted_by_route_template(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = make_engine(url)
    create_schema(engine)
    world: World = build_world(engine)
    engine.dispose()
    with TestClient(create_app(api_settings(url, tmp_path), background=False)) as client:
        camera = world.cameras[next(iter(world.cameras))][0]
        for _ in range(3):
            answer = client.get(f"/api/v1/cameras/{camera}", headers=bearer(world, "admin"))
            assert answer.status_code == 200, answer.text
        assert (
            client.get("/api/v1/cameras/no-such-camera", headers=bearer(world, "admin")).status_code
            == 404
        )
        assert client.get("/no/such/page/at/all").status_code == 404
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    got = samples(answer.text)
    route = "/api/v1/cameras/{camera_id}"
    ok = ("camnet_api_requests_total", (("method", "GET"), ("route", route), ("status", "200")))
    missing = (
        "camnet_api_requests_total",
        (("method", "GET"), ("route", route), ("status", "404")),
    )
    unmatched = (
        "camnet_api_requests_total",
        (("method", "GET"), ("route", "unmatched"), ("status", "404")),
    )
    assert got[ok] == 3
    assert got[missing] == 1
    assert got[unmatched] == 1
    count = ("camnet_api_request_duration_seconds_count", (("method", "GET"), ("route", route)))
    assert got[count] == 4
    assert not any(camera in str(key) for key in got), "raw paths must not become labels"
