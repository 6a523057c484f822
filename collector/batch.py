"""What a batch is made of: messages in, rows out, and the helpers that convert them."""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from agent.messages import Snapshot
from collector.models import as_utc
from collector.presence import Saved
from collector.state import Change, State


class Incoming(NamedTuple):
    """One MQTT message as received (a tuple: made once for every message, cheaply)."""

    topic: str
    payload: bytes
    received_at: datetime
    retained: bool = False  # a retained copy the broker replays on subscribe
    qos: int = 0  # how to acknowledge it after its batch is stored
    mid: int = 0  # its packet id (QoS 1 and 2)


@dataclass
class BatchResult:
    """What one batch did (for metrics and tests)."""

    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    snapshots: int = 0
    statuses: int = 0
    stale_wills: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    changes: list[tuple[str, Change]] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)


class Cam:
    """What the collector holds for one camera.

    One record, so a report costs one lookup in a dictionary of every camera instead of
    eight in four (each such lookup costs a few cache misses).
    """

    __slots__ = ("agent", "commune", "reporter", "state")

    def __init__(self) -> None:
        self.commune: str | None = None  # registry: None when not (or no longer) in it
        self.agent: str | None = None  # registry: its agent
        self.state: State | None = None  # None: never reported
        self.reporter: str | None = None  # the agent of its last report


@dataclass
class Work:
    """Rows and operations collected for one transaction."""

    health: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    presence: dict[str, dict[str, Any]] = field(default_factory=dict)
    ops: list[tuple[str, str, Change]] = field(default_factory=list)  # (kind, camera, change)
    dirty: dict[str, Cam] = field(default_factory=dict)  # cameras whose row to write
    undo: dict[str, tuple[Cam, State | None, str | None]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)  # camera_state rows
    presence_rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Prepared:
    """A batch ready to commit, and how to take it back out of the caches."""

    work: Work
    result: BatchResult
    presence_before: Saved
    ids: set[str] = field(default_factory=set)  # report ids it stores


def snapshot_row(snap: Snapshot) -> tuple[dict[str, Any] | None, str]:
    """The ``snapshot`` row of ``snap``, or None and why its picture is not a JPEG."""
    try:
        jpeg = base64.b64decode(snap.jpeg_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        return None, f"jpeg_base64: {exc}"
    if not jpeg.startswith(b"\xff\xd8"):
        return None, "jpeg_base64 is not a JPEG"
    row = {
        "camera_id": snap.camera_id,
        "report_id": snap.report_id,
        "taken_at": snap.taken_at,
        "reason": snap.reason,
        "width": snap.width,
        "height": snap.height,
        "jpeg": jpeg,
    }
    return row, ""


def state_of(row: Any, last_report_at: datetime | None) -> State:
    """A ``camera_state`` row as a :class:`State`; ``last_report_at`` is not in the row."""

    def utc(v: datetime | None) -> datetime | None:
        return as_utc(v) if v is not None else None

    return State(
        status=row["status"],
        since=as_utc(row["since"]),
        faults=row["faults"],
        cause=row["cause"],
        last_report_at=last_report_at,
        pending_status=row["pending_status"],
        pending_count=row["pending_count"],
        pending_since=utc(row["pending_since"]),
        pending_faults=row["pending_faults"],
        pending_cause=row["pending_cause"],
    )


def short(exc: ValidationError) -> str:
    """The first validation errors, short enough for the quarantine table."""
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(parts)[:2000]
