"""What the edge agent says about a camera: the vocabulary and the probe report.

The producer owns the contract (STYLE.md). This module imports only the standard library
and pydantic so that collectors and other systems can use it without cv2 or PyAV.

Vocabulary:

* ``Cause`` — why a probe could not produce a picture (stream level, always ``down``).
* ``Fault`` — what is wrong with a picture or with the stream against its declared spec.
* ``Status`` — ``ok``, ``degraded`` or ``down``.

The MQTT wire contract, version 1 (JSON Schema in ``docs/wire/``, ``python -m agent.wire``):

* ``camnet/v1/<commune>/<agent>/<camera>/health`` — :class:`HealthReport`, QoS 1.
* ``camnet/v1/<commune>/<agent>/<camera>/snapshot`` — :class:`Snapshot` (small JPEG), QoS 1.
* ``camnet/v1/agents/<agent>/status`` — :class:`AgentStatus`, retained; the Last Will
  is the same message with ``state = "offline"``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal, NamedTuple, get_args
from urllib.parse import urlsplit, urlunsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

Cause = Literal[
    "unreachable",  # connection refused / no route
    "timeout",  # TCP connect did not finish in time
    "rtsp_timeout",  # connected, but the server did not answer an RTSP request in time
    "auth_failed",  # 401 after our credentials (or none given)
    "not_found",  # 404 for the stream path
    "rtsp_error",  # any other RTSP status or a reply we cannot parse
    "no_video",  # session up but no RTP arrives, or RTP stops
    "no_keyframe",  # RTP arrives but no decodable keyframe before the deadline
    "decode_error",  # a keyframe arrived but the decoder rejected it
    "unsupported_codec",  # the SDP offers no H.264/H.265 video
]
Fault = Literal[
    "black",
    "covered",
    "blurred",
    "frozen",
    "moved",
    "noisy",
    "too_dark",
    "too_bright",
    "color_cast",
    "low_resolution",
    "low_fps",
    "no_audio",
]
Status = Literal["ok", "degraded", "down"]

CAUSES: tuple[Cause, ...] = get_args(Cause)
FAULTS: tuple[Fault, ...] = get_args(Fault)
#: Picture faults that mean nobody can use the camera: the camera is ``down``.
DOWN_FAULTS: frozenset[Fault] = frozenset({"black", "covered", "frozen"})


def status_for(cause: Cause | None, faults: list[Fault] | tuple[Fault, ...]) -> Status:
    """Return the camera status for a stream cause and picture faults.

    Every stream-level cause and black/covered/frozen mean ``down``; any other fault
    means ``degraded``; no cause and no fault means ``ok``.
    """
    if cause is not None or any(f in DOWN_FAULTS for f in faults):
        return "down"
    if faults:
        return "degraded"
    return "ok"


def redact_url(url: str) -> str:
    """Return ``url`` with any user name and password removed (never log credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class StreamInfo(BaseModel):
    """Facts about the video stream, from the SDP and the decoded keyframe."""

    model_config = ConfigDict(extra="forbid")

    codec: str | None = Field(None, description="Video codec: 'h264' or 'h265'.")
    width: int | None = Field(None, description="Decoded picture width in pixels.")
    height: int | None = Field(None, description="Decoded picture height in pixels.")
    fps: float | None = Field(None, description="Frame rate measured from RTP timestamps.")
    audio: str | None = Field(None, description="Audio codec offered in the SDP, if any.")


class ProbeReport(BaseModel):
    """The result of probing one camera once: one JSON line of ``camnet probe``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Camera URL with credentials removed.")
    camera_id: str | None = Field(None, description="Registry id, when probed by the agent.")
    probed_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC), description="When the probe started (UTC)."
    )
    status: Status = Field(description="ok, degraded or down.")
    cause: Cause | None = Field(None, description="Stream-level cause when no picture was had.")
    faults: list[Fault] = Field(default_factory=list, description="Picture and stream faults.")
    detail: str | None = Field(None, description="Short human explanation of the cause.")
    stream: StreamInfo = Field(default_factory=StreamInfo)
    metrics: dict[str, float] = Field(default_factory=dict, description="Picture metrics.")
    timings: dict[str, float] = Field(
        default_factory=dict, description="Seconds per step: connect, describe, ... total."
    )


# --------------------------------------------------------------------------- wire contract v1

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
COMMUNE_PATTERN = r"^\d{5}$"
TOPIC_ROOT = "camnet/v1"
#: Topic filters a collector subscribes to (prefix ``$share/<group>/`` to split the load).
HEALTH_FILTER = f"{TOPIC_ROOT}/+/+/+/health"
SNAPSHOT_FILTER = f"{TOPIC_ROOT}/+/+/+/snapshot"
STATUS_FILTER = f"{TOPIC_ROOT}/agents/+/status"
#: Largest payload a collector accepts; anything bigger is quarantined unparsed.
MAX_PAYLOAD = 256 * 1024
_ID = re.compile(ID_PATTERN)
_COMMUNE = re.compile(COMMUNE_PATTERN)


class HealthReport(BaseModel):
    """One probe of one camera as published by an agent (topic ``.../health``)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = Field(1, description="Wire contract version.")
    report_id: str = Field(
        pattern=r"^[0-9a-f]{32}$", description="Unique id (uuid4 hex); collectors dedup on it."
    )
    agent_id: str = Field(pattern=ID_PATTERN, description="The agent that probed.")
    camera_id: str = Field(pattern=ID_PATTERN, description="Registry id of the camera.")
    commune: str = Field(pattern=COMMUNE_PATTERN, description="5-digit commune code.")
    seq: int = Field(ge=0, description="Per-agent sequence number, increasing.")
    probed_at: AwareDatetime = Field(description="When the probe started (UTC).")
    status: Status = Field(description="ok, degraded or down.")
    cause: Cause | None = Field(None, description="Stream-level cause when no picture was had.")
    faults: list[Fault] = Field(
        default_factory=list, max_length=len(FAULTS), description="Picture and stream faults."
    )
    detail: str | None = Field(None, max_length=500, description="Short human explanation.")
    stream: StreamInfo = Field(default_factory=StreamInfo, description="Stream facts.")
    metrics: dict[str, float] = Field(
        default_factory=dict, max_length=64, description="Picture metrics by name."
    )
    timings: dict[str, float] = Field(
        default_factory=dict, max_length=32, description="Seconds per probe step; 'total'."
    )

    @classmethod
    def from_probe(
        cls, report: ProbeReport, *, report_id: str, agent_id: str, commune: str, seq: int
    ) -> HealthReport:
        """Wrap a probe report for the wire (the URL stays on the edge box)."""
        if report.camera_id is None:
            raise ValueError("a report for the wire needs the camera id")
        return cls(
            report_id=report_id,
            agent_id=agent_id,
            camera_id=report.camera_id,
            commune=commune,
            seq=seq,
            probed_at=report.probed_at,
            status=report.status,
            cause=report.cause,
            faults=report.faults,
            detail=report.detail[:500] if report.detail else None,
            stream=report.stream,
            metrics=report.metrics,
            timings=report.timings,
        )

    def topic(self) -> str:
        """The topic this report is published on."""
        return health_topic(self.commune, self.agent_id, self.camera_id)


class AgentStatus(BaseModel):
    """An agent's availability heartbeat (topic ``camnet/v1/agents/<agent>/status``, retained).

    Sent ``online`` on connect and every ``heartbeat`` seconds; the broker publishes the
    Last Will (``offline``) when the agent vanishes; the agent sends ``offline`` itself on a
    clean stop.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = Field(1, description="Wire contract version.")
    agent_id: str = Field(pattern=ID_PATTERN, description="The agent.")
    commune: str = Field(pattern=COMMUNE_PATTERN, description="5-digit commune code it serves.")
    state: Literal["online", "offline"] = Field(description="online, or offline (Last Will).")
    sent_at: AwareDatetime = Field(description="When sent (for the Last Will: when set).")
    connected_at: AwareDatetime | None = Field(
        None,
        description=(
            "When the MQTT connection this status belongs to was opened; the Last Will"
            " carries the same value, so a consumer can tell a stale Will of an older"
            " connection (a broker restart re-delivers it) from a real one."
        ),
    )
    heartbeat: float = Field(
        gt=0, le=86_400, description="Seconds between heartbeats (at most a day)."
    )
    cameras: int = Field(0, ge=0, description="Cameras this agent probes.")
    outbox_pending: int = Field(0, ge=0, description="Reports waiting in the outbox.")
    outbox_dropped: int = Field(0, ge=0, description="Reports dropped (outbox full), ever.")
    version: str = Field("", max_length=40, description="camnet version of the agent.")

    def topic(self) -> str:
        """The topic this status is published on."""
        return status_topic(self.agent_id)


class Snapshot(BaseModel):
    """Evidence: a small JPEG of the last picture (topic ``.../snapshot``).

    Sent when a camera's status changes and once a day.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = Field(1, description="Wire contract version.")
    report_id: str = Field(
        pattern=r"^[0-9a-f]{32}$", description="The health report this picture belongs to."
    )
    agent_id: str = Field(pattern=ID_PATTERN, description="The agent that probed.")
    camera_id: str = Field(pattern=ID_PATTERN, description="Registry id of the camera.")
    commune: str = Field(pattern=COMMUNE_PATTERN, description="5-digit commune code.")
    taken_at: AwareDatetime = Field(description="When the picture was taken (UTC).")
    reason: Literal["status_change", "daily"] = Field(description="Why it was sent.")
    width: int = Field(gt=0, le=4096, description="JPEG width in pixels.")
    height: int = Field(gt=0, le=4096, description="JPEG height in pixels.")
    jpeg_base64: str = Field(max_length=200_000, description="The JPEG, base64 (RFC 4648).")

    def topic(self) -> str:
        """The topic this snapshot is published on."""
        return snapshot_topic(self.commune, self.agent_id, self.camera_id)


def _check_parts(commune: str, agent_id: str, camera_id: str | None = None) -> None:
    if not _COMMUNE.match(commune):
        raise ValueError(f"commune code {commune!r} is not 5 digits")
    for name, value in (("agent", agent_id), ("camera", camera_id)):
        if value is not None and not _ID.match(value):
            raise ValueError(f"{name} id {value!r} is not a valid topic level")


def health_topic(commune: str, agent_id: str, camera_id: str) -> str:
    """``camnet/v1/<commune>/<agent>/<camera>/health``."""
    _check_parts(commune, agent_id, camera_id)
    return f"{TOPIC_ROOT}/{commune}/{agent_id}/{camera_id}/health"


def snapshot_topic(commune: str, agent_id: str, camera_id: str) -> str:
    """``camnet/v1/<commune>/<agent>/<camera>/snapshot``."""
    _check_parts(commune, agent_id, camera_id)
    return f"{TOPIC_ROOT}/{commune}/{agent_id}/{camera_id}/snapshot"


def status_topic(agent_id: str) -> str:
    """``camnet/v1/agents/<agent>/status``."""
    _check_parts("00000", agent_id)
    return f"{TOPIC_ROOT}/agents/{agent_id}/status"


class TopicParts(NamedTuple):
    """What a topic names: kind and, for camera topics, commune, agent and camera."""

    kind: Literal["health", "snapshot", "status"]
    agent_id: str
    commune: str | None = None
    camera_id: str | None = None


def parse_topic(topic: str) -> TopicParts:
    """Split a camnet v1 topic; raise ``ValueError`` saying what is wrong with it."""
    parts = topic.split("/")
    if parts[:2] != ["camnet", "v1"]:
        raise ValueError(f"topic {topic[:120]!r} is not under {TOPIC_ROOT}/")
    if len(parts) == 5 and parts[2] == "agents" and parts[4] == "status":
        _check_parts("00000", parts[3])
        return TopicParts("status", parts[3])
    if len(parts) == 6 and parts[5] in ("health", "snapshot"):
        _check_parts(parts[2], parts[3], parts[4])
        kind: Literal["health", "snapshot"] = "health" if parts[5] == "health" else "snapshot"
        return TopicParts(kind, parts[3], parts[2], parts[4])
    raise ValueError(f"topic {topic[:120]!r} is not a camnet v1 health/snapshot/status topic")


WIRE_MODELS: dict[str, type[BaseModel]] = {
    "health-report": HealthReport,
    "agent-status": AgentStatus,
    "snapshot": Snapshot,
}
