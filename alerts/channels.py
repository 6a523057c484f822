"""How ``camnet alerts`` hands one message to a service: e-mail, webhook, Telegram, Zalo OA.

``send`` answers every network or service failure with a :class:`Result`; only a
programming error raises. The outcome tells the outbox what to do next:

- ``SENT``: the service accepted the message.
- ``RETRY``: it surely did not get through (connection refused, connect timeout, DNS,
  HTTP 429/5xx, SMTP 4xx): send it again later, not before ``retry_after`` when set.
- ``FAILED``: refused for good (wrong token, unknown recipient, HTTP 4xx, SMTP 5xx).
- ``UNCERTAIN``: the request left and no answer came (read timeout, connection dropped
  after sending, SMTP failure once DATA began). Never retried: at most once is the rule,
  so an officer is not alerted twice about one camera; the delivery log shows the doubt.

Tokens, passwords and the webhook key never appear in a ``detail``; the Telegram token
(part of the URL path) is blanked out of httpx's request log lines as well.

This module holds the contract and ``build_channels``; the channels themselves live in
``alerts.channels_http`` (webhook, Telegram, Zalo) and ``alerts.channels_email``, and are
imported from here. They import the types below inside functions, so that either module
can be imported first without a cycle.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from alerts.channel_config import ChannelsConfig
from alerts.channels_email import EmailChannel
from alerts.channels_http import TelegramChannel, WebhookChannel, ZaloChannel

__all__ = [
    "Channel",
    "EmailChannel",
    "Message",
    "Outcome",
    "Result",
    "TelegramChannel",
    "WebhookChannel",
    "ZaloChannel",
    "build_channels",
    "sign",
]


@dataclass(frozen=True)
class Message:
    """One rendered notification for one recipient."""

    delivery_id: str  # the outbox row id as text: the webhook header, the Message-ID
    subject: str  # one line: the e-mail Subject, the first line elsewhere
    text: str  # plain text body, UTF-8 Vietnamese
    payload: dict[str, Any]  # JSON-able: the webhook body's "data"


class Outcome(StrEnum):
    """What became of one attempt (see the module docstring)."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Result:
    """The outcome of one attempt, with a short detail for the delivery log."""

    outcome: Outcome
    detail: str = ""  # HTTP status + service message, or the exception; hint where useful
    retry_after: float | None = None  # seconds the service asked us to wait


class Channel(Protocol):
    """A way to reach people; ``build_channels`` makes one per configured service."""

    name: str  # "email" | "webhook" | "telegram" | "zalo"

    async def send(self, address: str, message: Message) -> Result:
        """Deliver ``message`` to ``address``; failures are results, never exceptions."""
        ...

    async def aclose(self) -> None:
        """Release what the channel holds (an HTTP client it made itself)."""
        ...


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``timestamp + "." + body``: the webhook signature.

    The timestamp is signed with the body, so a receiver rejecting stale timestamps also
    rejects a captured body replayed later under a fresh timestamp.
    """
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def build_channels(config: ChannelsConfig) -> dict[str, Channel]:
    """Return a channel per configured service.

    Keys are ``email``, ``telegram`` and ``zalo`` for those configured, and
    ``webhook:<name>`` for each webhook. Nothing connects yet.

    Raises:
        ValueError: two webhooks share a name (their delivery logs would mix).
    """
    channels: dict[str, Channel] = {}
    if config.email is not None:
        channels["email"] = EmailChannel(config.email)
    if config.telegram is not None:
        channels["telegram"] = TelegramChannel(config.telegram)
    if config.zalo is not None:
        channels["zalo"] = ZaloChannel(config.zalo)
    for hook in config.webhooks:
        key = f"webhook:{hook.name}"
        if key in channels:
            raise ValueError(f"two webhooks are named {hook.name!r}: give each its own name")
        channels[key] = WebhookChannel(hook)
    return channels
