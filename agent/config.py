"""The agent's config file (``agent.yaml``): which cameras, how often, where reports go.

Validated by pydantic models with ``extra="forbid"`` and a description on every field.
``load_config`` turns every validation error into a line ``file:line: field: message —
what to write instead``, found by walking the YAML node tree to the offending value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from agent.errors import ConfigError, InvalidConfigError

FIX_HINTS = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check its spelling",
    "int_parsing": "write a whole number",
    "float_parsing": "write a number",
    "greater_than": "write a larger number",
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
    password: SecretStr | None = Field(None, description="RTSP password; never logged.")
    transport: Literal["auto", "tcp", "udp"] | None = Field(
        None, description="RTP transport; default from the agent settings."
    )
    expected: Expected = Field(default_factory=Expected, description="Declared stream spec.")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Picture thresholds overriding the defaults."
    )

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
    reports: str = Field(
        "var/agent/reports.jsonl", description="JSON-lines file for reports, or '-' for stdout."
    )
    metrics_host: str = Field("127.0.0.1", description="Prometheus metrics listen address.")
    metrics_port: int = Field(
        9108, ge=0, le=65535, description="Prometheus metrics port; 0 turns it off."
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Picture thresholds for every camera."
    )
    cameras: list[CameraConfig] = Field(description="The cameras of this site.")


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
