"""Schemathesis against our OpenAPI spec: no generated request makes a server error.

Each operation's Hypothesis strategy is driven directly (schemathesis's pytest plugin
does not load with this pytest) and sent through our own TestClient (its ASGI transport
leaves a thread behind), with an admin token so that requests get past login.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from collector.db import create_schema, make_engine
from tests.api_helpers import api_settings, bearer, build_world

EXAMPLES = 25


@pytest.mark.timeout(600)
def test_no_generated_request_makes_a_server_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/api.db"
    engine = make_engine(url)
    create_schema(engine)
    world = build_world(engine)
    engine.dispose()
    app = create_app(api_settings(url, tmp_path), background=False)
    headers = bearer(world, "admin")
    with TestClient(app) as client:  # runs the lifespan: the engine is on app.state
        schema = schemathesis.openapi.from_dict(app.openapi())
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        statuses: list[int] = []
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def no_server_error(case: Any) -> None:
                kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
                cookies = kwargs.pop("cookies", None)
                assert not cookies
                response = client.request(**kwargs)
                statuses.append(response.status_code)
                assert response.status_code < 500, case.as_curl_command()

            no_server_error()
    assert len(statuses) >= 10 * len(operations)
    assert 200 in statuses  # not all rejected: real requests reached the handlers
