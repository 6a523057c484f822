"""``camnet`` on a box installed with fewer extras (an edge box: ``camnet[agent]`` only).

The packages of the other extras are hidden from a real ``camnet`` process by an import
hook (as if never installed): the agent's commands must work, the others must say which
extra to install, and exit 2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Distributions only the collector, api, alerts, broker and simulator extras bring.
NOT_ON_AN_EDGE_BOX = [
    *("sqlalchemy", "sqlmodel", "alembic", "psycopg", "shapely", "pyproj", "fastapi"),
    *("starlette", "uvicorn", "jinja2", "itsdangerous", "multipart", "argon2"),
    *("apscheduler", "openpyxl", "reportlab", "httpx", "aiosmtplib", "amqtt", "skimage"),
]
RUN_HIDDEN = """
import importlib.abc, sys
HIDDEN = set(sys.argv[1].split(","))
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Hide())
import camnet_cli
sys.exit(camnet_cli.main(sys.argv[2:]))
"""


def camnet_on_edge_box(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", RUN_HIDDEN, ",".join(NOT_ON_AN_EDGE_BOX), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_the_agent_runs_without_the_central_extras() -> None:
    config = ROOT / "deploy" / "agent" / "agent.example.yaml"
    done = camnet_on_edge_box("agent", "--config", str(config), "--check-config")
    assert done.returncode == 0, done.stderr
    assert "config OK" in done.stdout
    listing = camnet_on_edge_box("--help")
    assert listing.returncode == 0, listing.stderr
    assert "needs camnet[api]" in listing.stdout


def test_a_central_command_names_the_extra_to_install() -> None:
    done = camnet_on_edge_box("api", "--port", "8000", "--help")
    assert done.returncode == 2
    assert "pip install 'camnet[api]'" in done.stderr
    assert "Traceback" not in done.stderr
    done = camnet_on_edge_box("collector", "--check-config")
    assert done.returncode == 2
    assert "pip install 'camnet[collector]'" in done.stderr
