"""Helpers of the whole-chain tests: wait for a condition, serve the API on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import uvicorn

from api.app import create_app
from tests.api_helpers import api_settings
from tests.conftest import free_port


async def until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll ``check`` (in a thread) until it is truthy; return its value or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)


@contextlib.asynccontextmanager
async def serve_api(db_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """The API under uvicorn on 127.0.0.1 and a free port; yields its base URL."""
    port = free_port()
    app = create_app(api_settings(db_url, tmp_path), background=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, 20, "uvicorn")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
