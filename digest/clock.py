"""Time: the injectable "now", as-of parsing, issue keys and windows.

Nothing in digest calls ``datetime.now()`` directly: pass a ``Clock`` (or an
as-of) so previews and tests are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from digest.errors import UsageError

Clock = Callable[[], datetime]

MIN_YEAR, MAX_YEAR = 1970, 9000


def system_clock() -> datetime:
    return datetime.now(UTC)


def parse_as_of(value: str, tz: ZoneInfo) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is read in ``tz``."""
    text = value.strip()
    try:
        if len(text) == 10:  # a bare date: the end of that day, local time
            d = date.fromisoformat(text)
            dt = datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=tz)
        else:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--as-of {value!r} is not an ISO 8601 date-time (e.g. 2026-01-09T09:00)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    if not MIN_YEAR <= dt.year <= MAX_YEAR:  # windows and week keys need room on both sides
        raise UsageError(
            f"--as-of {value!r} is out of range (a year from {MIN_YEAR} to {MAX_YEAR})"
        )
    return dt


def issue_key(as_of: datetime, tz: ZoneInfo) -> str:
    """The ISO week of the as-of date in the newsletter's zone: ``2026-W02``."""
    year, week, _ = as_of.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start < moment <= self.end


def window_for(as_of: datetime, days: int, tz: ZoneInfo) -> Window:
    """``days`` calendar days of wall time in ``tz`` ending at ``as_of`` (DST-correct)."""
    end = as_of.astimezone(tz)
    naive_start = end.replace(tzinfo=None) - timedelta(days=days)
    start = naive_start.replace(tzinfo=tz)
    return Window(start=start, end=end)
