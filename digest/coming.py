"""Which issue is coming: the one the scheduler will send next.

Editors steer an issue before it goes out (``digest preview``, ``pin``, ``drop``,
``note``; the web desk later). "This week" is not that issue: on a Saturday the ISO
week is still the one sent the day before. ``coming_issue`` answers with the issue of
the next run of ``schedule.cron`` in the newsletter's zone that will still build an
issue, and the as-of that run builds it with (the fire time, as
``digest.schedule.jobs`` passes it to ``run_send``), so a preview covers exactly the
article window the send will.

A run is passed over when:

- it is in the past (but inside ``misfire_grace_hours``, where the scheduler still
  runs it late) and its issue has a record: that run happened (sent, skipped, …);
- its issue is already sent, sending or failed (its rendering is stored: nothing an
  editor changes reaches it), or comes before such an issue (an issue sent by hand
  ahead of its run: the weeks before it are over).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.clock import issue_key
from digest.config import Config
from digest.errors import ConfigError
from digest.store import records
from digest.store.database import Store

# statuses whose rendering is stored: the editor's controls can no longer change the issue
FROZEN_STATUSES = ("sent", "sending", "failed")
# how many runs to look past (sent ahead, or recorded) before giving up: ten years of weeks
_MAX_RUNS = 520


@dataclass(frozen=True)
class ComingIssue:
    key: str  # 2026-W49
    as_of: datetime  # what the issue is built for: the scheduled send's fire time
    sends_at: datetime  # when the scheduler sends it (in the past: late, inside the grace)


def coming_issue(config: Config, store: Store, now: datetime) -> ComingIssue:
    """The issue of the next scheduled run that will build one; see the module docstring.
    Raises ConfigError (``schedule.cron``) when the schedule never runs again."""
    from digest.schedule.cron import trigger_for  # the scheduler's own trigger

    tz = config.newsletter.tz
    trigger = trigger_for(config)
    statuses = records.statuses(store)  # one row a week: a small table
    frozen = [key for key, status in statuses.items() if status in FROZEN_STATUSES]
    last_frozen = max(frozen, default="")  # "2026-W48" keys sort as they run
    grace = timedelta(hours=config.schedule.misfire_grace_hours)
    previous: datetime | None = None
    moment = now - grace
    for _ in range(_MAX_RUNS):
        fire: datetime | None = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        key = issue_key(fire, tz)
        ran = fire <= now and key in statuses
        if not ran and key > last_frozen:
            local = fire.astimezone(tz)
            return ComingIssue(key=key, as_of=local, sends_at=local)
        previous = moment = fire
    raise ConfigError(
        f"{config.schedule.cron!r} has no run after {now.astimezone(tz):%Y-%m-%d %H:%M %Z} "
        "that would send a new issue; pass --as-of T",
        path=str(config.path) if config.path else None,
        key="schedule.cron",
    )


def frozen_status(store: Store, key: str) -> str | None:
    """The status of issue ``key`` when its rendering is stored (sent, sending, failed):
    the editor's controls no longer change it. None when they still do."""
    rec = records.get_issue(store, key)
    return rec.status if rec is not None and rec.status in FROZEN_STATUSES else None
