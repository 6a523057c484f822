"""The agent's config file (``agent.yaml``): which cameras, how often, where reports go.

Validated by pydantic models with ``extra="forbid"`` and a description on every field.
``load_config`` turns every validation error into a line ``file:line: field: message —
what to write instead``, found by walking the YAML node tree to the offending value.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.errors import ConfigError, InvalidConfigError


def secret_from_env(value: Any) -> Any:
    """``"env:NAME"`` → the value of ``$NAME``; anything else as it is.

    Keeps passwords out of agent.yaml: a systemd EnvironmentFile or compose sets them.
    """
    if not (isinstance(value, str) and value.startswith("env:")):
        return value
    name = value.removeprefix("env:").strip()
    found = os.environ.get(name) if name else None
    if not found:
        raise ValueError(
            f"environment variable {name!r} is not set (or empty): export {name or 'NAME'}=... "
            "or write the password here"
        )
    return found


FIX_HINTS = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check its spelling",
    "int_parsing": "write a whole number",
    "float_parsing": "write a number",
    "greater_than": "write a larger number",
    "greater_than_equal": "write a larger number",
    "less_than_equal": "write a smaller number",
    "bool_parsing": "write true or false",
    "literal_error": "use one of the allowed values",
    "string_pattern_mismatch": "follow the pattern shown",
}


class Expected(BaseModel):
    """What the inventory declares for a camera's stream (checked as faults when set)."""

    model_config = ConfigDict(extra="forbid")

    width: int | None = Field(None, gt=0, description="Declared width in pixels.")
    height: int | None = Field(None, gt=0, description="Declared height in pixels.")
    fps: float | None = Field(None, gt=0, description="Declared frame rate.")
    audio: bool | None = Field(None, description="True if the camera should send audio.")


class CameraConfig(BaseModel):
    """One camera the agent probes."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Camera id from the registry (letters, digits, - _ .).",
    )
    url: str = Field(description="rtsp://host[:port]/path (rtspt:// forces TCP).")
    name: str | None = Field(None, description="Human name, e.g. 'Ngã ba chợ'.")
    username: str | None = Field(None, description="RTSP user name (or put it in the URL).")
    password: SecretStr | None = Field(
        None, description='RTSP password; never logged. "env:NAME" reads it from $NAME.'
    )
    transport: Literal["auto", "tcp", "udp"] | None = Field(
        None, description="RTP transport; default from the agent settings."
    )
    expected: Expected = Field(default_factory=Expected, description="Declared stream spec.")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Picture thresholds overriding the defaults."
    )

    @field_validator("password", mode="before")
    @classmethod
    def _password_from_env(cls, value: Any) -> Any:
        return secret_from_env(value)

    @field_validator("url")
    @classmethod
    def _rtsp_only(cls, value: str) -> str:
        if not value.startswith(("rtsp://", "rtspt://")):
            raise ValueError("must start with rtsp:// or rtspt://")
        return value

    def full_url(self) -> str:
        """URL with the configured credentials put in (for the RTSP client only)."""
        if not self.username:
            return self.url
        from urllib.parse import quote

        scheme, rest = self.url.split("://", 1)
        rest = rest.split("@", 1)[-1]
        secret = quote(self.password.get_secret_value(), safe="") if self.password else ""
        return f"{scheme}://{quote(self.username, safe='')}:{secret}@{rest}"


class MqttConfig(BaseModel):
    """Where and how the agent publishes (the ``mqtt:`` section of ``agent.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(description="Broker host name or address.")
    port: int | None = Field(
        None, gt=0, le=65535, description="Broker port; default 1883, or 8883 with tls."
    )
    username: str | None = Field(None, description="MQTT user name (from the broker's ACL).")
    password: SecretStr | None = Field(
        None, description='MQTT password; never logged. "env:NAME" reads it from $NAME.'
    )
    tls: bool = Field(False, description="Connect with TLS (verifying the broker certificate).")
    ca_file: Path | None = Field(
        None, description="CA certificate(s) (PEM) that signed the broker's; default: system CAs."
    )
    cert_file: Path | None = Field(None, description="Client certificate (PEM), if required.")
    key_file: Path | None = Field(None, description="Client private key (PEM) for cert_file.")
    tls_insecure: bool = Field(
        False,
        description="Skip the broker host name check (the certificate is still verified). "
        "Only for a broker reached by an address its certificate does not name.",
    )
    protocol: Literal["5", "3.1.1"] = Field(
        "5",
        description="MQTT version. 5: a publish the broker's ACL refuses is seen (kept in the "
        "outbox, logged). 3.1.1: for brokers without MQTT 5 (amqtt, `camnet broker`).",
    )
    keepalive: int = Field(60, ge=5, le=65535, description="Seconds between MQTT pings when idle.")
    heartbeat: float = Field(
        60.0, gt=0, le=86_400, description="Seconds between 'online' AgentStatus messages."
    )
    outbox_path: Path | None = Field(
        None, description="SQLite outbox file; default: <state_dir>/outbox.sqlite."
    )
    outbox_max: int = Field(
        100_000, gt=0, description="Messages kept while the broker is away; oldest dropped."
    )
    inflight: int = Field(
        100, gt=0, le=1000, description="Messages sent and not yet acknowledged, at most."
    )
    backoff_max: float = Field(
        60.0, gt=0, description="Longest wait in seconds between reconnect attempts."
    )
    flush_timeout: float = Field(
        30.0, ge=0, description="With --once: seconds to wait for the outbox to drain."
    )

    @field_validator("password", mode="before")
    @classmethod
    def _password_from_env(cls, value: Any) -> Any:
        return secret_from_env(value)

    @model_validator(mode="after")
    def _tls_files_need_tls(self) -> MqttConfig:
        if not self.tls and (self.ca_file or self.cert_file or self.key_file or self.tls_insecure):
            raise ValueError("ca_file, cert_file, key_file and tls_insecure need 'tls: true'")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file is given without cert_file")
        if self.password is not None and not self.username:
            raise ValueError("password is given without username")
        return self

    def effective_port(self) -> int:
        """The port to connect to: ``port``, or 8883 with TLS and 1883 without."""
        if self.port is not None:
            return self.port
        return 8883 if self.tls else 1883

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context these settings describe (``None`` without ``tls``).

        Raises:
            ConfigError: A certificate or key file cannot be read or is not valid PEM.
        """
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file is not None:
                context.load_cert_chain(self.cert_file, self.key_file)
        except OSError as exc:  # ssl.SSLError is an OSError
            files = ", ".join(str(f) for f in (self.ca_file, self.cert_file, self.key_file) if f)
            what = f"mqtt: TLS files unusable: {exc} — check ca_file, cert_file and key_file"
            raise ConfigError(files or "system CA store", None, what) from exc
        context.check_hostname = not self.tls_insecure
        return context


class AgentConfig(BaseModel):
    """The whole ``agent.yaml``."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="This edge box's id."
    )
    commune: str = Field(pattern=r"^\d{5}$", description="5-digit commune code it serves.")
    interval: float = Field(60.0, gt=0, description="Seconds between probes of one camera.")
    jitter: float = Field(
        0.2, ge=0, le=0.9, description="Spread of each interval (fraction) so probes never align."
    )
    timeout: float = Field(10.0, gt=0, description="Deadline of one probe in seconds.")
    concurrency: int = Field(32, gt=0, description="Cameras probed at the same time at most.")
    decode_workers: int = Field(2, gt=0, description="Threads decoding and judging pictures.")
    transport: Literal["auto", "tcp", "udp"] = Field(
        "tcp", description="Default RTP transport (tcp passes NAT and firewalls)."
    )
    state_dir: Path = Field(Path("var/agent"), description="Per-camera history is kept here.")
    reports: str | None = Field(
        "var/agent/reports.jsonl",
        description="JSON-lines file for reports, '-' for stdout, or null for none.",
    )
    metrics_host: str = Field("127.0.0.1", description="Prometheus metrics listen address.")
    metrics_port: int = Field(
        9108, ge=0, le=65535, description="Prometheus metrics port; 0 turns it off."
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Picture thresholds for every camera."
    )
    mqtt: MqttConfig | None = Field(
        None, description="Publish to this MQTT broker (with an on-disk outbox); null: don't."
    )
    cameras: list[CameraConfig] = Field(description="The cameras of this site.")

    @model_validator(mode="after")
    def _reports_go_somewhere(self) -> AgentConfig:
        if self.reports is None and self.mqtt is None:
            raise ValueError("reports: null and no mqtt section: the reports would go nowhere")
        return self

    def outbox_path(self) -> Path:
        """The outbox file: ``mqtt.outbox_path`` or ``<state_dir>/outbox.sqlite``."""
        if self.mqtt is not None and self.mqtt.outbox_path is not None:
            return self.mqtt.outbox_path
        return self.state_dir / "outbox.sqlite"


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Follow ``loc`` through the YAML node tree; return the 1-based line of the value."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            nxt = node.value[key] if key < len(node.value) else None
        else:
            nxt = None
        if nxt is None:
            break
        node, line = nxt, nxt.start_mark.line + 1
    return line


def load_config(path: Path) -> AgentConfig:
    """Read and validate ``path``; raise ``InvalidConfigError`` naming file, line and fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        error = ConfigError(str(path), None, f"cannot read: {exc.strerror}")
        raise InvalidConfigError([error]) from exc
    try:
        root = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InvalidConfigError([ConfigError(str(path), line, f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise InvalidConfigError([ConfigError(str(path), 1, "expected a mapping (agent_id: ...)")])
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidConfigError(_errors(path, root, exc, ())) from exc
    errors = _post_checks(path, root, config)
    if errors:
        raise InvalidConfigError(errors)
    return config


def _errors(
    path: Path, root: yaml.Node | None, exc: ValidationError, prefix: tuple[int | str, ...]
) -> list[ConfigError]:
    errors = []
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        field = ".".join(str(p) for p in loc)
        hint = FIX_HINTS.get(err["type"], "see docs/agent.md")
        errors.append(
            ConfigError(str(path), _line_of(root, loc), f"{field}: {err['msg']} — {hint}")
        )
    return errors


def _post_checks(path: Path, root: yaml.Node | None, config: AgentConfig) -> list[ConfigError]:
    """Unique camera ids; thresholds checked against the picture judgment's own model."""
    from agent.quality import Thresholds

    errors: list[ConfigError] = []
    seen: set[str] = set()
    for i, cam in enumerate(config.cameras):
        if cam.id in seen:
            line = _line_of(root, ("cameras", i, "id"))
            what = f"cameras.{i}.id: {cam.id!r} appears twice — give each camera its own id"
            errors.append(ConfigError(str(path), line, what))
        seen.add(cam.id)
    try:
        Thresholds(**config.thresholds)
    except ValidationError as exc:
        errors += _errors(path, root, exc, ("thresholds",))
    for i, cam in enumerate(config.cameras):
        if cam.thresholds:
            try:
                Thresholds(**cam.thresholds)
            except ValidationError as exc:
                errors += _errors(path, root, exc, ("cameras", i, "thresholds"))
    return errors
