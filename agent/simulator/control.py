"""Tiny HTTP/1.1 JSON control endpoint of the simulator (asyncio, no dependencies).

* ``GET /cameras`` -> ``[{"id", "url" (no password), "fault", ...}]``
* ``GET /cameras/{id}`` -> one camera
* ``POST /cameras/{id}`` with ``{"fault": "black"}`` (``healthy`` repairs) -> the new state
* unknown camera -> 404, unknown fault or bad JSON -> 400, each with ``{"error": "..."}``

Every response closes the connection (``Connection: close``).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from agent.simulator.errors import UnknownFaultError

if TYPE_CHECKING:
    from agent.simulator.simulator import Simulator

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
MAX_BODY = 64 * 1024


class ControlServer:
    """Serve the control endpoint of ``sim`` on ``host:port`` (0 picks a free port)."""

    def __init__(self, sim: Simulator, host: str, port: int) -> None:
        self.sim, self.host, self.port = sim, host, port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8553``."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Open the listener."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and finish open requests."""
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            code, payload = await self._respond(reader)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            code, payload = 400, {"error": "incomplete request"}
        try:
            body = json.dumps(payload, ensure_ascii=False).encode()
            head = (
                f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}\r\n"
                "Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, Any]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split()
        if len(parts) < 2:
            return 400, {"error": "bad request line"}
        method, path = parts[0].upper(), parts[1].split("?")[0].rstrip("/")
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in lines[1:])
            if k
        }
        size = int(headers.get("content-length", "0") or 0)
        if size > MAX_BODY:
            return 400, {"error": "body too large"}
        body = await reader.readexactly(size) if size else b""
        segments = [p for p in path.split("/") if p]
        if not segments or segments[0] != "cameras" or len(segments) > 2:
            return 404, {"error": f"no such endpoint {path!r}; use /cameras or /cameras/{{id}}"}
        if len(segments) == 1:
            if method != "GET":
                return 405, {"error": "use GET /cameras"}
            return 200, self.sim.state()
        cid = segments[1]
        if cid not in self.sim.cameras:
            return 404, {"error": f"không có camera / no camera {cid!r}"}
        if method == "GET":
            return 200, _one(self.sim, cid)
        if method != "POST":
            return 405, {"error": "use GET or POST /cameras/{id}"}
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": 'body must be JSON like {"fault": "black"}'}
        fault = data.get("fault") if isinstance(data, dict) else None
        if not isinstance(fault, str):
            return 400, {"error": 'body must be JSON like {"fault": "black"}'}
        try:
            await self.sim.set_fault(cid, fault)
        except UnknownFaultError as exc:
            return 400, {"error": f"lỗi không hợp lệ / {exc}"}
        return 200, _one(self.sim, cid)


def _one(sim: Simulator, cid: str) -> dict[str, Any]:
    return next(c for c in sim.state() if c["id"] == cid)
