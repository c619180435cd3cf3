"""Time: the injectable "now", as-of parsing, issue keys and windows.

Nothing in digest calls ``datetime.now()`` directly: pass a ``Clock`` (or an
as-of) so previews and tests are deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from digest.errors import UsageError

Clock = Callable[[], datetime]

MIN_YEAR, MAX_YEAR = 1970, 9000


def system_clock() -> datetime:
    return datetime.now(UTC)


_WEEK_KEY = re.compile(r"^(\d{4})-?W(\d{2})$", re.IGNORECASE)

# Given the start and end of an ISO week (local midnights), the issue's moment in it.
WeekMoment = Callable[[datetime, datetime], datetime | None]


def parse_as_of(value: str, tz: ZoneInfo, *, in_week: WeekMoment | None = None) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is read in ``tz``.

    An issue key (``2026-W47``, the ISO week) means that week's issue: the moment
    ``in_week(monday, next_monday)`` gives (the scheduled run, for the CLI), or the
    week's last second when it gives none. (Python alone would read ``2026-W47`` as
    that Monday's midnight, whose window is the week before.)
    """
    text = value.strip()
    week = _WEEK_KEY.match(text)
    if week:
        return _week_moment(value, int(week[1]), int(week[2]), tz, in_week)
    try:
        if len(text) == 10:  # a bare date: the end of that day, local time
            d = date.fromisoformat(text)
            dt = datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=tz)
        else:
            dt = datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z
    except ValueError:
        raise UsageError(
            f"--as-of {value!r} is not an ISO 8601 date-time (e.g. 2026-01-09T09:00)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    if not MIN_YEAR <= dt.year <= MAX_YEAR:  # windows and week keys need room on both sides
        raise _out_of_range(value)
    return dt


def _out_of_range(value: str) -> UsageError:
    return UsageError(f"--as-of {value!r} is out of range (a year from {MIN_YEAR} to {MAX_YEAR})")


def _week_moment(
    value: str, year: int, week: int, tz: ZoneInfo, in_week: WeekMoment | None
) -> datetime:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _out_of_range(value)
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise UsageError(f"--as-of {value!r}: {year} has no week {week}") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=tz)
    after = monday + timedelta(days=7)
    end = datetime(after.year, after.month, after.day, tzinfo=tz)
    moment = in_week(start, end) if in_week is not None else None
    if moment is None or not start <= moment < end:
        return (end.astimezone(UTC) - timedelta(seconds=1)).astimezone(tz)
    return moment.astimezone(tz)


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
