"""The HTTP channels of ``camnet alerts``: signed webhook, Telegram Bot API, Zalo OA.

Import them from ``alerts.channels`` (the contract and the outcomes are described there).
Each channel makes one ``httpx.AsyncClient`` on first use unless given one, and closes
only the client it made. Transport failures map to outcomes by whether the request can
have left this host:

- ``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``, ``ProxyError``: it did not -> RETRY.
- ``ReadTimeout``, ``WriteTimeout`` (part of the body may be out), ``ReadError``,
  ``RemoteProtocolError`` and any other transport error: it may have -> UNCERTAIN.

The types are imported inside functions because ``alerts.channels`` imports this module.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from alerts.channel_config import TelegramConfig, WebhookConfig, ZaloConfig

if TYPE_CHECKING:
    from alerts.channels import Message, Result

USER_AGENT = "camnet-alerts"
TELEGRAM_LIMIT = 4096  # sendMessage: 1-4096 characters (UTF-16 code units)
ZALO_LIMIT = 2000  # OA text message
_SNIPPET = 160  # characters of a service's answer kept in a detail
# Transport errors raised before any byte of the request left this host.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)


def _truncate(text: str, limit: int, *, utf16: bool = False) -> str:
    """Return ``text`` within ``limit`` characters (UTF-16 units), ending in "…" if cut."""

    def size(value: str) -> int:
        return len(value.encode("utf-16-le")) // 2 if utf16 else len(value)

    if size(text) <= limit:
        return text
    cut = text[: limit - 1]
    while size(cut) > limit - 1:  # astral characters (emoji) count twice in UTF-16
        cut = cut[:-1]
    return cut + "…"


def _one_text(message: Message) -> str:
    """The subject as first line, a blank line, the text: for chat services."""
    return f"{message.subject}\n\n{message.text}"


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _answer_json(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's JSON object, or None when it is not one."""
    try:
        value = response.json()
    except ValueError:  # not JSON (json.JSONDecodeError, UnicodeDecodeError)
        return None
    return value if isinstance(value, dict) else None


def _snippet(text: str) -> str:
    """A service's answer as one short line for the delivery log."""
    line = " ".join(text.split())
    return line if len(line) <= _SNIPPET else line[: _SNIPPET - 1] + "…"


def _retry_after(value: Any) -> float | None:
    """Seconds from a Retry-After header (seconds or HTTP date) or a JSON number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        try:
            when = parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class _Redact(logging.Filter):
    """Blank secrets out of log records (httpx logs each request's full URL at INFO)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if any(secret in text for secret in self.secrets):
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


_REDACT = _Redact()


class _HttpChannel:
    """What the HTTP channels share: a lazy client, one POST, failures as results."""

    def __init__(
        self, timeout: float, client: httpx.AsyncClient | None, secrets: tuple[str, ...]
    ) -> None:
        self._timeout = timeout
        self._client = client
        self._owns_client = client is None
        self._secrets = tuple(secret for secret in secrets if secret)

    async def aclose(self) -> None:
        """Close the HTTP client if this channel made it; a given client is the caller's."""
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _failure(self, what: str, exc: Exception) -> str:
        reason = str(exc)
        return self._scrub(f"{what}: {type(exc).__name__}" + (f": {reason}" if reason else ""))

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> httpx.Response | Result:
        """POST ``body`` as JSON; a transport failure comes back as its :class:`Result`."""
        from alerts.channels import Outcome, Result

        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            **headers,
        }
        try:
            return await self._client.post(
                url, content=body, headers=headers, timeout=self._timeout
            )
        except _NOT_SENT as exc:
            # Nothing reached the service: safe to send again.
            return Result(Outcome.RETRY, self._failure("không kết nối được / cannot connect", exc))
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return Result(Outcome.FAILED, self._failure("URL sai / bad URL", exc))
        except httpx.HTTPError as exc:
            # The request (or part of it) left and no answer came: the service may have
            # it, and sending again could deliver it twice.
            return Result(Outcome.UNCERTAIN, self._failure("không có trả lời / no answer", exc))

    def _by_status(self, response: httpx.Response, hints: dict[int, str]) -> Result:
        """Classify an answer by its HTTP status alone: 2xx sent, 408/429/5xx retry."""
        from alerts.channels import Outcome, Result

        status = response.status_code
        detail = f"HTTP {status} {response.reason_phrase}".rstrip()
        if response.is_success:
            return Result(Outcome.SENT, detail)
        snippet = _snippet(response.text)
        detail = self._scrub(f"{detail} — {snippet}" if snippet else detail)
        if status in (408, 429) or status >= 500:
            return Result(Outcome.RETRY, detail, _retry_after(response.headers.get("Retry-After")))
        hint = hints.get(status, "")
        if response.is_redirect:
            hint = "chuyển hướng không được theo / redirects are not followed: use the final URL"
        return Result(Outcome.FAILED, f"{detail}: {hint}" if hint else detail)


class WebhookChannel(_HttpChannel):
    """POST the message as signed JSON to the webhook's own URL."""

    name = "webhook"

    def __init__(self, config: WebhookConfig, client: httpx.AsyncClient | None = None) -> None:
        secret = config.secret.get_secret_value()
        super().__init__(config.timeout, client, (secret,))
        self._url = config.url
        self._secret = secret.encode("utf-8")

    async def send(self, address: str, message: Message) -> Result:
        """POST ``{"id", "subject", "text", "data"}``, signed; ``address`` is not used."""
        from alerts.channels import sign

        del address  # one webhook, one URL (callers pass its name)
        body = _json_bytes(
            {
                "id": message.delivery_id,
                "subject": message.subject,
                "text": message.text,
                "data": message.payload,
            }
        )
        timestamp = str(int(time.time()))
        headers = {
            "X-Camnet-Delivery": message.delivery_id,  # receivers dedupe on it
            "X-Camnet-Timestamp": timestamp,
            "X-Camnet-Signature": "sha256=" + sign(self._secret, timestamp, body),
        }
        answer = await self._post(self._url, body, headers)
        if isinstance(answer, httpx.Response):
            return self._by_status(answer, _WEBHOOK_HINTS)
        return answer


_WEBHOOK_HINTS = {
    401: "kiểm tra secret / check the secret",
    403: "kiểm tra secret / check the secret",
    404: "kiểm tra url / check the url",
    410: "kiểm tra url / check the url",
    413: "nội dung quá lớn / body too large for the receiver",
}


class TelegramChannel(_HttpChannel):
    """Telegram Bot API ``sendMessage`` to a chat id, as plain text."""

    name = "telegram"

    def __init__(self, config: TelegramConfig, client: httpx.AsyncClient | None = None) -> None:
        token = config.token.get_secret_value()
        super().__init__(config.timeout, client, (token,))
        self._url = f"{config.base_url.rstrip('/')}/bot{token}/sendMessage"
        _REDACT.secrets.add(token)
        logging.getLogger("httpx").addFilter(_REDACT)  # the same object is added once

    async def send(self, address: str, message: Message) -> Result:
        """Send the subject and text as one message (no parse_mode: nothing to escape)."""
        from alerts.channels import Outcome, Result

        body = {
            "chat_id": address,
            "text": _truncate(_one_text(message), TELEGRAM_LIMIT, utf16=True),
            "disable_web_page_preview": True,
        }
        answer = await self._post(self._url, _json_bytes(body), {})
        if not isinstance(answer, httpx.Response):
            return answer
        data = _answer_json(answer)
        if data is None or not isinstance(data.get("ok"), bool):
            if answer.is_success:  # accepted by something that does not speak the Bot API
                return Result(Outcome.UNCERTAIN, f"HTTP {answer.status_code}: not a Bot API answer")
            return self._by_status(answer, {401: "kiểm tra token / check the token"})
        if data["ok"]:
            return Result(Outcome.SENT, f"message_id {_field(data, 'result', 'message_id')}")
        code = data.get("error_code", answer.status_code)
        description = self._scrub(_snippet(str(data.get("description", ""))))
        parameters = data.get("parameters")
        parameters = parameters if isinstance(parameters, dict) else {}
        detail = f"Telegram {code} {description}".rstrip()
        if code == 429 or answer.status_code == 429 or answer.status_code >= 500:
            wait = _retry_after(parameters.get("retry_after"))
            if wait is None:
                wait = _retry_after(answer.headers.get("Retry-After"))
            return Result(Outcome.RETRY, detail, wait)
        hint = _telegram_hint(code, description, parameters)
        return Result(Outcome.FAILED, f"{detail}: {hint}" if hint else detail)


def _field(data: dict[str, Any], outer: str, inner: str) -> Any:
    """``data[outer][inner]``, or None when the answer is shaped otherwise."""
    value = data.get(outer)
    return value.get(inner) if isinstance(value, dict) else None


def _telegram_hint(code: Any, description: str, parameters: dict[str, Any]) -> str:
    if "migrate_to_chat_id" in parameters:
        new_id = parameters["migrate_to_chat_id"]
        return f"nhóm đã đổi chat id thành {new_id} / the group moved to chat id {new_id}"
    if code == 401:
        return "kiểm tra token / check the token"
    if code == 403:
        return "người nhận đã chặn bot / the recipient blocked the bot or never sent /start"
    if "chat not found" in description.lower():
        return "kiểm tra chat id, đã nhắn /start cho bot chưa? / check the chat id"
    return ""


class ZaloChannel(_HttpChannel):
    """Zalo Official Account customer-service text message to a follower's user id."""

    name = "zalo"

    def __init__(self, config: ZaloConfig, client: httpx.AsyncClient | None = None) -> None:
        token = config.access_token.get_secret_value()
        super().__init__(config.timeout, client, (token,))
        self._url = f"{config.base_url.rstrip('/')}/v3.0/oa/message/cs"
        self._token = token

    async def send(self, address: str, message: Message) -> Result:
        """Send the subject and text as one text message; Zalo reports errors in HTTP 200."""
        from alerts.channels import Outcome, Result

        body = {
            "recipient": {"user_id": address},
            "message": {"text": _truncate(_one_text(message), ZALO_LIMIT)},
        }
        answer = await self._post(self._url, _json_bytes(body), {"access_token": self._token})
        if not isinstance(answer, httpx.Response):
            return answer
        if not answer.is_success:
            return self._by_status(answer, {})
        data = _answer_json(answer)
        error = data.get("error") if data is not None else None
        if data is None or not isinstance(error, int) or isinstance(error, bool):
            return Result(Outcome.UNCERTAIN, f"HTTP {answer.status_code}: not a Zalo answer")
        if error == 0:
            return Result(Outcome.SENT, f"message_id {_field(data, 'data', 'message_id')}")
        detail = f"Zalo {error} {self._scrub(_snippet(str(data.get('message', ''))))}".rstrip()
        hint = _ZALO_HINTS.get(error)
        return Result(Outcome.FAILED, f"{detail}: {hint}" if hint else detail)


_ZALO_HINTS = {
    -216: "kiểm tra access_token / check the access token",
    -213: "người dùng chưa quan tâm OA / the user does not follow the OA",
    -230: "người dùng không tương tác với OA 7 ngày qua / no interaction with the OA in 7 days",
}
