"""``camnet collector`` settings: environment ``CAMNET_COLLECTOR_*`` or command-line flags."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.db import DEFAULT_URL


class CollectorSettings(BaseSettings):
    """Everything the collector needs; built once in ``main`` and passed down."""

    model_config = SettingsConfigDict(env_prefix="CAMNET_COLLECTOR_", extra="forbid")

    db_url: str = Field(DEFAULT_URL, description="sqlite:///file.db or postgresql+psycopg://...")
    mqtt_host: str = Field("127.0.0.1", description="MQTT broker host.")
    mqtt_port: int = Field(1883, ge=1, le=65535, description="MQTT broker port (8883 for TLS).")
    mqtt_username: str | None = Field(None, description="MQTT user name.")
    mqtt_password: SecretStr | None = Field(None, description="MQTT password; never logged.")
    mqtt_tls: bool = Field(False, description="Connect with TLS.")
    mqtt_ca_file: str | None = Field(None, description="CA bundle for the broker's certificate.")
    client_id: str = Field(
        "camnet-collector-1",
        description="MQTT client id; the persistent session (queued reports) belongs to it.",
    )
    share_group: str = Field(
        "",
        description="Shared-subscription group ($share/<group>/...) so several collectors "
        "split the load on a broker cluster (EMQX, VerneMQ). Empty (default): a plain "
        "subscription, which mosquitto 2.0 keeps across its own restarts (its shared "
        "subscriptions lose what is queued for an offline member then; docs/collector.md).",
    )
    batch_size: int = Field(1000, gt=0, description="Messages stored per transaction at most.")
    batch_wait: float = Field(0.05, ge=0, description="Seconds to wait to fill a batch.")
    worse_after: int = Field(3, ge=1, description="Worse reports in a row before a change.")
    worse_after_seconds: float = Field(300, gt=0, description="...or seconds a worse status held.")
    better_after: int = Field(2, ge=1, description="Better reports in a row before a change.")
    offline_after_heartbeats: float = Field(
        3, gt=0, description="An agent silent this many heartbeats is offline."
    )
    watchdog_interval: float = Field(5, gt=0, description="Seconds between offline checks.")
    ratio_interval: float = Field(15, gt=0, description="Seconds between ratio gauge updates.")
    events: bool = Field(
        True,
        description="Publish camera state changes on camnet/v1/events/state after each commit "
        "(camnet jobs and alerts wake on them).",
    )
    coverage: bool = Field(
        True, description="Keep key-area coverage per commune up to date (gauges)."
    )
    coverage_reload: float = Field(
        600, gt=0, description="Seconds between full coverage recomputes (new cameras/areas)."
    )
    metrics_host: str = Field("127.0.0.1", description="Prometheus metrics listen address.")
    metrics_port: int = Field(9110, ge=0, le=65535, description="Metrics port; 0 turns it off.")
    backoff_max: float = Field(30, gt=0, description="Longest pause between reconnects (s).")
