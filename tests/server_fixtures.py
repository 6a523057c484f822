"""Fixtures for the RTSP servers tests talk to: Debian's GStreamer server and hostile ones.

- ``gst_rtsp_server`` (session): ``tests/servers/gst_rtsp.py`` run by the system Python,
  which has python3-gi; skipped with the reason when gi, GstRtspServer or x264enc is absent.
- ``hostile_server`` (function): a factory ``await hostile_server("garbage", rate=...)``
  returning a started ``HostileServer``; every server it made is closed at teardown.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import pytest

from tests.conftest import free_port
from tests.servers.hostile import HostileServer, Kind

SYSTEM_PYTHON = "/usr/bin/python3"
GST_SCRIPT = Path(__file__).parent / "servers" / "gst_rtsp.py"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
EXIT_MISSING = 3  # gst_rtsp.py: python3-gi, GstRtspServer or an element is absent


@dataclasses.dataclass(frozen=True)
class GstRtspServer:
    """A running ``gst_rtsp.py``: where it listens, what it serves, the credentials."""

    host: str
    port: int
    mounts: tuple[str, ...]
    user: str
    password: str
    missing: tuple[str, ...]  # "MISSING ..." lines, e.g. x265enc absent: no /h265

    def url(self, mount: str = "/h264") -> str:
        """Return ``rtsp://host:port/mount`` without credentials."""
        return f"rtsp://{self.host}:{self.port}{mount}"

    def url_with_credentials(self, mount: str = "/secure") -> str:
        """Return the URL with ``user:password@`` (``/secure`` needs them)."""
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"rtsp://{auth}@{self.host}:{self.port}{mount}"

    def require(self, mount: str) -> None:
        """Skip the calling test when ``mount`` is not served (its encoder is missing)."""
        if mount not in self.mounts:
            pytest.skip(f"GStreamer server does not serve {mount}: {'; '.join(self.missing)}")


def _wait_ready(proc: subprocess.Popen[str], timeout: float) -> str | None:
    """Return the READY line, or None when the process exited or the time ran out."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            line = proc.stdout.readline()
            if not line:
                return None  # EOF: the server exited
            if line.startswith("READY "):
                return line.strip()
    return None


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture(scope="session")
def gst_rtsp_server() -> Iterator[GstRtspServer]:
    """Start Debian's GStreamer RTSP server on a free port for the whole session."""
    if not (Path(SYSTEM_PYTHON).exists() and shutil.which("gst-inspect-1.0")):
        pytest.skip(f"GStreamer RTSP server needs {SYSTEM_PYTHON} with python3-gi")
    user, password = "camnet", "s3cret"
    port = free_port()
    with tempfile.TemporaryFile("w+") as stderr:
        command = [SYSTEM_PYTHON, str(GST_SCRIPT), "--port", str(port)]
        command += ["--user", user, "--password", password]
        # The venv's PYTHONPATH/PYTHONHOME must not leak into the system interpreter.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        try:
            ready = _wait_ready(proc, READY_TIMEOUT)
            stderr.seek(0)
            log = stderr.read()
            missing = tuple(x for x in log.splitlines() if x.startswith("MISSING "))
            if ready is None:
                if proc.wait(STOP_TIMEOUT) == EXIT_MISSING:
                    pytest.skip(f"GStreamer RTSP server unavailable: {'; '.join(missing)}")
                pytest.fail(f"gst_rtsp.py not ready in {READY_TIMEOUT} s; stderr:\n{log}")
            _, bound, mounts = ready.split(" ", 2)
            yield GstRtspServer(
                "127.0.0.1", int(bound), tuple(mounts.split(",")), user, password, missing
            )
        finally:
            _stop(proc)


class HostileFactory(Protocol):
    """Type of the ``hostile_server`` fixture: ``await hostile_server(kind, **options)``."""

    def __call__(self, kind: Kind, **options: Any) -> Awaitable[HostileServer]: ...


@pytest.fixture
async def hostile_server() -> AsyncIterator[HostileFactory]:
    """Yield a factory of started ``HostileServer``s, all closed at teardown."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(kind: Kind, **options: Any) -> HostileServer:
            return await stack.enter_async_context(HostileServer(kind, **options))

        yield make
