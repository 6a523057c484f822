"""The evaluation period: 16/11 of the previous year to 15/11 (TT 124/2021/TT-BCA, art. 8.2).

Configurable start (``--period-start DD/MM``; 1/1 gives the calendar year). Dates are local
(Asia/Ho_Chi_Minh); the period covers its first day's midnight up to the midnight after its
last day. The months of the period are its calendar months, the first and last partial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from collector.ratio import local_midnight

DEFAULT_START = "16/11"
_START = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{1,2})\s*$")


class PeriodError(ValueError):
    """A period start or year that cannot be used; the message says what to write."""


@dataclass(frozen=True)
class Bucket:
    """One calendar month (or part of it) inside the period."""

    label: str  # MM/YYYY
    first_day: date
    last_day: date
    start: int  # epoch milliseconds (UTC) of first_day's local midnight
    end: int  # epoch milliseconds of the midnight after last_day


@dataclass(frozen=True)
class EvalPeriod:
    """The period of ``year``: ``first_day`` .. ``last_day`` inclusive, local dates."""

    year: int
    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        """UTC instant the period begins."""
        return local_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        """UTC instant after the period's last day."""
        return local_midnight(self.last_day + timedelta(days=1))

    def until(self, now: datetime | None = None) -> datetime:
        """Time after which nothing is counted: the end, or ``now`` while it runs."""
        now = now or datetime.now(UTC)
        return max(self.start, min(self.end, now))

    def months(self) -> list[Bucket]:
        """The calendar months of the period, in order."""
        out: list[Bucket] = []
        day = self.first_day
        while day <= self.last_day:
            nxt = date(day.year + day.month // 12, day.month % 12 + 1, 1)
            last = min(self.last_day, nxt - timedelta(days=1))
            out.append(
                Bucket(
                    f"{day.month:02d}/{day.year}",
                    day,
                    last,
                    ms(local_midnight(day)),
                    ms(local_midnight(last + timedelta(days=1))),
                )
            )
            day = nxt
        return out


def ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime (the evaluation adds up whole milliseconds)."""
    return round(value.timestamp() * 1000)


def parse_start(text: str) -> tuple[int, int]:
    """``"16/11"`` -> ``(16, 11)``.

    Raises:
        PeriodError: not a valid DD/MM.
    """
    match = _START.match(text)
    hint = "viết ngày/tháng, ví dụ 16/11 / write day/month, e.g. 16/11"
    if not match:
        raise PeriodError(f"period start {text!r} is not DD/MM — {hint}")
    day, month = int(match[1]), int(match[2])
    try:
        date(2001, month, day)  # not a leap year: 29/02 cannot start a period
    except ValueError:
        raise PeriodError(f"period start {text!r} is not a date — {hint}") from None
    return day, month


def period_for(year: int, start: str = DEFAULT_START) -> EvalPeriod:
    """The period ending in ``year`` (starting on ``start`` of the year before; 1/1: ``year``).

    Raises:
        PeriodError: the start is not DD/MM, or the year is out of range.
    """
    if not 2000 <= year <= 2100:
        raise PeriodError(f"year {year} out of range — dùng năm 2000..2100 / use 2000..2100")
    day, month = parse_start(start)
    first = date(year, 1, 1) if (day, month) == (1, 1) else date(year - 1, month, day)
    last = date(first.year + 1, month, day) - timedelta(days=1)
    return EvalPeriod(year, first, last)
