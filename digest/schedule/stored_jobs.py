"""The scheduler's jobs as its job table keeps them, brought in line with the ``RunPlan``
when a scheduler starts, and what happened while none was running.

The table outlives the process (and is shared by every process on the database), so a
start finds the jobs the last one left:

- a job whose trigger is unchanged is kept, so APScheduler sees a run missed while the
  scheduler was down and sends it late inside the misfire grace; the weeks before it,
  which APScheduler coalesces away, are recorded as missed here;
- a job whose schedule changed is replaced; a run of the old schedule that was overdue
  is sent now inside the grace (for its own week), else recorded as missed;
- a send stopped mid-way (SIGTERM, a crash) resumes at once inside the grace; an older
  one is left for the editor, with the command that finishes it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from digest.clock import issue_key
from digest.errors import StoreError
from digest.schedule.cron import format_run, hours_text
from digest.schedule.logs import event
from digest.schedule.plan import JOBS_TABLE, PREVIEW_JOB_ID, SEND_JOB_ID, RunPlan, Work

TRANSIENT = "transient"  # an in-memory job store for this process's one-off jobs (resumes)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def open_job_table(store: SQLAlchemyJobStore, scheduler: BaseScheduler, engine: Engine) -> None:
    """Start the job store, creating its table when missing."""
    for attempt in range(3):  # two processes creating the table at once: one loses, retries
        try:
            store.start(scheduler, "default")
            return
        except SQLAlchemyError as exc:
            if attempt == 2:
                raise StoreError(
                    f"cannot open the scheduler's job table {JOBS_TABLE!r} in {engine.url!r}: {exc}"
                ) from exc
            time.sleep(0.5)


class StoredJobs:
    """The stored jobs of one scheduler at its start (``now``).

    ``resume_func`` names the job function that sends one run at once
    (``module:function``, as APScheduler resolves it).
    """

    def __init__(
        self,
        plan: RunPlan,
        work: Work,
        scheduler: BaseScheduler,
        store: SQLAlchemyJobStore,
        *,
        now: datetime,
        resume_func: str,
    ):
        self.plan = plan
        self.work = work
        self.scheduler = scheduler
        self.store = store
        self.now = now
        self.resume_func = resume_func

    def resume_interrupted(self) -> None:
        """A send stopped mid-way resumes now when its run is still inside the misfire
        grace; an older one is left for the editor, with the command."""
        try:
            interrupted = self.work.interrupted()
        except Exception as exc:  # noqa: BLE001 -- the scheduler starts all the same
            event(
                "interrupted",
                f"could not look for interrupted sends: {exc}",
                level=logging.WARNING,
            )
            return
        tz = self.plan.timezone
        for key, as_of in interrupted:
            late = _utc(self.now) - _utc(as_of)
            if late <= self.plan.misfire_grace:
                event(
                    "resume",
                    f"the send of the {format_run(as_of, tz)} run was interrupted; resuming it now",
                    issue=key,
                )
                self._send_now(as_of, key)
            else:
                event(
                    "interrupted",
                    f"the send of the {format_run(as_of, tz)} run was interrupted "
                    f"{hours_text(late)} ago, outside misfire_grace_hours="
                    f"{self.plan.grace_hours_text}: not resumed automatically; finish it with "
                    f"`digest send --yes --as-of {as_of.isoformat()}`",
                    issue=key,
                    level=logging.WARNING,
                )

    def ensure(self, job_id: str, func: str, trigger: BaseTrigger, name: str) -> datetime | None:
        """Keep a stored job with the same trigger (so a run missed while down is seen);
        replace it when the schedule changed. Returns the job's next run time."""
        existing = self._lookup(job_id)
        if existing is not None and existing.trigger == trigger:
            return self._keep(job_id, existing, func, name)
        if existing is not None:
            event(
                "changed",
                f"{name}: the schedule changed from {existing.trigger} to {trigger}; "
                "runs follow the new one",
            )
            old_next = existing.next_run_time
            if job_id == SEND_JOB_ID and old_next is not None and _utc(old_next) <= _utc(self.now):
                self._overdue_under_old_schedule(existing)
        self.scheduler.add_job(
            func,
            trigger,
            id=job_id,
            name=name,
            replace_existing=True,
            misfire_grace_time=self.plan.grace_seconds,
            coalesce=True,
            max_instances=1,
        )
        local_now = self.now.astimezone(self.plan.timezone)
        nxt: datetime | None = trigger.get_next_fire_time(None, local_now)
        return nxt

    def ensure_preview(self, func: str) -> None:
        """The editors' preview job when the plan has one; else none is left stored."""
        preview = self.plan.preview_trigger
        if preview is not None:
            self.ensure(PREVIEW_JOB_ID, func, preview, "editors' preview")
            return
        if self.plan.preview_before is not None:
            event(
                "preview",
                "schedule.preview_hours_before is set but newsletter.editors is "
                "empty: no preview will be sent",
                level=logging.WARNING,
            )
        if self.store.lookup_job(PREVIEW_JOB_ID) is not None:
            self.store.remove_job(PREVIEW_JOB_ID)

    def _keep(self, job_id: str, existing: Job, func: str, name: str) -> datetime | None:
        """The stored job stays, with this version's function and options."""
        nxt: datetime | None = existing.next_run_time
        if job_id == SEND_JOB_ID and nxt is not None and _utc(nxt) <= _utc(self.now):
            self._coalesced(existing)
        existing._modify(
            func=func,
            args=(),
            kwargs={},
            misfire_grace_time=self.plan.grace_seconds,
            coalesce=True,
            max_instances=1,
            executor="default",
            name=name,
        )
        self.store.update_job(existing)
        return nxt

    def _lookup(self, job_id: str) -> Job | None:
        try:
            job: Job | None = self.store.lookup_job(job_id)
            return job
        except Exception as exc:  # noqa: BLE001 -- a row this version cannot read: start it afresh
            event(
                "reset",
                f"the stored job {job_id!r} could not be read ({exc}); replacing it",
                level=logging.WARNING,
            )
            self.store.remove_job(job_id)
            return None

    def _coalesced(self, job: Job) -> datetime | None:
        """After downtime APScheduler considers only the latest missed run; the weeks before
        it are recorded as missed here (each once, never over an issue that exists).
        Returns the latest missed run."""
        tz = self.plan.timezone
        runs: list[datetime] = job._get_run_times(self.now.astimezone(tz))
        if not runs:
            return None
        latest = runs[-1]
        latest_key = issue_key(latest, tz)
        event(
            "overdue",
            f"the {format_run(latest, tz)} run was due while the scheduler was not "
            f"running; it goes out now if within misfire_grace_hours="
            f"{self.plan.grace_hours_text}",
            issue=latest_key,
        )
        seen = {latest_key}
        for fire in reversed(runs[:-1]):
            key = issue_key(fire, tz)
            if key not in seen:
                seen.add(key)
                self.work.missed(SEND_JOB_ID, fire, late_by=_utc(self.now) - _utc(fire))
        return latest

    def _overdue_under_old_schedule(self, old: Job) -> None:
        """``schedule.cron`` changed while a run of the old schedule was overdue: APScheduler
        forgets it with the old job, so it is handled here as an unchanged schedule would be:
        sent now inside the grace (for its own week), else recorded as missed."""
        latest = self._coalesced(old)
        if latest is None:
            return
        late = _utc(self.now) - _utc(latest)
        if late > self.plan.misfire_grace:
            self.work.missed(SEND_JOB_ID, latest, late_by=late)
            return
        self._send_now(latest, issue_key(latest, self.plan.timezone))

    def _send_now(self, as_of: datetime, key: str) -> None:
        """A one-off job (this process only) sending ``as_of``'s run at once; one per issue."""
        self.scheduler.add_job(
            self.resume_func,
            "date",
            run_date=self.now,
            id=f"digest-send-now-{key}",
            kwargs={"as_of": as_of},
            jobstore=TRANSIENT,
            replace_existing=True,
        )
