"""``schedule.cron``: a standard 5-field crontab, read the way cron reads it.

APScheduler 3's ``CronTrigger.from_crontab`` counts day-of-week 0 as Monday
and applies day-of-month AND day-of-week; cron counts 0 (and 7) as Sunday and,
when both day fields are restricted, fires on either. So digest parses the
crontab itself (cron's rules: names, ranges, lists, steps) into explicit
value sets and hands those to APScheduler's ``CronTrigger``.

Daylight saving, as cron does it: a time inside the spring-forward gap runs
once, at the same instant one hour later on the clock (02:30 → 03:30); a time
inside the repeated autumn hour runs once, the first time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from digest.config import Config
from digest.errors import ConfigError, CrontabError

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron: 0 = Sunday (and 7)
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # the most each month can have
APS_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler 3: 0 = Monday


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0  # the number of names[0]


_FIELDS = (
    _FieldSpec("minute", 0, 59),
    _FieldSpec("hour", 0, 23),
    _FieldSpec("day of month", 1, 31),
    _FieldSpec("month", 1, 12, MONTHS, 1),
    _FieldSpec("day of week", 0, 7, CRON_DAYS, 0),
)

_ITEM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>[0-9]+))?$")


def _number(token: str, spec: _FieldSpec) -> int:
    if token.isdigit():
        value = int(token)
    elif token in spec.names:
        value = spec.names.index(token) + spec.name_base
    else:
        hint = f" or a name ({', '.join(spec.names)})" if spec.names else ""
        raise CrontabError(f"{spec.name}: {token!r} is not a number{hint}")
    if not spec.low <= value <= spec.high:
        raise CrontabError(f"{spec.name}: {value} is outside {spec.low}-{spec.high}")
    return value


def _parse_field(text: str, spec: _FieldSpec) -> frozenset[int]:
    values: set[int] = set()
    for item in text.lower().split(","):
        m = _ITEM.match(item)
        if not m:
            raise CrontabError(f"{spec.name}: cannot read {item!r}")
        rng, step_text = m.group("range"), m.group("step")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise CrontabError(f"{spec.name}: the step in {item!r} must be 1 or more")
        if rng == "*":
            first, last = spec.low, spec.high
            if spec.name == "day of week":
                last = 6  # */2 = sun,tue,thu,sat (7 is Sunday again)
        elif "-" in rng:
            a, b = rng.split("-", 1)
            first, last = _number(a, spec), _number(b, spec)
            if first > last:
                raise CrontabError(
                    f"{spec.name}: the range {item!r} runs backwards"
                    + (
                        " (Sunday is 0 or 7: write 5-7 or fri,sat,sun)"
                        if spec.names == CRON_DAYS
                        else ""
                    )
                )
        else:
            first = _number(rng, spec)
            last = spec.high if step_text else first  # "5/15" = from 5 to the end, every 15
        values.update(range(first, last + 1, step))
    if spec.name == "day of week" and 7 in values:  # 7 is Sunday too
        values.discard(7)
        values.add(0)
    return frozenset(values)


@dataclass(frozen=True)
class Crontab:
    """A parsed crontab: the values cron would fire on, in cron's numbering."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]  # of the month, 1-31
    months: frozenset[int]  # 1-12
    weekdays: frozenset[int]  # cron numbering: 0 = Sunday … 6 = Saturday
    days_restricted: bool  # the day-of-month field does not start with "*"
    weekdays_restricted: bool  # the day-of-week field does not start with "*"

    def matches(self, local: datetime) -> bool:
        """Whether cron would fire at this local wall time (seconds ignored)."""
        cron_dow = (local.weekday() + 1) % 7
        day_ok = local.day in self.days
        dow_ok = cron_dow in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            days_match = day_ok or dow_ok  # cron: either day field
        else:
            days_match = day_ok and dow_ok
        return (
            local.minute in self.minutes
            and local.hour in self.hours
            and local.month in self.months
            and days_match
        )


def parse_crontab(expression: str) -> Crontab:
    """Parse ``minute hour day-of-month month day-of-week`` as cron does."""
    parts = expression.split()
    if len(parts) != 5:
        raise CrontabError(
            f"needs 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    minutes, hours, days, months, weekdays = (
        _parse_field(text, spec) for text, spec in zip(parts, _FIELDS)
    )
    either_day = not parts[2].startswith("*") and not parts[4].startswith("*")
    if not either_day and not any(min(days) <= _MONTH_DAYS[m - 1] for m in months):
        raise CrontabError(  # e.g. "0 9 31 2 *": cron accepts it and never runs it
            f"day of month {','.join(map(str, sorted(days)))} never occurs in "
            f"{','.join(MONTHS[m - 1] for m in sorted(months))}, so the schedule would never run"
        )
    return Crontab(
        expression=" ".join(parts),
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=weekdays,
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )


def _join(values: frozenset[int], spec: _FieldSpec) -> str:
    full = set(range(spec.low, spec.high + 1))
    return "*" if set(values) == full else ",".join(str(v) for v in sorted(values))


def _aps_weekdays(weekdays: frozenset[int]) -> str:
    if len(weekdays) == 7:
        return "*"
    return ",".join(APS_DAYS[(d - 1) % 7] for d in sorted(weekdays, key=lambda d: (d - 1) % 7))


def _cron_triggers(tab: Crontab, tz: ZoneInfo) -> list[CronTrigger]:
    common: dict[str, Any] = {
        "minute": _join(tab.minutes, _FIELDS[0]),
        "hour": _join(tab.hours, _FIELDS[1]),
        "month": _join(tab.months, _FIELDS[3]),
        "timezone": tz,
    }
    day = _join(tab.days, _FIELDS[2])
    dow = _aps_weekdays(tab.weekdays)
    if tab.days_restricted and tab.weekdays_restricted:
        # cron fires when EITHER day field matches; APScheduler needs both: two triggers
        return [
            CronTrigger(day=day, day_of_week="*", **common),
            CronTrigger(day="*", day_of_week=dow, **common),
        ]
    return [CronTrigger(day=day, day_of_week=dow, **common)]


def _repeated(moment: datetime) -> bool:
    """A wall time that happens twice (the repeated hour of an autumn change)."""
    first, second = moment.replace(fold=0), moment.replace(fold=1)
    if first.utcoffset() == second.utcoffset():
        return False
    tz = moment.tzinfo
    wall = moment.replace(tzinfo=None, fold=0)
    # in a spring gap the wall time does not exist: neither reading comes back to it
    return all(
        m.astimezone(UTC).astimezone(tz).replace(tzinfo=None, fold=0) == wall
        for m in (first, second)
    )


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler 3 trigger that fires when cron would, in ``timezone``.

    Picklable (it is stored in the job store) and comparable through ``repr``.
    """

    __slots__ = ("_triggers", "crontab", "expression", "timezone")

    def __init__(self, expression: str, timezone: ZoneInfo | str):
        self.expression = " ".join(expression.split())
        self.timezone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        self.crontab = parse_crontab(self.expression)
        self._triggers = _cron_triggers(self.crontab, self.timezone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        prev = previous_fire_time
        for _ in range(4):  # at most one repeated-hour duplicate to step over
            candidates = [t.get_next_fire_time(prev, now) for t in self._triggers]
            found = [c for c in candidates if c is not None]
            if not found:
                return None
            nxt: datetime = min(found, key=lambda c: c.astimezone(UTC))
            if nxt.fold == 1 and _repeated(nxt):
                # cron runs a time of the repeated hour once: it ran (or would have) at fold=0
                prev = nxt
                if nxt.astimezone(UTC) > now.astimezone(UTC):
                    now = nxt
                continue
            return nxt.astimezone(UTC).astimezone(self.timezone)  # gap times normalized
        return None  # pragma: no cover - a trigger stuck on duplicates

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "expression": self.expression, "timezone": self.timezone.key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["expression"], state["timezone"])  # type: ignore[misc]

    def __str__(self) -> str:
        return f"cron[{self.expression}] in {self.timezone.key}"

    def __repr__(self) -> str:
        return f"<CrontabTrigger {self.expression!r} timezone={self.timezone.key!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CrontabTrigger):
            return NotImplemented
        return repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


def trigger_for(config: Config) -> CrontabTrigger:
    """The send trigger of ``schedule.cron`` in ``newsletter.timezone``; a bad crontab is a
    ConfigError naming the file and the key."""
    try:
        return CrontabTrigger(config.schedule.cron, config.newsletter.tz)
    except CrontabError as exc:
        raise ConfigError(
            f"{exc} in {config.schedule.cron!r} (e.g. '0 9 * * fri')",
            path=str(config.path) if config.path else None,
            key="schedule.cron",
        ) from None


def next_runs(trigger: BaseTrigger, now: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times after ``now``."""
    out: list[datetime] = []
    prev: datetime | None = None
    moment = now
    while len(out) < count:
        nxt = trigger.get_next_fire_time(prev, moment)
        if nxt is None:
            break
        out.append(nxt)
        prev, moment = nxt, nxt
    return out


def format_run(moment: datetime, tz: ZoneInfo) -> str:
    """``Fri 2026-11-27 09:00 EST (-05:00)  =  2026-11-27 14:00 UTC``."""
    local = moment.astimezone(tz)
    offset = local.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    utc = moment.astimezone(UTC)
    return f"{local:%a %Y-%m-%d %H:%M} {local.tzname()} ({offset})  =  {utc:%Y-%m-%d %H:%M} UTC"


def hours_text(delta: timedelta) -> str:
    """A duration as an editor reads it: ``8 h``, ``45 min``, ``2 d 3 h``."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins and hours < 3 else f"{hours} h"
    return f"{mins} min"


class ShiftedTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires a fixed duration (real time, not wall time) before every fire of ``base``:
    the scheduled preview to the editors ``schedule.preview_hours_before`` hours before the send."""

    __slots__ = ("base", "before")

    def __init__(self, base: BaseTrigger, before: timedelta):
        self.base = base
        self.before = before

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        tz = now.tzinfo
        base_prev = (
            previous_fire_time.astimezone(UTC) + self.before
            if previous_fire_time is not None
            else None
        )
        base_now = now.astimezone(UTC) + self.before
        nxt: datetime | None = self.base.get_next_fire_time(base_prev, base_now)
        if nxt is None:
            return None
        return (nxt.astimezone(UTC) - self.before).astimezone(tz)

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "base": self.base, "before": self.before}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.base = state["base"]
        self.before = state["before"]

    def __str__(self) -> str:
        return f"{hours_text(self.before)} before {self.base}"

    def __repr__(self) -> str:
        return f"<ShiftedTrigger {self.before.total_seconds():g}s before {self.base!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShiftedTrigger):
            return NotImplemented
        return repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))
