"""Page text in Vietnamese (default) or English, and numbers, dates and durations per language.

Catalogues are flat JSON files in ``api/locales/`` (``vi.json``, ``en.json``), one key per
text. A request's language: ``?lang=en|vi`` (kept in the session from then on), else the
session's, else the user's own (``app_user.language``), else ``ApiSettings.language``.
A key missing from a catalogue falls back to Vietnamese, then to the key itself, so a
forgotten translation shows up on the page instead of failing the request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.requests import Request

LOCALES = Path(__file__).with_name("locales")
LANGUAGES = ("vi", "en")
LANG_KEY = "lang"  # the session key of the chosen language
VN = ZoneInfo("Asia/Ho_Chi_Minh")  # every date and time on the pages is local
DASH = "—"


@cache
def catalog(lang: str) -> Mapping[str, str]:
    """The texts of ``lang`` (read once per process)."""
    data: dict[str, str] = json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def choose_language(request: Request, preferred: str | None, default: str) -> str:
    """The request's language; ``?lang=`` is remembered in the session."""
    asked = request.query_params.get("lang")
    session = request.session if "session" in request.scope else {}
    if asked in LANGUAGES:
        session[LANG_KEY] = asked
        return asked
    for lang in (session.get(LANG_KEY), preferred, default):
        if lang in LANGUAGES:
            return str(lang)
    return LANGUAGES[0]


class Translator:
    """``t(key, **values)`` for one language, with number, date and duration formats."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else LANGUAGES[0]
        self._texts = catalog(self.lang)
        self._fallback = catalog(LANGUAGES[0])

    def __call__(self, key: str, **values: object) -> str:
        """The text of ``key``, with ``{name}`` fields filled from ``values``."""
        text = self._texts.get(key) or self._fallback.get(key) or key
        return text.format(**values) if values else text

    def label(self, group: str, value: str | None) -> str:
        """``group.value`` translated when the catalogue has it, else ``value`` itself."""
        if value is None:
            return DASH
        key = f"{group}.{value}"
        return self(key) if key in self._fallback else value

    def number(self, value: float, digits: int = 1) -> str:
        """``12.5`` (en) or ``12,5`` (vi)."""
        text = f"{value:.{digits}f}"
        return text.replace(".", ",") if self.lang == "vi" else text

    def pct(self, fraction: float | None, digits: int = 1) -> str:
        """A fraction as a percentage (``87,5 %``), or a dash."""
        return DASH if fraction is None else f"{self.number(fraction * 100, digits)} %"

    def duration(self, seconds: float | None) -> str:
        """``3 ngày 4 giờ`` / ``3 d 4 h``; under a day hours and minutes; a dash for None."""
        if seconds is None:
            return DASH
        minutes = int(max(seconds, 0) // 60)
        days, rest = divmod(minutes, 24 * 60)
        hours, minutes = divmod(rest, 60)
        if days:
            return self("unit.days_hours", d=days, h=hours)
        if hours:
            return self("unit.hours_minutes", h=hours, m=minutes)
        return self("unit.minutes", m=minutes)

    def when(self, moment: datetime | None) -> str:
        """Local date and time, ``25/11/2026 14:05``."""
        return DASH if moment is None else moment.astimezone(VN).strftime("%d/%m/%Y %H:%M")

    def day(self, moment: datetime) -> str:
        """Local day and month, ``25/11``."""
        return moment.astimezone(VN).strftime("%d/%m")

    def message(self, vi: str, en: str) -> str:
        """One of a domain error's two messages."""
        return vi if self.lang == "vi" else en
