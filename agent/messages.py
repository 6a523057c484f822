"""What the edge agent says about a camera: the vocabulary and the probe report.

The producer owns the contract (STYLE.md). This module imports only the standard library
and pydantic so that collectors and other systems can use it without cv2 or PyAV.

Vocabulary:

* ``Cause`` — why a probe could not produce a picture (stream level, always ``down``).
* ``Fault`` — what is wrong with a picture or with the stream against its declared spec.
* ``Status`` — ``ok``, ``degraded`` or ``down``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

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
