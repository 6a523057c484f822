"""The rules of ``camnet alerts``: what is sent, to whom, when, how often, and through what.

``AlertRules()`` holds the defaults; ``AlertRules.load(path)`` reads a YAML file of the
same keys (``deploy/alerts.example.yaml`` documents each one) where any key may be left
out. A wrong file raises :class:`~collector.yaml_rules.RulesError` naming the file, the
line, the key and what to write instead, Vietnamese first — nothing half-loaded.

Secrets (``telegram.token``, ``zalo.access_token``, ``email.password``,
``webhooks[].secret``) may be written ``env:NAME`` to be read from the environment
variable ``NAME`` when the file is loaded, so the file itself can be shared.
"""

from __future__ import annotations

import os
import random
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.channel_config import ChannelsConfig
from alerts.notice import KINDS
from collector.ratio import VN
from collector.yaml_rules import RulesError, load_yaml_model, rule_error

__all__ = [
    "AlertRules",
    "DigestRule",
    "QuietHours",
    "RateLimit",
    "RatioRule",
    "RetryRule",
    "Role",
    "Routes",
    "RulesError",
]

Priority = Literal["hotspot", "main_road", "border", "normal"]
Role = Literal["assignee", "technician", "commune", "district", "admin"]

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_TIME_HINT = 'viết giờ dạng "HH:MM", ví dụ "22:00" / write the time as "HH:MM", e.g. "22:00"'
_MAKE_KEY_HINT = (
    'tạo một khoá bằng / make one with: python -c "import secrets; print(secrets.token_hex(32))"'
)
_KINDS_HINT = "dùng một trong / use one of: " + ", ".join(KINDS)
#: Secrets that may be written ``env:NAME``: (channel, key).
_ENV_SECRETS = (("telegram", "token"), ("zalo", "access_token"), ("email", "password"))


def _local_time(value: Any) -> Any:
    """Accept ``time`` objects and "H:MM" / "HH:MM" text (local Asia/Ho_Chi_Minh)."""
    if isinstance(value, time):
        return value
    found = _TIME.match(value.strip()) if isinstance(value, str) else None
    if found is None or int(found[1]) > 23 or int(found[2]) > 59:
        raise rule_error(f"not a time of day: {value!r}", _TIME_HINT)
    return time(int(found[1]), int(found[2]))


class QuietHours(BaseModel):
    """Night hours when only the most urgent notices are sent; the rest wait for the end."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Hold notices back during quiet hours.")
    start: time = Field(time(22, 0), description='Local time quiet hours begin, "HH:MM".')
    end: time = Field(
        time(6, 0),
        description='Local time they end, "HH:MM"; may be past midnight; equal to start: '
        "never quiet.",
    )
    override_priorities: list[Priority] = Field(
        ["hotspot"],
        description="Notices about cameras of these priorities are sent even in quiet hours.",
    )

    _check_times = field_validator("start", "end", mode="before")(_local_time)

    def quiet_until(self, at: datetime) -> datetime | None:
        """When the quiet period holding ``at`` ends (UTC), or None when ``at`` is not quiet.

        Raises:
            ValueError: ``at`` is naive (times are compared in Asia/Ho_Chi_Minh).
        """
        if at.tzinfo is None:
            raise ValueError("quiet_until needs a timezone-aware datetime (UTC)")
        if not self.enabled or self.start == self.end:
            return None
        local = at.astimezone(VN)
        now, day = local.time().replace(tzinfo=None), local.date()
        start, end = self.start.replace(tzinfo=None), self.end.replace(tzinfo=None)
        if start < end:  # e.g. 12:00-14:00, within one day
            ends = day if start <= now < end else None
        elif now >= start:  # e.g. 22:00-06:00, before midnight
            ends = day + timedelta(days=1)
        else:  # after midnight
            ends = day if now < end else None
        return None if ends is None else datetime.combine(ends, end, VN).astimezone(UTC)


class RateLimit(BaseModel):
    """At most so many notifications to one address, so a storm does not bury a phone."""

    model_config = ConfigDict(extra="forbid")

    per_hour: int = Field(
        20,
        ge=0,
        description="Notifications per recipient address in any rolling hour; 0: no limit.",
    )


class RatioRule(BaseModel):
    """When a commune's working ratio is too low (``ratio_low``) and good again."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Send ratio_low / ratio_recovered at all.")
    below: float = Field(0.8, gt=0, le=1, description="A working ratio under this ...")
    for_minutes: float = Field(30, ge=0, description="... for this many minutes: ratio_low.")
    recover_above: float = Field(
        0.85, gt=0, le=1, description="ratio_recovered once at or above this (>= below)."
    )
    min_installed: int = Field(
        5, ge=1, description="Communes with fewer installed cameras are not judged."
    )

    @model_validator(mode="after")
    def _recover_not_below(self) -> Self:
        if self.recover_above < self.below:
            raise rule_error(
                f"recover_above ({self.recover_above}) is under below ({self.below})",
                "viết recover_above lớn hơn hoặc bằng below, ví dụ below: 0.8, recover_above: "
                "0.85 / make recover_above at least below, e.g. 0.8 and 0.85",
                "recover_above",
            )
        return self


class DigestRule(BaseModel):
    """The daily summary each commune officer receives."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Send the daily digest.")
    at: time = Field(time(7, 0), description='Local time it is sent, "HH:MM".')

    _check_at = field_validator("at", mode="before")(_local_time)


class RetryRule(BaseModel):
    """How a failed delivery is tried again: exponential backoff with jitter."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(8, ge=1, description="Attempts in all before giving up.")
    first_seconds: float = Field(5, gt=0, description="Wait after the first failure.")
    max_seconds: float = Field(600, gt=0, description="Longest wait between attempts.")

    @model_validator(mode="after")
    def _max_not_below_first(self) -> Self:
        if self.max_seconds < self.first_seconds:
            raise rule_error(
                f"max_seconds ({self.max_seconds}) is under first_seconds ({self.first_seconds})",
                "viết max_seconds lớn hơn first_seconds / make max_seconds at least first_seconds",
                "max_seconds",
            )
        return self

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 after the first).

        ``first_seconds * 2**(attempt-1)`` with ±20 % jitter (so deliveries failing
        together do not retry together), never more than ``max_seconds``.
        """
        base = self.first_seconds * 2.0 ** min(max(attempt, 1) - 1, 64)
        jitter = random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries, not a secret
        return min(self.max_seconds, base * jitter)


class Routes(BaseModel):
    """Which roles receive each kind of notice (``alerts.notice.KINDS``)."""

    model_config = ConfigDict(extra="forbid")

    camera_down: list[Role] = Field(["assignee", "technician"], description="A camera task raised.")
    camera_recovered: list[Role] = Field(
        ["assignee", "technician"], description="Its task verified."
    )
    site_offline: list[Role] = Field(
        ["assignee", "technician", "commune"],
        description="An agent / NVR site offline.",
    )
    site_recovered: list[Role] = Field(
        ["assignee", "technician", "commune"],
        description="The site task verified.",
    )
    task_overdue_1: list[Role] = Field(["commune"], description="Past its deadline: level 1.")
    task_overdue_2: list[Role] = Field(["district"], description="Still overdue later: level 2.")
    ratio_low: list[Role] = Field(["commune", "district"], description="Working ratio too low.")
    ratio_recovered: list[Role] = Field(
        ["commune", "district"], description="Working ratio good again."
    )
    digest: list[Role] = Field(["commune"], description="The daily summary.")

    def roles(self, kind: str, level: int | None = None) -> list[str]:
        """The roles that receive ``kind``; ``task_overdue`` needs its ``level`` (1 or 2).

        Raises:
            ValueError: An unknown kind, or task_overdue without level 1 or 2.
        """
        if kind == "task_overdue":
            if level not in (1, 2):
                raise ValueError(f"task_overdue needs level 1 or 2, not {level!r}")
            kind = f"task_overdue_{level}"
        elif kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        return list(getattr(self, kind))


class AlertRules(BaseModel):
    """Every rule ``camnet alerts`` applies to notifications."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["vi", "en"] = Field(
        "vi", description="Language of people without their own (app_user.language wins)."
    )
    dashboard_url: str = Field(
        "http://127.0.0.1:8000", description="Address of the dashboard, for links in messages."
    )
    kinds: list[str] = Field(
        default_factory=lambda: list(KINDS), description="Kinds of notice sent at all."
    )
    routes: Routes = Field(default_factory=Routes, description="Who receives each kind.")
    quiet_hours: QuietHours = Field(default_factory=QuietHours, description="Night hours.")
    rate_limit: RateLimit = Field(default_factory=RateLimit, description="Per-address limit.")
    ratio: RatioRule = Field(default_factory=RatioRule, description="Working-ratio notices.")
    digest: DigestRule = Field(default_factory=DigestRule, description="Daily summary.")
    retry: RetryRule = Field(default_factory=RetryRule, description="Failed deliveries.")
    channels: ChannelsConfig = Field(
        default_factory=ChannelsConfig, description="Email, Telegram, Zalo, webhooks."
    )

    @classmethod
    def load(cls, path: str | Path) -> AlertRules:
        """Read the rules from a YAML file; keys left out keep their defaults.

        Raises:
            RulesError: The file cannot be read, is not YAML, a key or value is wrong or an
                ``env:NAME`` secret is unset; every problem names the file, the line and
                what to write instead.
        """
        return load_yaml_model(cls, path, "docs/alerts.md")

    @field_validator("dashboard_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise rule_error(
                f"not an http(s) address: {value!r}",
                "viết địa chỉ bắt đầu bằng http:// hoặc https://, ví dụ "
                '"https://camnet.example.vn" / start with http:// or https://',
            )
        return value.rstrip("/")

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        for i, kind in enumerate(value):
            if kind not in KINDS:
                raise rule_error(f"unknown kind {kind!r}", _KINDS_HINT, i)
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _secrets_from_env(cls, value: Any) -> Any:
        """Replace every ``env:NAME`` secret by the variable's value (raw mappings only)."""
        if not isinstance(value, dict):
            return value
        value = dict(value)
        for channel, key in _ENV_SECRETS:
            section = value.get(channel)
            if isinstance(section, dict) and key in section:
                value[channel] = {**section, key: _from_env(section[key], channel, key)}
        hooks = value.get("webhooks")
        if isinstance(hooks, list):
            value["webhooks"] = [
                {**hook, "secret": _from_env(hook["secret"], "webhooks", i, "secret")}
                if isinstance(hook, dict) and "secret" in hook
                else hook
                for i, hook in enumerate(hooks)
            ]
        return value

    @field_validator("channels")
    @classmethod
    def _webhooks_sound(cls, value: ChannelsConfig) -> ChannelsConfig:
        for i, hook in enumerate(value.webhooks):
            if len(hook.secret.get_secret_value()) < 16:
                raise rule_error(
                    f"webhook {hook.name!r}: the secret is shorter than 16 characters",
                    _MAKE_KEY_HINT,
                    "webhooks",
                    i,
                    "secret",
                )
            for j, kind in enumerate(hook.kinds):
                if kind not in KINDS:
                    raise rule_error(
                        f"webhook {hook.name!r}: unknown kind {kind!r}",
                        _KINDS_HINT,
                        "webhooks",
                        i,
                        "kinds",
                        j,
                    )
        return value


def _from_env(value: Any, *at: str | int) -> Any:
    """``env:NAME`` → the value of the environment variable ``NAME``; anything else as is."""
    if not (isinstance(value, str) and value.startswith("env:")):
        return value
    name = value.removeprefix("env:").strip()
    found = os.environ.get(name) if name else None
    if not found:
        raise rule_error(
            f"environment variable {name!r} is not set (or empty)",
            f"đặt biến môi trường / set it: export {name or 'NAME'}=... "
            "(hoặc ghi thẳng giá trị / or write the value here)",
            *at,
        )
    return found
