"""Real local servers for the alert channels: one HTTP service and one SMTP server.

- ``FakeHttpService`` (``async with fake_http_service(...) as svc`` or the ``fake_http``
  fixture): an HTTP/1.1 server (asyncio + h11) on 127.0.0.1 speaking the Telegram Bot
  API ``/bot<token>/sendMessage``, the Zalo OA ``/v3.0/oa/message/cs`` (``access_token``
  header) and signed webhooks on ``/hook...`` (HMAC checked with its own code, not with
  ``alerts.channels.sign``). Every request is recorded in ``svc.requests``; the next
  answers can be scripted: ``fail_next``, ``hang_next``, ``drop_next``.
- ``SmtpServer`` (``with smtp_service(workdir) as srv`` or the ``smtp_server`` fixture):
  aiosmtpd on 127.0.0.1 requiring STARTTLS (a trustme CA, ``srv.ca_file``) and AUTH;
  messages land in ``srv.messages``; ``fail_next``, ``refuse``, ``hang_next`` script it.

``svc.telegram_config()``, ``svc.zalo_config()``, ``svc.webhook_config()`` and
``srv.email_config()`` return channel configs pointing at these servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hashlib
import hmac
import json
import ssl
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import h11
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from alerts.channel_config import EmailConfig, TelegramConfig, WebhookConfig, ZaloConfig
from tests.conftest import free_port

TELEGRAM_TOKEN = "123456789:AAE-camnet-test-token-khong-that"
ZALO_TOKEN = "zalo-oa-access-token-thu-nghiem"
WEBHOOK_SECRET = "bi-mat-webhook-16+ky-tu"
SMTP_USER = "canbo-xa"
SMTP_PASSWORD = "mat-khau-thu-nghiem"
_Answer = tuple[int, bytes, list[tuple[str, str]]]  # status (0: drop), body, extra headers
POLICY = email.policy.default  # parses into EmailMessage, headers decoded
JSON_TYPE = "application/json; charset=utf-8"
SIGNATURE_MAX_AGE = 300  # seconds a webhook timestamp may be off, as a receiver would check


@dataclass(frozen=True)
class Received:
    """One request as the fake service saw it (recorded before any scripted answer)."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps the last value
    body: bytes
    json: Any  # the parsed body, None when it is not JSON
    at: float  # time.time() when the whole request had arrived
    signature_valid: bool | None = None  # /hook...: did the HMAC and timestamp check out


class FakeHttpService:
    """Telegram, Zalo OA and webhook receiver in one HTTP server; see the module docstring."""

    def __init__(
        self,
        *,
        token: str = TELEGRAM_TOKEN,
        zalo_token: str = ZALO_TOKEN,
        secret: str = WEBHOOK_SECRET,
    ) -> None:
        self.token = token  # the bot token Telegram accepts
        self.zalo_token = zalo_token  # the access_token Zalo accepts
        self.secret = secret  # the webhook key the receiver checks
        self.retry_after = 3  # seconds announced with every 429 answer
        self.requests: list[Received] = []
        self.base_url = ""
        self._script: list[tuple[str, float]] = []  # ("fail", status) ("hang", s) ("drop", 0)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._next_message_id = 1
        self._arrived = asyncio.Event()  # set on each request

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next ``n`` requests with ``status`` (429 carries ``retry_after``)."""
        self._script += [("fail", status)] * n

    def hang_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """Hold the next ``n`` requests ``seconds`` before answering them normally."""
        self._script += [("hang", seconds)] * n

    def drop_next(self, n: int = 1) -> None:
        """Close the connection after reading each of the next ``n`` requests, no answer."""
        self._script += [("drop", 0)] * n

    def url(self, path: str) -> str:
        """Return ``base_url + path``."""
        return self.base_url + path

    def telegram_config(self, token: str | None = None, timeout: float = 2.0) -> TelegramConfig:
        """A TelegramConfig for this service (the right token unless given another)."""
        values = {"base_url": self.base_url, "token": token or self.token, "timeout": timeout}
        return TelegramConfig.model_validate(values)

    def zalo_config(self, token: str | None = None, timeout: float = 2.0) -> ZaloConfig:
        """A ZaloConfig for this service (the right access token unless given another)."""
        values = {"base_url": self.base_url, "timeout": timeout}
        return ZaloConfig.model_validate(values | {"access_token": token or self.zalo_token})

    def webhook_config(
        self,
        name: str = "ubnd-xa",
        path: str = "/hook",
        secret: str | None = None,
        timeout: float = 2.0,
    ) -> WebhookConfig:
        """A WebhookConfig posting to ``path`` here (the right secret unless given another)."""
        values = {"name": name, "url": self.url(path), "secret": secret or self.secret}
        return WebhookConfig.model_validate(values | {"timeout": timeout})

    async def wait_for_requests(self, n: int, within: float = 5.0) -> list[Received]:
        """Wait until ``n`` requests were received; return them all."""
        async with asyncio.timeout(within):
            while len(self.requests) < n:
                self._arrived.clear()
                await self._arrived.wait()
        return self.requests

    async def start(self) -> None:
        """Listen on 127.0.0.1 and a port the OS picks."""
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Stop listening and end every connection, hanging ones included."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:  # every connection, whatever its handler did
            writer.close()
        self._writers.clear()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(cast("asyncio.Task[None]", task))
        self._writers.add(writer)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(conn, reader)
                if request is None:
                    return
                status, answer, extra = await self._answer(request)
                if status == 0:  # dropped: close without a word
                    return
                headers = [("content-type", JSON_TYPE), ("content-length", str(len(answer)))]
                reason = HTTPStatus(status).phrase.encode()
                head = h11.Response(status_code=status, headers=headers + extra, reason=reason)
                for event in (head, h11.Data(data=answer), h11.EndOfMessage()):
                    writer.write(conn.send(event) or b"")
                await writer.drain()
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (h11.ProtocolError, ConnectionError):
            return
        except asyncio.CancelledError:  # closed by close(): end quietly (asyncio logs
            return  # a cancelled connection handler as an error otherwise)
        finally:
            self._tasks.discard(cast("asyncio.Task[None]", task))
            writer.close()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> Received | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return self._record(head, bytes(body))
            else:  # ConnectionClosed (client done), PAUSED
                return None

    def _record(self, head: h11.Request, body: bytes) -> Received:
        headers = {name.decode().lower(): value.decode("latin-1") for name, value in head.headers}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        path = head.target.decode()
        valid = self._signature_ok(headers, body) if path.startswith("/hook") else None
        received = Received(head.method.decode(), path, headers, body, parsed, time.time(), valid)
        self.requests.append(received)
        self._arrived.set()
        return received

    def _signature_ok(self, headers: dict[str, str], body: bytes) -> bool:
        timestamp = headers.get("x-camnet-timestamp", "")
        given = headers.get("x-camnet-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE:
            return False
        mac = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        return hmac.compare_digest(given, "sha256=" + mac.hexdigest())

    async def _answer(self, request: Received) -> _Answer:
        """Return (status, body, extra headers); status 0 means drop the connection."""
        action, value = self._script.pop(0) if self._script else ("", 0)
        if action == "drop":
            return 0, b"", []
        if action == "hang":
            await asyncio.sleep(value)
        if action == "fail":
            return self._scripted_failure(request, int(value))
        if request.method != "POST":
            return _json(405, {"error": "method not allowed"})
        if request.path.startswith("/bot"):
            return self._telegram(request)
        if request.path == "/v3.0/oa/message/cs":
            return self._zalo(request)
        if request.path.startswith("/hook"):
            if request.signature_valid:
                return _json(200, {"ok": True})
            return _json(401, {"error": "bad signature"})
        return _json(404, {"error": "not found"})

    def _scripted_failure(self, request: Received, status: int) -> _Answer:
        extra = [("retry-after", str(self.retry_after))] if status == 429 else []
        if not request.path.startswith("/bot"):
            return _json(status, {"error": HTTPStatus(status).phrase}, extra)
        body: dict[str, Any] = {"ok": False, "error_code": status}  # the Bot API's shape
        body["description"] = HTTPStatus(status).phrase
        if status == 429:
            body["description"] = f"Too Many Requests: retry after {self.retry_after}"
            body["parameters"] = {"retry_after": self.retry_after}
        return _json(status, body, extra)

    def _telegram(self, request: Received) -> _Answer:
        token, _, method = request.path.removeprefix("/bot").partition("/")
        if token != self.token:
            return _json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        if method != "sendMessage":
            return _json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        data = request.json if isinstance(request.json, dict) else {}
        text = data.get("text")
        if not data.get("chat_id"):
            return _bad_request("Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text:
            return _bad_request("Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return _bad_request("Bad Request: message is too long")
        message_id, self._next_message_id = self._next_message_id, self._next_message_id + 1
        result = {"message_id": message_id, "chat": {"id": data["chat_id"]}, "text": text}
        return _json(200, {"ok": True, "result": result | {"date": int(time.time())}})

    def _zalo(self, request: Received) -> _Answer:
        if request.headers.get("access_token") != self.zalo_token:
            return _json(200, {"error": -216, "message": "Access token is invalid"})
        data = request.json if isinstance(request.json, dict) else {}
        recipient = data.get("recipient")
        message = data.get("message")
        user_id = recipient.get("user_id") if isinstance(recipient, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        if not user_id or not isinstance(text, str) or not text or len(text) > 2000:
            return _json(200, {"error": -201, "message": "Parameters are invalid"})
        answer = {"message_id": uuid.uuid4().hex, "user_id": user_id}
        return _json(200, {"error": 0, "message": "Success", "data": answer})


def _json(status: int, body: dict[str, Any], extra: list[tuple[str, str]] | None = None) -> _Answer:
    return status, json.dumps(body, ensure_ascii=False).encode(), extra or []


def _bad_request(description: str) -> _Answer:
    return _json(400, {"ok": False, "error_code": 400, "description": description})


@contextlib.asynccontextmanager
async def fake_http_service(
    *, token: str = TELEGRAM_TOKEN, zalo_token: str = ZALO_TOKEN, secret: str = WEBHOOK_SECRET
) -> AsyncIterator[FakeHttpService]:
    """Run a :class:`FakeHttpService` for the duration of the block."""
    service = FakeHttpService(token=token, zalo_token=zalo_token, secret=secret)
    await service.start()
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
async def fake_http() -> AsyncIterator[FakeHttpService]:
    """A started :class:`FakeHttpService` with the default token, access token and secret."""
    async with fake_http_service() as service:
        yield service


# SMTP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage  # parsed with email.policy.default: headers decoded
    raw: bytes
    login: str | None  # the AUTH user of the session
    tls: bool  # the session was under TLS


class _Controller(Controller):
    """A Controller that remembers its sessions so that ``stop`` can close them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: list[SMTP] = []

    def factory(self) -> SMTP:
        session = super().factory()
        self.sessions.append(session)
        return session


class SmtpServer:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS (and AUTH when ``user`` is set).

    Script it before sending: ``fail_next(n)`` answers the next n messages (at the end of
    DATA) with ``451 4.3.0 try again``; ``refuse(address)`` answers RCPT for it with 550;
    ``hang_next(n, seconds)`` takes the next n messages but answers DATA that much later.
    """

    host = "127.0.0.1"

    def __init__(
        self, workdir: Path, *, user: str | None = SMTP_USER, password: str = SMTP_PASSWORD
    ) -> None:
        ca = trustme.CA()
        self.ca_file = workdir / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.user = user
        self.password = password
        self.port = free_port()
        self.messages: list[ReceivedMail] = []
        self._arrived = threading.Condition()  # notified on each message (server thread)
        self.refused: dict[str, str] = {}
        self._fail: list[str] = []
        self._hang: list[float] = []
        self._context = context
        self._controller: Controller | None = None

    def email_config(self, **overrides: Any) -> EmailConfig:
        """An EmailConfig for this server: STARTTLS trusting its CA, its login, 2 s steps."""
        values: dict[str, Any] = {"host": self.host, "port": self.port, "starttls": True}
        values |= {"username": self.user, "password": self.password if self.user else None}
        values |= {"sender": "camnet@ubnd-xa.test", "ca_file": self.ca_file, "timeout": 2.0}
        return EmailConfig.model_validate(values | overrides)

    def fail_next(self, n: int = 1, reply: str = "451 4.3.0 try again") -> None:
        """Answer the next ``n`` messages with ``reply`` (a 4xx: the client should retry)."""
        self._fail.extend([reply] * n)

    def refuse(self, address: str, reply: str = "550 5.1.1 no such user here") -> None:
        """Refuse ``address`` at RCPT for good."""
        self.refused[address] = reply

    def hang_next(self, n: int = 1, seconds: float = 3.0) -> None:
        """Take the next ``n`` messages but answer their DATA ``seconds`` late."""
        self._hang.extend([seconds] * n)

    def wait_for_messages(self, n: int, within: float = 5.0) -> list[ReceivedMail]:
        """Block until ``n`` messages were taken (the server has its own thread)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= n, within):
                raise TimeoutError(f"{len(self.messages)} of {n} messages after {within} s")
        return self.messages

    def start(self) -> None:
        """Start the server thread (blocks until it answers)."""
        # Made here, not in __init__: a Controller owns an event loop from its birth.
        self._controller = _Controller(
            self,
            hostname=self.host,
            port=self.port,
            server_hostname="smtp.camnet.test",
            tls_context=self._context,
            require_starttls=True,
            auth_required=self.user is not None,
            auth_require_tls=True,
            authenticator=self._authenticate,
        )
        self._controller.start()

    def stop(self) -> None:
        """Close every session's connection in the server's loop, then stop its thread.

        A connection left open when the loop closes is garbage-collected later in another
        test ("loop is closed" ResourceWarning): close them while the loop still runs.
        """
        controller = self._controller
        if controller is None:
            return
        done = threading.Event()

        def close_sessions() -> None:
            for session in controller.sessions:
                transport = getattr(session, "transport", None)
                if transport is not None and not transport.is_closing():
                    transport.close()
            done.set()

        controller.loop.call_soon_threadsafe(close_sessions)
        done.wait(5)
        controller.stop()
        controller.sessions.clear()
        self._controller = None

    # aiosmtpd hooks ----------------------------------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.user is not None
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=self.user if ok else None)

    async def handle_RCPT(  # noqa: N802  (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self._fail:
            return self._fail.pop(0)
        raw = cast("bytes", envelope.original_content or envelope.content)
        # Parsed as a mail store would keep it (LF line ends); ``raw`` is as on the wire.
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=POLICY)
        rcpt_tos, login = tuple(envelope.rcpt_tos), cast("str | None", session.auth_data)
        mail = ReceivedMail(
            str(envelope.mail_from), rcpt_tos, message, raw, login, session.ssl is not None
        )
        with self._arrived:
            self.messages.append(mail)
            self._arrived.notify_all()
        if self._hang:  # taken (like Postfix, queued before the reply), answered late
            await asyncio.sleep(self._hang.pop(0))
        return "250 2.0.0 OK queued"


@contextlib.contextmanager
def smtp_service(workdir: Path, **kwargs: Any) -> Iterator[SmtpServer]:
    """Run an :class:`SmtpServer` (kwargs: ``user``, ``password``) for the block."""
    server = SmtpServer(workdir, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """A started :class:`SmtpServer` with STARTTLS and AUTH (``SMTP_USER``/``SMTP_PASSWORD``)."""
    with smtp_service(tmp_path) as server:
        yield server
