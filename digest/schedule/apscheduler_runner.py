"""``digest schedule``: the weekly send on an APScheduler 3 ``BlockingScheduler``.

- One job (``SEND_JOB_ID``), triggered by ``schedule.cron`` in the
  newsletter's zone (``CrontabTrigger``), in a ``SQLAlchemyJobStore`` on the
  configured database (table ``digest_scheduler_jobs``), with ``coalesce``,
  ``max_instances=1`` and ``misfire_grace_time = schedule.misfire_grace_hours``.
  Optionally a second job emails the editors the [TEST] copy
  ``schedule.preview_hours_before`` hours before each send.
- The stored job survives restarts: a run missed while the process was down
  goes out late inside the grace window; outside it APScheduler emits
  ``EVENT_JOB_MISSED`` and the skip is recorded on the issue and logged. Older
  runs coalesced away by a long downtime are recorded the same way.
- The job is told the fire time it runs for (APScheduler 3 does not pass it):
  ``FireTimeExecutor`` adds it to the call, so a run that goes out late still
  sends the issue of the fire time's week.
- SIGTERM / SIGINT set the stop event (the send finishes the batch in
  progress and leaves the ledger consistent), shut the scheduler down and
  return; the CLI exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
    JobEvent,
    JobExecutionEvent,
    SchedulerEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from digest.clock import Clock, issue_key, system_clock
from digest.errors import StoreError
from digest.schedule.base import JOBS_TABLE, PREVIEW_JOB_ID, SEND_JOB_ID, RunPlan, Work
from digest.schedule.cron import format_run, hours_text
from digest.schedule.logs import event

SEND_FUNC = "digest.schedule.apscheduler_runner:send_job"
PREVIEW_FUNC = "digest.schedule.apscheduler_runner:preview_job"
TRANSIENT = "transient"  # an in-memory job store for this process's one-off jobs (resumes)

# The work of the running scheduler. Jobs in the store name the functions
# below by text (they are shared by every process on the database), so the
# functions find their work here rather than in pickled arguments.
_work: Work | None = None
_plan: RunPlan | None = None


def send_job(fire_time: datetime | None = None) -> None:
    """The stored send job: build and send the issue of ``fire_time``'s week."""
    work, plan = _active()
    work.send(fire_time or datetime.now(UTC).astimezone(plan.timezone))


def preview_job(fire_time: datetime | None = None) -> None:
    """The stored preview job: fires ``preview_before`` ahead of a send."""
    work, plan = _active()
    fired = fire_time or datetime.now(UTC)
    before = plan.preview_before or timedelta(0)
    work.preview((fired.astimezone(UTC) + before).astimezone(plan.timezone))


def resume_job(as_of: datetime, fire_time: datetime | None = None) -> None:
    """A one-off job at start: send ``as_of``'s run (interrupted, or overdue when the
    schedule changed while the scheduler was down)."""
    work, _plan_ = _active()
    work.send(as_of)


def _active() -> tuple[Work, RunPlan]:
    if _work is None or _plan is None:
        raise RuntimeError("no digest scheduler is running in this process")
    return _work, _plan


class FireTimeExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """A thread pool that passes each run its scheduled fire time (``fire_time=``)."""

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        # jobs here coalesce: one run time per submission (the latest)
        last = run_times[-1:]
        super()._do_submit_job(_with_fire_time(job, last[0]), last)


def _with_fire_time(job: Job, fire_time: datetime) -> Job:
    state = job.__getstate__()
    state["kwargs"] = {**job.kwargs, "fire_time": fire_time}
    clone: Job = Job.__new__(Job)
    clone.__setstate__(state)
    clone._scheduler = job._scheduler
    clone._jobstore_alias = job._jobstore_alias
    return clone


def _send_now(scheduler: BaseScheduler, as_of: datetime, now: datetime, key: str) -> None:
    """A one-off job (this process only) sending ``as_of``'s run at once; one per issue."""
    scheduler.add_job(
        resume_job,
        "date",
        run_date=now,
        id=f"digest-send-now-{key}",
        kwargs={"as_of": as_of},
        jobstore=TRANSIENT,
        replace_existing=True,
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


class WeeklyScheduler:
    """Builds the APScheduler scheduler for a ``RunPlan`` and runs it until stopped."""

    def __init__(
        self,
        plan: RunPlan,
        work: Work,
        *,
        jobstore_engine: Engine,
        stop: threading.Event,
        clock: Clock = system_clock,
        scheduler_factory: Callable[..., BaseScheduler] = BlockingScheduler,
    ):
        self.plan = plan
        self.work = work
        self.engine = jobstore_engine
        self.stop_event = stop
        self.clock = clock
        self.scheduler_factory = scheduler_factory
        self.scheduler: BaseScheduler | None = None
        self.next_send: datetime | None = None
        self._stopper: threading.Thread | None = None
        self._stop_requested = False

    # --- setting up -------------------------------------------------------------

    def prepare(self) -> BaseScheduler:
        """The scheduler with its store, executor, listeners and jobs; not started."""
        global _work, _plan
        _work, _plan = self.work, self.plan
        grace = self.plan.grace_seconds
        scheduler = self.scheduler_factory(
            timezone=self.plan.timezone,
            executors={"default": FireTimeExecutor(max_workers=2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        )
        store = SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE)
        scheduler.add_jobstore(store, "default")
        scheduler.add_jobstore(MemoryJobStore(), TRANSIENT)
        self._start_store(store, scheduler)
        now = self.clock()
        self._resume_interrupted(scheduler, now)
        self.next_send = self._ensure_job(
            scheduler, store, SEND_JOB_ID, SEND_FUNC, self.plan.send_trigger, now, "weekly send"
        )
        preview = self.plan.preview_trigger
        if preview is not None:
            self._ensure_job(
                scheduler, store, PREVIEW_JOB_ID, PREVIEW_FUNC, preview, now, "editors' preview"
            )
        else:
            if self.plan.preview_before is not None:
                event(
                    "preview",
                    "schedule.preview_hours_before is set but newsletter.editors is "
                    "empty: no preview will be sent",
                    level=logging.WARNING,
                )
            if store.lookup_job(PREVIEW_JOB_ID) is not None:
                store.remove_job(PREVIEW_JOB_ID)
        scheduler.add_listener(
            self._on_job_event,
            EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR | EVENT_JOB_EXECUTED,
        )
        scheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)
        self.scheduler = scheduler
        return scheduler

    def _resume_interrupted(self, scheduler: BaseScheduler, now: datetime) -> None:
        """A send stopped mid-way (SIGTERM, a crash) resumes at start when its run is still
        inside the misfire grace; an older one is left for the editor, with the command."""
        try:
            interrupted = self.work.interrupted()
        except Exception as exc:
            event(
                "interrupted",
                f"could not look for interrupted sends: {exc}",
                level=logging.WARNING,
            )
            return
        for key, as_of in interrupted:
            late = _utc(now) - _utc(as_of)
            tz = self.plan.timezone
            if late <= self.plan.misfire_grace:
                event(
                    "resume",
                    f"the send of the {format_run(as_of, tz)} run was interrupted; resuming it now",
                    issue=key,
                )
                _send_now(scheduler, as_of, now, key)
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

    def _start_store(self, store: SQLAlchemyJobStore, scheduler: BaseScheduler) -> None:
        for attempt in range(3):  # two processes creating the table at once: one loses, retries
            try:
                store.start(scheduler, "default")
                return
            except SQLAlchemyError as exc:
                if attempt == 2:
                    raise StoreError(
                        f"cannot open the scheduler's job table {JOBS_TABLE!r} in "
                        f"{self.engine.url!r}: {exc}"
                    ) from exc
                time.sleep(0.5)

    def _lookup(self, store: SQLAlchemyJobStore, job_id: str) -> Job | None:
        try:
            job: Job | None = store.lookup_job(job_id)
            return job
        except Exception as exc:  # a row this version cannot read: start it afresh
            event(
                "reset",
                f"the stored job {job_id!r} could not be read ({exc}); replacing it",
                level=logging.WARNING,
            )
            store.remove_job(job_id)
            return None

    def _ensure_job(
        self,
        scheduler: BaseScheduler,
        store: SQLAlchemyJobStore,
        job_id: str,
        func: str,
        trigger: BaseTrigger,
        now: datetime,
        name: str,
    ) -> datetime | None:
        """Keep a stored job with the same trigger (so a run missed while down is seen);
        replace it when the schedule changed. Returns the job's next run time."""
        grace = self.plan.grace_seconds
        existing = self._lookup(store, job_id)
        if existing is not None and existing.trigger == trigger:
            nxt: datetime | None = existing.next_run_time
            if job_id == SEND_JOB_ID and nxt is not None and _utc(nxt) <= _utc(now):
                self._coalesced(existing, now)
            existing._modify(
                func=func,
                args=(),
                kwargs={},
                misfire_grace_time=grace,
                coalesce=True,
                max_instances=1,
                executor="default",
                name=name,
            )
            store.update_job(existing)
            return nxt
        if existing is not None:
            event(
                "changed",
                f"{name}: the schedule changed from {existing.trigger} to {trigger}; "
                "runs follow the new one",
            )
            old_next = existing.next_run_time
            if job_id == SEND_JOB_ID and old_next is not None and _utc(old_next) <= _utc(now):
                self._overdue_under_old_schedule(scheduler, existing, now)
        scheduler.add_job(
            func,
            trigger,
            id=job_id,
            name=name,
            replace_existing=True,
            misfire_grace_time=grace,
            coalesce=True,
            max_instances=1,
        )
        nxt = trigger.get_next_fire_time(None, now.astimezone(self.plan.timezone))
        return nxt

    def _coalesced(self, job: Job, now: datetime) -> datetime | None:
        """After downtime APScheduler considers only the latest missed run; the weeks before
        it are recorded as missed here (each once, never over an issue that exists).
        Returns the latest missed run."""
        runs: list[datetime] = job._get_run_times(now.astimezone(self.plan.timezone))
        if not runs:
            return None
        latest = runs[-1]
        tz = self.plan.timezone
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
                self.work.missed(SEND_JOB_ID, fire, late_by=_utc(now) - _utc(fire))
        return latest

    def _overdue_under_old_schedule(self, scheduler: BaseScheduler, old: Job, now: datetime) -> None:
        """``schedule.cron`` changed while a run of the old schedule was overdue: APScheduler
        forgets it with the old job, so it is handled here as an unchanged schedule would be:
        sent now inside the grace (for its own week), else recorded as missed."""
        latest = self._coalesced(old, now)
        if latest is None:
            return
        late = _utc(now) - _utc(latest)
        if late > self.plan.misfire_grace:
            self.work.missed(SEND_JOB_ID, latest, late_by=late)
            return
        _send_now(scheduler, latest, now, issue_key(latest, self.plan.timezone))

    # --- events -----------------------------------------------------------------

    def _on_job_event(self, ev: JobEvent) -> None:
        if not isinstance(ev, JobEvent):  # pragma: no cover
            return
        fire = getattr(ev, "scheduled_run_time", None)
        if ev.code == EVENT_JOB_MISSED and isinstance(ev, JobExecutionEvent) and fire is not None:
            self.work.missed(ev.job_id, fire, late_by=_utc(self.clock()) - _utc(fire))
        elif ev.code == EVENT_JOB_MAX_INSTANCES:
            event(
                "busy",
                f"{ev.job_id}: the previous run is still going; this fire time is skipped",
                level=logging.WARNING,
            )
        elif ev.code == EVENT_JOB_ERROR:  # the work catches everything; this is a bug
            exc = getattr(ev, "exception", None)
            event("failed", f"{ev.job_id} failed because {exc!r}", level=logging.ERROR)
        if ev.job_id == SEND_JOB_ID and ev.code in (EVENT_JOB_MISSED, EVENT_JOB_EXECUTED):
            nxt = self.plan.send_trigger.get_next_fire_time(None, self.clock())
            if nxt is not None and not self.stop_event.is_set():
                event(
                    "next",
                    f"next send {format_run(nxt, self.plan.timezone)}",
                    issue=issue_key(nxt, self.plan.timezone),
                    next_run=nxt,
                )

    def _on_started(self, _ev: SchedulerEvent) -> None:
        if self._stop_requested:
            self._shutdown_in_background()

    # --- running and stopping ---------------------------------------------------------

    def run(self, *, handle_signals: bool = True) -> None:
        """Block until stopped (SIGTERM, SIGINT or ``stop()``)."""
        global _work, _plan
        try:
            scheduler = self.scheduler or self.prepare()
        except SQLAlchemyError as exc:
            raise StoreError(
                f"the scheduler cannot use its job table {JOBS_TABLE!r} in "
                f"{self.engine.url!r}: {exc}"
            ) from exc
        previous: dict[signal.Signals, Any] = {}
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        tz = self.plan.timezone
        nxt = self.next_send
        event(
            "started",
            f"scheduler started: {self.plan.send_trigger}; next send "
            + (format_run(nxt, tz) if nxt else "never")
            + f"; misfire_grace_hours={self.plan.grace_hours_text}",
            issue=issue_key(nxt, tz) if nxt else None,
            next_run=nxt,
        )
        try:
            scheduler.start()
            if self._stopper is not None:
                self._stopper.join()
        except SQLAlchemyError as exc:
            raise StoreError(
                f"the scheduler cannot use its job table {JOBS_TABLE!r} in "
                f"{self.engine.url!r}: {exc}"
            ) from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            _work = _plan = None
        event("stopped", "scheduler stopped")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_event.is_set():
            # a second signal: stop now. The ledger survives this like a crash: the batch in
            # flight is reported on the next start and not resent blindly.
            event(
                "stopping",
                f"{signal.Signals(signum).name} again: stopping now, without "
                "waiting for the batch in progress",
                level=logging.WARNING,
            )
            for handler in logging.getLogger("digest").handlers:
                handler.flush()
            os._exit(1)
        event(
            "stopping",
            f"{signal.Signals(signum).name}: finishing the batch in progress, then stopping",
        )
        self.stop()

    def stop(self) -> None:
        """Let the batch in progress finish, then shut the scheduler down."""
        self.stop_event.set()
        self._stop_requested = True
        scheduler = self.scheduler
        if scheduler is not None and scheduler.state != STATE_STOPPED:
            self._shutdown_in_background()

    def _shutdown_in_background(self) -> None:
        if self._stopper is not None:
            return
        scheduler = self.scheduler
        assert scheduler is not None

        def shut() -> None:
            try:
                scheduler.shutdown(wait=True)  # waits for the running job
            except Exception:  # already stopped
                pass

        self._stopper = threading.Thread(target=shut, name="digest-scheduler-stop", daemon=True)
        self._stopper.start()
