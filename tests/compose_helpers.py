"""docker-compose.yml's services run as local processes (no Docker engine on test machines).

``load_compose`` reads the file as compose does: YAML anchors and merge keys, then
``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` from the given environment.
``LocalNetwork`` turns a service's command and environment into a process on this
machine, changing only what a container network gives for free:

- a service name (``postgres``, ``mosquitto``) → ``127.0.0.1``, and each service's port →
  the free port the test started it on (``postgres:5432`` → ``127.0.0.1:54xyz``);
- a listen address ``0.0.0.0`` → ``127.0.0.1`` (tests only ever use loopback), and the
  ports the services listen on (``*_PORT`` settings) → free ports;
- a path inside the container → the host path of its volume (or the test's own file).

Everything else (the program, its arguments, every other setting) is taken verbatim.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
CAMNET = Path(sys.executable).parent / "camnet"  # the console script pip installed
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution; ``${X:?msg}`` unset raises ``KeyError(msg)``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if value or (op == "-" and value is not None) else arg
        if op in (":?", "?") and not value:
            raise KeyError(f"{name}: {arg}")
        return value or ""

    return _VAR.sub(one, text.replace("$$", "\0")).replace("\0", "$")


def _walk(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_walk(x, env) for x in node]
    if isinstance(node, dict):
        return {k: _walk(v, env) for k, v in node.items()}
    return node


def load_compose(env: dict[str, str], path: Path = COMPOSE) -> dict[str, Any]:
    """The compose file with anchors merged and variables substituted."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return dict(_walk(data, env))


@dataclass
class LocalNetwork:
    """Where the test runs what the compose network names (see the module docstring)."""

    ports: dict[tuple[str, int], int] = field(default_factory=dict)  # (service, port) -> local
    files: dict[str, Path] = field(default_factory=dict)  # container path -> host path

    def address(self, service: str, port: int) -> str:
        """``127.0.0.1:<local port>`` of ``service:port``."""
        return f"127.0.0.1:{self.ports[(service, port)]}"

    def translate(self, text: str, files: dict[str, Path] | None = None) -> str:
        """Service addresses and container paths in ``text`` → their local forms."""
        for (service, port), local in self.ports.items():
            text = re.sub(rf"\b{re.escape(service)}:{port}\b", f"127.0.0.1:{local}", text)
        files = self.files if files is None else files
        for inside in sorted(files, key=len, reverse=True):  # longest path first
            text = text.replace(inside, str(files[inside]))
        return text

    def mounts(self, service: dict[str, Any]) -> dict[str, Path]:
        """The paths this service sees: its bind mounts (``./host:/container[:ro]``), and
        the test's files under one of its volumes. A path that no volume of the service
        holds stays as it is, so a missing volume fails here as it fails in a container."""
        targets: list[str] = []
        seen: dict[str, Path] = {}
        for volume in service.get("volumes", []):
            host, inside = str(volume).split(":")[:2]
            targets.append(inside)
            if host.startswith((".", "/")):
                seen[inside] = (ROOT / host).resolve()
        for inside, local in self.files.items():
            if any(inside == t or inside.startswith(t.rstrip("/") + "/") for t in targets):
                seen[inside] = local
        return seen

    def process(self, name: str, service: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of ``service`` on this machine."""
        files = self.mounts(service)
        command = [self.translate(str(a), files) for a in service["command"]]
        assert command[0] == "camnet", f"{name}: every camnet service runs `camnet ...`"
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        hosts = {svc for svc, _ in self.ports}
        for key, raw in service.get("environment", {}).items():
            value = self.translate(str(raw), files)
            if key.endswith("_HOST") and (value in hosts or value == "0.0.0.0"):
                value = "127.0.0.1"
            elif key.endswith("_PORT") and key.endswith(("METRICS_PORT", "API_PORT")):
                local = free_port()
                self.ports[(name, int(value))] = local
                value = str(local)
            elif key.endswith("_MQTT_PORT"):
                value = str(self.ports[("mosquitto", int(value))])
            env[key] = value
        return [str(CAMNET), *command[1:]], env


def start(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start one service; its output goes to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; fail with the log if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise AssertionError(f"nothing on port {port}:\n{log.read_text(errors='replace')}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    """SIGTERM (what ``docker compose stop`` sends) and wait; the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    return proc.returncode


def mosquitto_conf(network: LocalNetwork, workdir: Path) -> Path:
    """deploy/mosquitto/mosquitto.conf with its listeners and paths made local."""
    text = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    lines = []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["listener"]:
            line = f"listener {network.ports[('mosquitto', int(words[1]))]} 127.0.0.1"
        elif words[:1] == ["log_dest"]:
            line = f"log_dest file {workdir / 'mosquitto.log'}"
        lines.append(network.translate(line))
    if os.geteuid() == 0:  # as root mosquitto would drop to a user that cannot read tmp
        lines.append("user root")
    path = workdir / "mosquitto.conf"
    path.write_text("\n".join(lines) + "\n")
    return path
