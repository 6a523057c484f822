"""``camnet api`` settings: environment ``CAMNET_API_*`` or command-line flags."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.db import DEFAULT_URL


class ApiSettings(BaseSettings):
    """Everything the API process needs; built once and kept on ``app.state``."""

    model_config = SettingsConfigDict(env_prefix="CAMNET_API_", extra="forbid")

    db_url: str = Field(DEFAULT_URL, description="sqlite:///file.db or postgresql+psycopg://...")
    host: str = Field("127.0.0.1", description="Listen address.")
    port: int = Field(8000, ge=1, le=65535, description="Listen port.")
    secret_key: SecretStr | None = Field(
        None,
        description="Signs dashboard session cookies. Unset: read (or create) secret_file.",
    )
    secret_file: Path = Field(
        Path("var/api-secret"), description="Where the generated session key is kept (0600)."
    )
    https_only: bool = Field(False, description="Session cookie only over HTTPS (production).")
    session_hours: float = Field(12, gt=0, description="A dashboard login lasts this long.")
    uptime_days: int = Field(30, ge=1, le=400, description="Uptime window of the tables.")
    tile_url: str = Field(
        "",
        description="Base map tiles, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png; empty: "
        "no tiles (the map draws communes, roads and key areas from the registry).",
    )
    tile_attribution: str = Field("", description="Attribution shown for the tiles.")
    coverage_refresh: float = Field(
        300, gt=0, description="Seconds between coverage recomputes of the commune table."
    )
    language: str = Field("vi", pattern="^(vi|en)$", description="Default language.")
    evaluation_rubric: Path | None = Field(
        None, description="Rubric of the yearly evaluation (YAML); unset: camnet's default."
    )
    evaluation_period_start: str = Field(
        "16/11", pattern=r"^\d{1,2}/\d{1,2}$", description="First day (DD/MM) of the period."
    )

    def session_key(self) -> str:
        """The session signing key: configured, or kept in ``secret_file``."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.secret_file
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path.write_text(key + "\n")
        path.chmod(0o600)
        return key
