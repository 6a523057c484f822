"""``camnet users`` and ``camnet api --check-config`` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from tests.api_helpers import api_settings
from tests.collector_helpers import seed_registry

CAMNET = [sys.executable, "-m", "camnet_cli"]


def camnet(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CAMNET, *args], input=stdin, capture_output=True, text=True, timeout=60, env=env,
        check=False,
    )  # fmt: skip


def test_users_add_list_and_a_token_that_the_api_accepts(tmp_path: Path) -> None:
    from collector.db import create_schema, make_engine

    url = f"sqlite:///{tmp_path}/camnet.db"
    engine = make_engine(url)
    create_schema(engine)
    seed_registry(engine, {"00001": ["cam-1"]})
    engine.dispose()
    added = camnet("users", "--db", url, "add", "ktv", "--role", "technician",
                   "--commune", "00001", "--password-stdin", stdin="mat-khau-dai-1\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    wrong = camnet("users", "--db", url, "add", "can-bo", "--role", "commune", "--commune", "99999",
                   "--no-password")  # fmt: skip
    assert wrong.returncode == 2
    assert "99999" in wrong.stderr
    assert "camnet registry import" in wrong.stderr  # says what to do
    listed = camnet("users", "--db", url, "list")
    assert "ktv" in listed.stdout
    assert "technician" in listed.stdout
    assert "00001" in listed.stdout
    token = camnet("users", "--db", url, "token", "ktv").stdout.strip()
    assert token.startswith("cn_")
    assert token not in (tmp_path / "camnet.db").read_bytes().decode(errors="replace")
    with TestClient(create_app(api_settings(url, tmp_path), background=False)) as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert (me.json()["username"], me.json()["read_only"]) == ("ktv", True)
        assert "password_hash" not in me.text


def test_check_config_hides_the_database_password() -> None:
    env = {**os.environ, "CAMNET_API_DB_URL": "postgresql+psycopg://camnet:sekret@127.0.0.1/camnet"}
    shown = camnet("api", "--check-config", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "sekret" not in shown.stdout
    assert "db_url = postgresql+psycopg://camnet:***@127.0.0.1/camnet" in shown.stdout
