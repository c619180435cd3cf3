"""What the scheduler runs and when, apart from how (APScheduler 3, in
``apscheduler_runner``).

``RunPlan`` says when: the send trigger (``schedule.cron`` in the newsletter's
zone), the misfire grace, the optional preview to the editors some hours
before. ``Work`` says what happens at each fire time; ``digest.schedule.jobs``
has the real one (``run_send`` …), tests pass their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from digest.config import Config
from digest.schedule.cron import CrontabTrigger, ShiftedTrigger, next_runs, trigger_for
from digest.schedule.progress import LogProgress

JOBS_TABLE = "digest_scheduler_jobs"  # APScheduler's job store table in the configured database
SEND_JOB_ID = "digest-send"
PREVIEW_JOB_ID = "digest-editors-preview"


class Work(Protocol):
    """What happens when a job fires. Every method logs its own events and never raises."""

    def send(self, fire_time: datetime, *, progress: LogProgress | None = None) -> None:
        """Build and send the issue of ``fire_time``'s week (exactly once); ``progress``
        logs the send's stages (a takeover passes its own)."""

    def preview(self, send_time: datetime) -> None:
        """Email the editors the [TEST] copy of the issue due at ``send_time``."""

    def interrupted(self) -> list[tuple[str, datetime]]:
        """Issues whose send stopped mid-way (status "sending"): (key, as_of) each."""

    def missed(self, job_id: str, fire_time: datetime, *, late_by: timedelta) -> None:
        """A fire time that will not run (outside the misfire grace, or coalesced into a
        later run after downtime): record and log it."""


@dataclass(frozen=True)
class RunPlan:
    """When the scheduler acts."""

    timezone: ZoneInfo
    send_trigger: CrontabTrigger
    misfire_grace: timedelta
    preview_before: timedelta | None  # None: no scheduled preview
    editors: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Config) -> RunPlan:
        hours = config.schedule.preview_hours_before
        return cls(
            timezone=config.newsletter.tz,
            send_trigger=trigger_for(config),
            misfire_grace=timedelta(hours=config.schedule.misfire_grace_hours),
            preview_before=timedelta(hours=hours) if hours > 0 else None,
            editors=tuple(config.newsletter.editors),
        )

    @property
    def grace_seconds(self) -> int:
        """``misfire_grace_time`` for APScheduler, which takes only a positive integer:
        ``misfire_grace_hours = 0`` (never late) is one second."""
        return max(1, int(self.misfire_grace.total_seconds()))

    @property
    def grace_hours_text(self) -> str:
        hours = self.misfire_grace.total_seconds() / 3600
        return f"{hours:g}"

    @property
    def preview_trigger(self) -> ShiftedTrigger | None:
        if self.preview_before is None or not self.editors:
            return None
        return ShiftedTrigger(self.send_trigger, self.preview_before)

    def next_sends(self, now: datetime, count: int) -> list[datetime]:
        return next_runs(self.send_trigger, now, count)
