"""Shared fixtures: cleanup checks, free ports, and the real servers the tests talk to."""

from __future__ import annotations

import contextlib
import inspect
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hang_dump import dump_before

pytest_plugins: list[str] = []


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """Return a port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_block(count: int) -> int:
    """Return the first of ``count`` consecutive free ports on 127.0.0.1.

    The block lies below the kernel's ephemeral range, so that no outgoing connection
    (of the very programs about to listen on it) takes one of its ports meanwhile.
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    start = 20000 if low > 21000 + count else 1024
    for _ in range(200):
        base = random.randrange(start, max(start + 1, low - count))
        if all(_bindable(port) for port in range(base, base + count)):
            return base
    raise RuntimeError(f"no {count} free consecutive ports below {low}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's servers do
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(autouse=True)
def verify_cleanup() -> Iterator[None]:
    """Fail a test that leaves threads behind (like Home Assistant's verify_cleanup)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"threads left behind: {[t.name for t in extra]}"


@pytest.fixture(autouse=True)
def dump_tasks_before_timeout(request: pytest.FixtureRequest) -> Iterator[None]:
    """For an asyncio test: print its tasks' awaits shortly before pytest-timeout fires."""
    marker = request.node.get_closest_marker("timeout")
    limit = float(marker.args[0] if marker and marker.args else request.config.getini("timeout"))
    if not inspect.iscoroutinefunction(getattr(request, "function", None)) or limit < 20:
        yield
        return
    timer = dump_before(0.9 * limit)
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
