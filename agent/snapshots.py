"""Snapshots: a small JPEG of a camera's last picture, as evidence for repair tasks.

A snapshot is sent when a camera's status changes (compared with its previous report; the
first report of a camera ever counts as a change) and otherwise once a day. Each camera's
last status and last snapshot time are kept in the outbox's ``meta`` table, so a restart,
even a crash loop, sends no snapshot the collector already has: the first report after a
restart gets one only if the status differs from before the restart or the day is over.
Only reports with a picture get one: a camera down for a stream cause has nothing to show.

cv2 is imported when a picture is encoded, never at import time.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Literal, get_args

from agent.messages import Snapshot, Status

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from agent.outbox import Outbox

SNAPSHOT_WIDTH = 320
JPEG_QUALITY = 70
DAILY = 24 * 3600.0
#: Base64 limit of ``Snapshot.jpeg_base64``; a bigger JPEG is re-encoded at lower quality.
_MAX_B64 = 200_000
Reason = Literal["status_change", "daily"]


class SnapshotPolicy:
    """Decide which reports get a snapshot: on a status change and once a day per camera.

    Args:
        outbox: Keeps each camera's last status and last snapshot time (``meta``).
        every: Seconds between two snapshots of an unchanged camera (a day).
    """

    def __init__(self, outbox: Outbox, every: float = DAILY) -> None:
        self._outbox = outbox
        self._every = every
        self._status: dict[str, Status | None] = {}
        self._last: dict[str, float] = {}

    def reason(self, camera_id: str, status: Status, at: datetime) -> Reason | None:
        """Return why this report needs a snapshot, or ``None``; remember ``status``."""
        if camera_id not in self._status:  # first report since start: status before it
            stored = self._outbox.get_meta(f"status:{camera_id}")
            self._status[camera_id] = next((s for s in get_args(Status) if s == stored), None)
        if self._status[camera_id] != status:
            self._status[camera_id] = status
            self._outbox.set_meta(f"status:{camera_id}", status)
            return "status_change"
        last = self._last_at(camera_id)
        if last is None or at.timestamp() - last >= self._every:
            return "daily"
        return None

    def sent(self, camera_id: str, at: datetime) -> None:
        """Record that a snapshot of ``camera_id`` taken at ``at`` was queued."""
        self._last[camera_id] = at.timestamp()
        self._outbox.set_meta(f"snapshot_at:{camera_id}", at.timestamp())

    def _last_at(self, camera_id: str) -> float | None:
        if camera_id not in self._last:
            stored = self._outbox.get_meta(f"snapshot_at:{camera_id}")
            if stored is None:
                return None
            self._last[camera_id] = float(stored)
        return self._last[camera_id]


def encode_jpeg(
    picture: NDArray[np.uint8], width: int = SNAPSHOT_WIDTH, quality: int = JPEG_QUALITY
) -> tuple[bytes, int, int]:
    """Scale a BGR ``picture`` to ``width`` (never up) and encode it as JPEG.

    Returns:
        The JPEG bytes, its width and its height.
    """
    import cv2
    import numpy as np

    h, w = picture.shape[:2]
    if w > width:
        height = max(2, round(h * width / w / 2) * 2)
        picture = np.asarray(
            cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
        h, w = picture.shape[:2]
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the picture as JPEG")
    return data.tobytes(), w, h


def make_snapshot(
    picture: NDArray[np.uint8],
    *,
    report_id: str,
    agent_id: str,
    camera_id: str,
    commune: str,
    taken_at: datetime,
    reason: Reason,
) -> Snapshot:
    """Encode ``picture`` into the wire :class:`Snapshot` of one health report."""
    quality = JPEG_QUALITY
    while True:
        jpeg, width, height = encode_jpeg(picture, SNAPSHOT_WIDTH, quality)
        text = base64.b64encode(jpeg).decode("ascii")
        if len(text) <= _MAX_B64 or quality <= 20:
            break
        quality -= 20  # a noisy picture: trade detail for size
    return Snapshot(
        report_id=report_id,
        agent_id=agent_id,
        camera_id=camera_id,
        commune=commune,
        taken_at=taken_at,
        reason=reason,
        width=width,
        height=height,
        jpeg_base64=text,
    )
