"""What one notification is about, before it becomes words (``alerts.render``).

The engine (``alerts.engine``) builds a :class:`Notice` from task events, the working
ratio or the daily digest; ``alerts.render.render`` turns it into a subject, a text and a
JSON payload in the recipient's language. Times are UTC-aware; rendering shows them in
Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: Every kind of notification, the keys of the rules file's ``routes``.
KINDS = (
    "camera_down",  # a camera task raised (down or degraded longer than its grace)
    "camera_recovered",  # its task verified: the camera works again
    "site_offline",  # an agent / NVR site offline: one notice listing its cameras
    "site_recovered",  # the site task verified
    "task_overdue",  # a task past its deadline: level 1 commune officer, 2 district
    "ratio_low",  # a commune's working ratio below the threshold for long enough
    "ratio_recovered",  # back above it
    "digest",  # the daily summary for a commune officer
)


@dataclass(frozen=True)
class CameraItem:
    """One camera a notice is about."""

    camera_id: str
    problem: str  # offline, black, covered, ... ('' when recovered or in a digest of ok)
    diagnosis: str = ""  # Vietnamese: what is wrong and what to do
    diagnosis_en: str = ""
    since: datetime | None = None  # broke at (failed_at)
    priority: str = "normal"  # hotspot | main_road | border | normal
    lat: float | None = None
    lon: float | None = None
    task_id: int | None = None
    repair_seconds: float | None = None  # recovered: how long it was broken


@dataclass(frozen=True)
class Notice:
    """Everything a message needs; which fields are set depends on ``kind``."""

    kind: str  # one of KINDS
    commune_code: str
    commune_name: str
    at: datetime  # when the notice was made (UTC)
    items: tuple[CameraItem, ...] = ()  # cameras concerned (a site's cameras; digest: down)
    site_name: str | None = None  # site_offline / site_recovered
    task_id: int | None = None  # the task to open (site task, overdue task)
    level: int | None = None  # task_overdue: 1 commune officer, 2 district
    deadline: datetime | None = None  # task_overdue
    ratio: float | None = None  # ratio_low / ratio_recovered / digest: working ratio now
    working: int | None = None  # cameras working now
    installed: int | None = None  # cameras installed now
    threshold: float | None = None  # ratio_low / ratio_recovered: the rule's threshold
    open_tasks: int | None = None  # digest
    overdue_tasks: int | None = None  # digest
    extra: dict[str, str] = field(default_factory=dict)  # free key/values for templates

    @property
    def priority(self) -> str:
        """The most urgent priority among the cameras (quiet hours may let it through)."""
        order = ("hotspot", "main_road", "border", "normal")
        found = [order.index(i.priority) for i in self.items if i.priority in order]
        return order[min(found)] if found else "normal"
