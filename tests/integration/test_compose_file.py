"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

- ``docker compose config`` (the v2 plugin when present, else Debian's docker-compose
  1.29, which validates against the compose schema) accepts the file, with and without
  the ``sim`` profile, and refuses it naming the variable when a secret is missing;
- the test helper reads the file exactly as compose does (same commands, environment and
  volumes), so test_compose_processes.py runs what production runs;
- the image recipe copies everything the package needs: a wheel built from the files the
  Dockerfile copies equals one built from the whole checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import compose_helpers as ch

SECRETS = {
    "POSTGRES_PASSWORD": "pg",
    "CAMNET_API_SECRET_KEY": "k" * 40,
    "MQTT_COLLECTOR_PASSWORD": "a",
    "MQTT_JOBS_PASSWORD": "b",
    "MQTT_ALERTS_PASSWORD": "c",
    "GRAFANA_ADMIN_PASSWORD": "d",
}
#: Bind mounts the operator creates (deploy/mosquitto/mosquitto.conf and docs/deploy.md).
OPERATOR_MADE = {"deploy/prometheus/agents.local"}


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.skip("neither `docker compose` nor docker-compose (Debian package docker-compose)")


def compose(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "empty.env"  # never the developer's own .env
    empty.write_text("")
    command = [*compose_command(), "--env-file", str(empty), "-f", str(ch.COMPOSE), *args]
    path = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, text=True, env=path | env, cwd=ch.ROOT)


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    for profile in ([], ["--profile", "sim"]):
        done = compose(tmp_path, SECRETS, *profile, "config", "-q")
        assert done.returncode == 0, done.stderr
    services = compose(tmp_path, SECRETS, "--profile", "sim", "config", "--services").stdout
    expected = "mosquitto postgres migrate collector api jobs alerts prometheus grafana"
    assert set(services.split()) == {*expected.split(), "simulator", "sim-agent"}


def test_a_missing_secret_is_named(tmp_path: Path) -> None:
    env = {k: v for k, v in SECRETS.items() if k != "MQTT_JOBS_PASSWORD"}
    done = compose(tmp_path, env, "config", "-q")
    assert done.returncode != 0
    assert "set MQTT_JOBS_PASSWORD in .env" in done.stderr


def test_the_helper_reads_the_file_as_compose_does(tmp_path: Path) -> None:
    done = compose(tmp_path, SECRETS, "--profile", "sim", "config")
    assert done.returncode == 0, done.stderr
    theirs: dict[str, Any] = yaml.safe_load(done.stdout)["services"]
    ours: dict[str, Any] = ch.load_compose(SECRETS)["services"]
    assert set(ours) == set(theirs)
    for name, service in ours.items():
        assert service.get("command") == theirs[name].get("command"), name
        env = {k: str(v) for k, v in service.get("environment", {}).items()}
        assert env == {k: str(v) for k, v in (theirs[name].get("environment") or {}).items()}
        mounts = [v for v in service.get("volumes", []) if str(v).startswith(".")]
        for volume in mounts:
            host, inside = volume.split(":")[:2]
            resolved = str((ch.ROOT / host).resolve())
            assert any(str(v).startswith(f"{resolved}:{inside}") for v in theirs[name]["volumes"])
            assert (ch.ROOT / host).exists() or host.removeprefix("./") in OPERATOR_MADE, host


def copied_by_dockerfile(dest: Path) -> None:
    """Copy what the Dockerfile's COPY lines copy (no .dockerignore'd files among them)."""
    for line in (ch.ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] != ["COPY"]:
            continue
        *sources, target = words[1:]
        for source in sources:
            origin = ch.ROOT / source
            where = dest / target.removeprefix("./") if target not in ("./", ".") else dest
            if origin.is_dir():
                shutil.copytree(origin, where, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                where.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, where / origin.name)


def wheel_files(source: Path, out: Path) -> set[str]:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run([*command, "-w", str(out), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if ".dist-info/" not in n}


def test_the_image_gets_everything_the_package_needs(tmp_path: Path) -> None:
    context = tmp_path / "context"
    copied_by_dockerfile(context)
    checkout = tmp_path / "checkout"
    shutil.copytree(
        ch.ROOT,
        checkout,
        ignore=shutil.ignore_patterns(".git", ".venv", "var", "build", "*.egg-info", "__pycache__"),
    )
    from_image = wheel_files(context, tmp_path / "w1")
    from_checkout = wheel_files(checkout, tmp_path / "w2")
    assert from_image == from_checkout
    assert "api/templates/base.html" in from_image or any(
        n.startswith("api/templates/") for n in from_image
    )
