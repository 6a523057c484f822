"""The alerts part of ``camnet demo``: a local webhook that logs what ``camnet alerts`` sends.

The demo has no e-mail server, Telegram bot or Zalo account; its alert rules post every
notice to this receiver on 127.0.0.1 (the webhook channel, HMAC-signed as in
production), which checks the signature, appends the notice to a JSON-lines log and
shows its subject on the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.channels import sign
from alerts.config import AlertRules

MAX_BODY = 1 << 20  # a notice is a few kB


class LocalWebhook:
    """A webhook endpoint for the demo: ``await start()``, rules from ``rules()``."""

    def __init__(self, log_path: Path, show: Callable[[str], None]) -> None:
        self.log_path, self.show = log_path, show
        self.secret = secrets.token_hex(16)
        self.received = 0
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> str:
        """Listen on 127.0.0.1 and a free port; return the URL to post to."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/camnet"
        return self.url

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def rules(self, dashboard_url: str) -> AlertRules:
        """Demo alert rules: every notice to this webhook, no quiet hours, fast ratio alerts."""
        return AlertRules.model_validate(
            {
                "dashboard_url": dashboard_url,
                "quiet_hours": {"enabled": False},
                "ratio": {"below": 0.8, "for_minutes": 0.5, "min_installed": 4},
                "digest": {"enabled": False},
                "channels": {
                    "webhooks": [{"name": "demo-log", "url": self.url, "secret": self.secret}]
                },
            }
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status = "400 Bad Request"
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                headers = _headers(head)
                length = int(headers.get("content-length", "0"))
                if 0 < length <= MAX_BODY:
                    body = await reader.readexactly(length)
                    status = "204 No Content" if self._take(headers, body) else "401 Unauthorized"
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        with contextlib.suppress(ConnectionError):
            writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
        writer.close()

    def _take(self, headers: dict[str, str], body: bytes) -> bool:
        stamp = headers.get("x-camnet-timestamp", "")
        expected = "sha256=" + sign(self.secret.encode(), stamp, body)
        if not hmac.compare_digest(expected, headers.get("x-camnet-signature", "")):
            return False
        notice: dict[str, Any] = json.loads(body)
        line = {"received_at": datetime.now(UTC).isoformat(), **notice}
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.received += 1
        self.show(str(notice.get("subject", "")))
        return True


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("POST "):
        raise ValueError("only POST")
    pairs = (line.split(":", 1) for line in lines[1:] if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}
