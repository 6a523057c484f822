"""Turn a :class:`~alerts.notice.Notice` into words: a subject, a text and a JSON payload.

One Jinja2 template per kind and language in ``alerts/templates/<vi|en>/``:
``<kind>.txt.j2`` is the body (Telegram, Zalo, the e-mail text), ``<kind>.subject.j2``
the one-line subject (e-mail subject, the first line people see). Everything a template
shows is prepared here — times in Asia/Ho_Chi_Minh as "HH:MM dd/mm/yyyy", durations in
words, links — so the templates only arrange it. Plain text: no HTML escaping; strict
undefined, so a template naming a missing value fails in the tests, not in a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from alerts.notice import KINDS, CameraItem, Notice
from collector.ratio import VN

__all__ = ["MAX_LISTED", "SUBJECT_MAX", "Rendered", "duration_text", "render"]

#: Cameras listed in one message; the rest are counted ("… và N camera khác").
MAX_LISTED = 20
#: Longest subject, in characters.
SUBJECT_MAX = 150
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n){2,}")
TEMPLATES = Path(__file__).resolve().parent / "templates"

_PRIORITY = {
    "vi": {
        "hotspot": "điểm nóng",
        "main_road": "trục đường chính",
        "border": "giáp ranh",
        "normal": "thường",
    },
    "en": {"hotspot": "hotspot", "main_road": "main road", "border": "border", "normal": "normal"},
}
_UNITS = {"vi": ("ngày", "giờ", "phút", "dưới 1 phút"), "en": ("d", "h", "min", "under 1 min")}


@dataclass(frozen=True)
class Rendered:
    """A notice in words, ready for any channel."""

    subject: str  # one line, at most SUBJECT_MAX characters
    text: str  # plain text: Telegram / Zalo message, e-mail body
    payload: dict[str, Any]  # JSON-able, for webhooks


def duration_text(seconds: float, language: str) -> str:
    """``seconds`` in words, two units at most: "2 giờ 5 phút" / "2 h 5 min", "3 ngày 4 giờ".

    Under a minute (or negative, a clock off by a little) is "dưới 1 phút" / "under 1 min".
    """
    day, hour, minute, under = _UNITS[_lang(language)]
    minutes = int(seconds // 60) if seconds >= 0 else 0
    if minutes < 1:
        return under
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} {day} {hours} {hour}" if hours else f"{days} {day}"
    if hours:
        return f"{hours} {hour} {mins} {minute}" if mins else f"{hours} {hour}"
    return f"{mins} {minute}"


def render(notice: Notice, language: str, dashboard_url: str) -> Rendered:
    """Words for ``notice`` in ``language`` ("en", anything else Vietnamese).

    Args:
        notice: What happened.
        language: The recipient's language.
        dashboard_url: The dashboard's address; links to tasks and cameras start with it.

    Raises:
        ValueError: ``notice.kind`` is not one of ``alerts.notice.KINDS``.
    """
    if notice.kind not in KINDS:
        raise ValueError(f"unknown notice kind {notice.kind!r}; kinds: {', '.join(KINDS)}")
    lang, base = _lang(language), dashboard_url.rstrip("/")
    context = _context(notice, lang, base)
    env = _environment()
    body = env.get_template(f"{lang}/{notice.kind}.txt.j2").render(context)
    subject = " ".join(env.get_template(f"{lang}/{notice.kind}.subject.j2").render(context).split())
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1].rstrip() + "…"
    text = _BLANK_LINES.sub("\n\n", body).strip() + "\n"  # templates may leave a few
    return Rendered(subject=subject, text=text, payload=_payload(notice, lang, base))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # noqa: S701 - plain text for Telegram, Zalo and e-mail, never HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["dash"] = lambda value: "—" if value is None else value
    return env


def _lang(language: str) -> str:
    return "en" if language == "en" else "vi"


def _local(at: datetime | None) -> str | None:
    """A UTC-aware instant as Vietnamese local time "HH:MM dd/mm/yyyy"."""
    return at.astimezone(VN).strftime("%H:%M %d/%m/%Y") if at is not None else None


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


def _percent(ratio: float | None, lang: str) -> str | None:
    """0.875 → "87,5%" (vi) / "87.5%" (en); whole numbers without decimals."""
    if ratio is None:
        return None
    text = f"{ratio * 100:.1f}".removesuffix(".0")
    return (text.replace(".", ",") if lang == "vi" else text) + "%"


def _coordinate(value: float) -> str:
    return str(round(value, 6))


def _map_url(item: CameraItem) -> str | None:
    if item.lat is None or item.lon is None:
        return None
    lat, lon = _coordinate(item.lat), _coordinate(item.lon)
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"


def _task_url(base: str, task_id: int | None) -> str | None:
    return f"{base}/tasks/{task_id}" if task_id is not None else None


def _camera_url(base: str, camera_id: str) -> str:
    return f"{base}/cameras/{camera_id}"


def _task_of(notice: Notice) -> int | None:
    """The task to open: the notice's own, else the task of its only camera."""
    if notice.task_id is not None or len(notice.items) != 1:
        return notice.task_id
    return notice.items[0].task_id


def _item_view(item: CameraItem, notice: Notice, lang: str, base: str) -> dict[str, Any]:
    """What a template shows of one camera, all in ``lang``."""
    first, second = (
        (item.diagnosis_en, item.diagnosis) if lang == "en" else (item.diagnosis, item.diagnosis_en)
    )
    down = (notice.at - item.since).total_seconds() if item.since is not None else None
    return {
        "id": item.camera_id,
        "problem": item.problem,
        "diagnosis": first or second or item.problem,
        "priority": _PRIORITY[lang].get(item.priority, item.priority),
        "urgent": item.priority != "normal",
        "since": _local(item.since),
        "down_for": duration_text(down, lang) if down is not None else None,
        "repair": (
            duration_text(item.repair_seconds, lang) if item.repair_seconds is not None else None
        ),
        "map_url": _map_url(item),
        "task_url": _task_url(base, item.task_id),
        "camera_url": _camera_url(base, item.camera_id),
        "link": _task_url(base, item.task_id) or _camera_url(base, item.camera_id),
    }


def _context(notice: Notice, lang: str, base: str) -> dict[str, Any]:
    """Every value the templates of ``notice.kind`` may use."""
    items = [_item_view(i, notice, lang, base) for i in notice.items]
    since = [i.since for i in notice.items if i.since is not None]
    repairs = [i.repair_seconds for i in notice.items if i.repair_seconds is not None]
    diagnoses = list(dict.fromkeys(i["diagnosis"] for i in items if i["diagnosis"]))
    late = (notice.at - notice.deadline).total_seconds() if notice.deadline else None
    return {
        "kind": notice.kind,
        "commune": notice.commune_name,
        "code": notice.commune_code,
        "at": _local(notice.at),
        "day": notice.at.astimezone(VN).strftime("%d/%m/%Y"),
        "priority": _PRIORITY[lang][notice.priority],
        "urgent": notice.priority != "normal",
        "items": items[:MAX_LISTED],
        "count": len(items),
        "more": max(len(items) - MAX_LISTED, 0),
        "ids": [i["id"] for i in items],
        "ids_text": ", ".join(i["id"] for i in items[:3]) + ("…" if len(items) > 3 else ""),
        "diagnoses": diagnoses,  # distinct, in order: a site's cameras usually share one
        "since": _local(min(since)) if since else None,
        "down_for": duration_text((notice.at - min(since)).total_seconds(), lang)
        if since
        else None,
        "repair": duration_text(max(repairs), lang) if repairs else None,
        "site": notice.site_name,
        "task_id": _task_of(notice),
        "task_url": _task_url(base, _task_of(notice)),
        "commune_url": f"{base}/cameras?commune={notice.commune_code}",
        "level": notice.level,
        "deadline": _local(notice.deadline),
        "late": duration_text(late, lang) if late is not None else None,
        "ratio": _percent(notice.ratio, lang),
        "threshold": _percent(notice.threshold, lang),
        "working": notice.working,
        "installed": notice.installed,
        "open_tasks": notice.open_tasks,
        "overdue_tasks": notice.overdue_tasks,
        "extra": notice.extra,
    }


def _payload(notice: Notice, lang: str, base: str) -> dict[str, Any]:
    """The notice as JSON-able data for webhooks: every camera, ISO UTC times."""
    return {
        "kind": notice.kind,
        "commune": {"code": notice.commune_code, "name": notice.commune_name},
        "at": _iso(notice.at),
        "priority": notice.priority,
        "items": [
            {
                "camera_id": i.camera_id,
                "problem": i.problem,
                "diagnosis": i.diagnosis,
                "diagnosis_en": i.diagnosis_en,
                "since": _iso(i.since),
                "priority": i.priority,
                "lat": i.lat,
                "lon": i.lon,
                "task_id": i.task_id,
                "task_url": _task_url(base, i.task_id),
                "camera_url": _camera_url(base, i.camera_id),
                "repair_seconds": i.repair_seconds,
            }
            for i in notice.items
        ],
        "task_id": _task_of(notice),
        "task_url": _task_url(base, _task_of(notice)),
        "site_name": notice.site_name,
        "level": notice.level,
        "deadline": _iso(notice.deadline),
        "ratio": notice.ratio,
        "working": notice.working,
        "installed": notice.installed,
        "threshold": notice.threshold,
        "open_tasks": notice.open_tasks,
        "overdue_tasks": notice.overdue_tasks,
        "extra": dict(notice.extra),
        "language": lang,
    }
