"""How ``camnet alerts`` reaches people: the settings of each channel.

Part of the alerts rules file (``channels:``, see deploy/alerts.example.yaml). A channel
left out is off; its recipients' contacts on it are skipped (counted, logged). HTTP
channels take a ``base_url`` so that a test, a proxy or a local gateway can stand in for
the public service (tests run them against local servers speaking the same HTTP API).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

_ID = r"^[A-Za-z0-9_.-]{1,64}$"


class EmailConfig(BaseModel):
    """SMTP submission, STARTTLS by default (port 587)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="SMTP server.")
    port: int = Field(587, ge=1, le=65535, description="587 with STARTTLS, 465 with ssl.")
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS.")
    ssl: bool = Field(False, description="Implicit TLS from the first byte (port 465).")
    username: str | None = Field(None, description="Login, when the server needs one.")
    password: SecretStr | None = Field(None, description="Password of the login.")
    sender: str = Field("camnet@localhost", description="The From address.")
    ca_file: Path | None = Field(None, description="Trust this CA (PEM); unset: the system's.")
    timeout: float = Field(20, gt=0, description="Seconds for each SMTP step.")


class WebhookConfig(BaseModel):
    """A JSON POST signed with HMAC-SHA256 (header ``X-Camnet-Signature: sha256=<hex>``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_ID, description="Names the webhook in the delivery log.")
    url: str = Field(pattern=r"^https?://", description="Where to POST.")
    secret: SecretStr = Field(description="HMAC key, at least 16 characters.")
    communes: list[str] = Field(default_factory=list, description="Only these; empty: all.")
    kinds: list[str] = Field(default_factory=list, description="Only these kinds; empty: all.")
    timeout: float = Field(10, gt=0, description="Seconds to wait for the answer.")


class TelegramConfig(BaseModel):
    """Telegram Bot API ``sendMessage``."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("https://api.telegram.org", pattern=r"^https?://")
    token: SecretStr = Field(description="The bot token from @BotFather.")
    timeout: float = Field(10, gt=0)


class ZaloConfig(BaseModel):
    """Zalo Official Account API, customer-service text message (``/v3.0/oa/message/cs``)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("https://openapi.zalo.me", pattern=r"^https?://")
    access_token: SecretStr = Field(description="The OA access token.")
    timeout: float = Field(10, gt=0)


class ChannelsConfig(BaseModel):
    """Every channel; the ones left out are off."""

    model_config = ConfigDict(extra="forbid")

    email: EmailConfig | None = None
    telegram: TelegramConfig | None = None
    zalo: ZaloConfig | None = None
    webhooks: list[WebhookConfig] = Field(default_factory=list)
