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
  runs coalesced away by a long downtime are recorded the same way
  (``digest.schedule.stored_jobs`` brings the stored jobs in line at start).
- The job is told the fire time it runs for (APScheduler 3 does not pass it):
  ``FireTimeExecutor`` adds it to the call, so a run that goes out late still
  sends the issue of the fire time's week.
- With a ``Takeover`` (``digest schedule`` always passes one), an interval job every
  ``schedule.takeover_seconds`` in this process's memory job store resumes a send whose
  sender died (``digest.schedule.takeover``); ``coalesce`` and ``max_instances=1``, so a
  check that is resuming a send is never joined by the next one.
- SIGTERM / SIGINT set the stop event (the send finishes the batch in
  progress and leaves the ledger consistent), shut the scheduler down and
  return; the CLI exits 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
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
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from digest.clock import Clock, issue_key, system_clock
from digest.errors import StoreError
from digest.schedule.cron import format_run
from digest.schedule.logs import event
from digest.schedule.plan import JOBS_TABLE, SEND_JOB_ID, RunPlan, Work
from digest.schedule.stored_jobs import TRANSIENT, StoredJobs, open_job_table
from digest.schedule.takeover import TAKEOVER_JOB_ID, Takeover

# The job functions below, by the name the job table keeps (``module:function``). Stored
# jobs outlive the process and are shared by every process on the database, so these
# names stay as they are, and the functions find the work of the scheduler running in
# this process here rather than in pickled arguments.
SEND_FUNC = "digest.schedule.apscheduler_runner:send_job"
PREVIEW_FUNC = "digest.schedule.apscheduler_runner:preview_job"
RESUME_FUNC = "digest.schedule.apscheduler_runner:resume_job"
TAKEOVER_FUNC = "digest.schedule.apscheduler_runner:takeover_job"
_work: Work | None = None
_plan: RunPlan | None = None
_takeover: Takeover | None = None


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
    work, _ = _active()
    work.send(as_of)


def takeover_job(fire_time: datetime | None = None) -> None:
    """The takeover check (this process only): resume a send whose sender died."""
    if _takeover is None:
        raise RuntimeError("no digest scheduler with a takeover check is running in this process")
    _takeover.check(fire_time)


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
        takeover: Takeover | None = None,
    ):
        self.plan = plan
        # with a takeover check, every send goes through its TrackedWork, so the check can
        # tell the issues this process is sending
        self.work: Work = takeover.work if takeover is not None else work
        self.takeover = takeover
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
        global _work, _plan, _takeover
        _work, _plan, _takeover = self.work, self.plan, self.takeover
        scheduler = self.scheduler_factory(
            timezone=self.plan.timezone,
            # the send, the preview and a takeover check (which runs a whole send when it
            # resumes one): a long takeover holds up neither of the others
            executors={"default": FireTimeExecutor(max_workers=3)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.plan.grace_seconds,
            },
        )
        store = SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE)
        scheduler.add_jobstore(store, "default")
        scheduler.add_jobstore(MemoryJobStore(), TRANSIENT)
        open_job_table(store, scheduler, self.engine)
        jobs = StoredJobs(
            self.plan, self.work, scheduler, store, now=self.clock(), resume_func=RESUME_FUNC
        )
        jobs.resume_interrupted()
        self.next_send = jobs.ensure(SEND_JOB_ID, SEND_FUNC, self.plan.send_trigger, "weekly send")
        jobs.ensure_preview(PREVIEW_FUNC)
        if self.takeover is not None:
            scheduler.add_job(
                TAKEOVER_FUNC,
                "interval",
                seconds=self.takeover.every_seconds,
                id=TAKEOVER_JOB_ID,
                name="takeover check",
                jobstore=TRANSIENT,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,  # a late look is still worth making
            )
        scheduler.add_listener(
            self._on_job_event,
            EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR | EVENT_JOB_EXECUTED,
        )
        scheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)
        self.scheduler = scheduler
        return scheduler

    # --- events -----------------------------------------------------------------

    def _on_job_event(self, ev: JobEvent) -> None:
        if not isinstance(ev, JobEvent):  # pragma: no cover
            return
        if ev.job_id == TAKEOVER_JOB_ID and ev.code != EVENT_JOB_ERROR:
            return  # a look skipped while the last one resumes a send is expected, not "busy"
        fire = getattr(ev, "scheduled_run_time", None)
        if ev.code == EVENT_JOB_MISSED and isinstance(ev, JobExecutionEvent) and fire is not None:
            late = self.clock().astimezone(UTC) - fire.astimezone(UTC)
            self.work.missed(ev.job_id, fire, late_by=late)
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
        global _work, _plan, _takeover
        try:
            scheduler = self.scheduler or self.prepare()
        except SQLAlchemyError as exc:
            raise self._job_table_error(exc) from exc
        previous: dict[signal.Signals, Any] = {}
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        self._log_started()
        try:
            scheduler.start()
            if self._stopper is not None:
                self._stopper.join()
        except SQLAlchemyError as exc:
            raise self._job_table_error(exc) from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            _work = _plan = _takeover = None
        event("stopped", "scheduler stopped")

    def _job_table_error(self, exc: SQLAlchemyError) -> StoreError:
        return StoreError(
            f"the scheduler cannot use its job table {JOBS_TABLE!r} in {self.engine.url!r}: {exc}"
        )

    def _log_started(self) -> None:
        tz = self.plan.timezone
        nxt = self.next_send
        event(
            "started",
            f"scheduler started: {self.plan.send_trigger}; next send "
            + (format_run(nxt, tz) if nxt else "never")
            + f"; misfire_grace_hours={self.plan.grace_hours_text}"
            + (f"; takeover every {self.takeover.every_seconds:g} s" if self.takeover else ""),
            issue=issue_key(nxt, tz) if nxt else None,
            next_run=nxt,
        )

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
            # a scheduler that stopped meanwhile raises SchedulerNotRunningError; and
            # whatever else shutting down raises, the process is on its way out
            with contextlib.suppress(Exception):
                scheduler.shutdown(wait=True)  # waits for the running job

        self._stopper = threading.Thread(target=shut, name="digest-scheduler-stop", daemon=True)
        self._stopper.start()
