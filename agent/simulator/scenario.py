"""Scenario of ``camnet simulate``: which cameras exist, how they stream, what goes wrong.

A scenario is a YAML file validated by the pydantic models below (``extra="forbid"``)::

    defaults: {codec: h264, width: 640, height: 360, fps: 25, auth: digest}
    cameras:
      - {id: cong-ubnd, scene: astronaut, audio: aac}
      - {id: cho, codec: h265, path: /Streaming/Channels/101}
      - {count: 20, id: "cam-{n:03d}", scene: coffee}   # generates cam-001 .. cam-020
    timeline:
      - {at: 30s, camera: cho, fault: black}
      - {at: 1m, camera: cho, fault: healthy}

Every camera listens on its own port so that ``refuse`` is a real ECONNREFUSED.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Codec = Literal["h264", "h265"]
Audio = Literal["none", "aac", "pcmu"]
AuthMode = Literal["none", "basic", "digest"]
Scene = Literal["astronaut", "coffee", "chelsea", "rocket", "motorcycle", "photographer"]
#: Stream-level behaviours (what the RTSP/RTP side does).
StreamBehaviour = Literal[
    "healthy", "refuse", "silent", "auth", "not_found", "no_rtp", "no_keyframe", "no_audio"
]
#: Picture renderings (what the encoded clip shows), see ``agent.simulator.faults``.
PictureFault = Literal[
    "black",
    "covered",
    "blurred",
    "frozen",
    "moved",
    "noisy",
    "too_dark",
    "too_bright",
    "color_cast",
    "night",
    "low_fps",
    "low_resolution",
]
Behaviour = StreamBehaviour | PictureFault
BEHAVIOURS: tuple[str, ...] = (*get_args(StreamBehaviour), *get_args(PictureFault))
PICTURE_FAULTS: frozenset[str] = frozenset(get_args(PictureFault))
SCENES: tuple[str, ...] = get_args(Scene)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Return seconds for ``30``, ``30s``, ``1.5m``, ``250ms`` or ``1h``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r}; write e.g. 30s, 2m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CameraDefaults(_Model):
    """Stream settings shared by cameras that do not set them."""

    codec: Codec = Field("h264", description="Video codec: h264 or h265.")
    width: int = Field(640, ge=160, le=3840, description="Declared picture width in pixels.")
    height: int = Field(360, ge=90, le=2160, description="Declared picture height in pixels.")
    fps: int = Field(25, ge=1, le=60, description="Declared frame rate.")
    gop: float = Field(2.0, gt=0, le=10, description="Seconds between keyframes (IDR).")
    audio: Audio = Field("none", description="Audio track: none, aac or pcmu.")
    auth: AuthMode = Field("none", description="RTSP authentication: none, basic or digest.")
    username: str = Field("admin", description="User name the camera accepts.")
    password: str = Field("camnet123", description="Password the camera accepts.")

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even (4:2:0 video); write e.g. 640 or 360")
        return value


class CameraSpec(CameraDefaults):
    """One simulated camera; unset stream settings come from ``defaults``."""

    id: str = Field(description="Camera id, unique; with ``count`` a format like cam-{n:03d}.")
    count: int | None = Field(
        None, ge=1, le=2000, description="Generate this many cameras from this entry."
    )
    scene: Scene | None = Field(None, description="Picture scene; default cycles the photos.")
    path: str = Field("/live", description="RTSP path of the stream, e.g. /Streaming/Channels/101.")
    port: int | None = Field(None, ge=1, le=65535, description="Fixed RTSP port (else assigned).")
    fault: Behaviour = Field("healthy", description="Behaviour at start, e.g. healthy or black.")
    label: str | None = Field(None, description="Free text shown by the control endpoint.")

    @field_validator("path")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/', e.g. /live")
        return value.rstrip("/") or "/"


class TimelineEvent(_Model):
    """A behaviour change at a time after the simulator started."""

    at: float = Field(description="When, after start: 30, 30s, 2m, 1h.")
    camera: str = Field("*", description="Camera id, or * for every camera.")
    fault: Behaviour = Field(description="New behaviour; healthy repairs the camera.")

    @field_validator("at", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class SimulatorConfig(_Model):
    """Everything ``Simulator`` needs: cameras, ports, clip cache, fault timeline."""

    host: str = Field("127.0.0.1", description="Address every listener binds to.")
    base_port: int | None = Field(
        None, ge=1, le=65535, description="First RTSP port (camera i gets base_port+i)."
    )
    control_port: int | None = Field(
        0, ge=0, le=65535, description="HTTP control port; 0 picks a free one, null disables."
    )
    cache_dir: Path | None = Field(None, description="Clip cache directory.")
    clip_seconds: float = Field(4.0, ge=1, le=30, description="Length of each looped clip.")
    seed: int = Field(0, description="Seed of per-camera random timeline phases.")
    defaults: CameraDefaults = Field(default_factory=CameraDefaults)
    cameras: list[CameraSpec] = Field(description="Camera entries (``count`` expands).")
    timeline: list[TimelineEvent] = Field(default_factory=list, description="Faults over time.")


def expand_cameras(config: SimulatorConfig) -> list[CameraSpec]:
    """Return one ``CameraSpec`` per camera: defaults applied, ``count`` entries expanded."""
    base = config.defaults.model_dump()
    out: list[CameraSpec] = []
    for entry in config.cameras:
        given = entry.model_dump(exclude_unset=True)
        n = given.pop("count", None) or 1
        for i in range(1, n + 1):
            data = {**base, **given}
            if "count" in entry.model_fields_set:
                data["id"] = entry.id.format(n=i) if "{" in entry.id else f"{entry.id}-{i}"
            if data.get("scene") is None:
                data["scene"] = SCENES[len(out) % len(SCENES)]
            out.append(CameraSpec.model_validate(data))
    ids = [c.id for c in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"camera ids must be unique; repeated: {', '.join(dupes)}")
    return out


def healthy_config(
    n: int, *, codec: Codec = "h264", width: int = 640, height: int = 360, **kwargs: Any
) -> SimulatorConfig:
    """Return a config for ``n`` healthy cameras ``cam-001`` ..; kwargs go to the config."""
    defaults = kwargs.pop("defaults", {})
    return SimulatorConfig.model_validate(
        {
            "defaults": {"codec": codec, "width": width, "height": height, **defaults},
            "cameras": [{"id": "cam-{n:03d}", "count": n}],
            **kwargs,
        }
    )


class ScenarioError(ValueError):
    """The scenario file cannot be used; the message names the file and the fields."""


def load_scenario(path: Path) -> SimulatorConfig:
    """Read and validate a YAML scenario; raise ``ScenarioError`` naming file and fields."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: không đọc được / cannot read: {exc}") from exc
    try:
        config = SimulatorConfig.model_validate(data)
        expand_cameras(config)
    except ValidationError as exc:
        lines = [f"{path}: kịch bản sai / invalid scenario ({exc.error_count()} errors)"]
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']}")
        raise ScenarioError("\n".join(lines)) from exc
    except ValueError as exc:
        raise ScenarioError(f"{path}: cameras: {exc}") from exc
    return config
