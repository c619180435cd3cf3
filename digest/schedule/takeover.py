"""Taking over a send whose sender died (``schedule.takeover_seconds``).

Two or more ``digest schedule`` processes on one database send an issue once: the first
takes the issue's lock (``digest.store.locks``) and the others log ``locked``. The lock
dies with its holder (a PostgreSQL session advisory lock, an ``flock`` on SQLite), so an
issue left ``sending`` whose lock nobody holds has lost its sender: killed, its machine gone,
or stopped by SIGTERM or Ctrl-C mid-send. Every ``takeover_seconds`` each scheduler looks
for such an issue and resumes it the way a restart does (``StoredJobs.resume_interrupted``)
and through the same ``Work.send`` (``digest.send.run_send``): the same stored bytes, batches
in flight when the sender died reported and, unless ``delivery.resend_in_flight``, not
resent. A scheduler that lost the race for the lock thus keeps watching the send instead of
waiting for next week's run.

The decision, made for each issue left ``sending`` (``Takeover.decide``):

- ``own``: this process is sending it (a send job, a resume, an earlier takeover still
  running): skipped without touching the lock;
- ``alive``: its lock is held, by another process or by this one: the sender is alive;
- ``late``: the lock is free but the issue's as-of (the run's fire time for a scheduled
  send) is more than ``misfire_grace_hours`` ago: left for an editor, as a restart leaves
  it, and logged once (``interrupted``) with the command that finishes it;
- ``take``: the lock is free, inside the grace: resumed now.

The grace is measured from the as-of, not from when the send started or stopped, so a
takeover and a restart decide alike and a newsletter never goes out later than the grace
allows whoever resumes it. Only ``sending`` is taken over: a ``failed`` send waits for an
editor, as at a restart.

Between the look at the lock and the resume's own ``issue_lock`` another scheduler may take
it first; the loser's ``run_send`` then finds the lock held and logs ``locked``, so the
``takeover`` line is written only once the lock is held (``TakeoverProgress.start``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from digest.clock import Clock, issue_key, system_clock
from digest.errors import IssueLocked
from digest.schedule.cron import format_run, hours_text
from digest.schedule.logs import event
from digest.schedule.plan import RunPlan, Work
from digest.schedule.progress import LogProgress
from digest.store import ledger
from digest.store.database import Store
from digest.store.locks import issue_lock

TAKEOVER_JOB_ID = "digest-takeover-check"

Verdict = Literal["own", "alive", "late", "take"]


@dataclass(frozen=True)
class Decision:
    """What the check makes of one issue left ``sending``."""

    key: str
    as_of: datetime
    verdict: Verdict
    in_flight: tuple[ledger.BatchInfo, ...] = ()  # "take": the batches in doubt


class OwnSends:
    """The issues this process is sending now (a count each: a send job and a resume of the
    same issue may overlap, the lock letting one of them through)."""

    def __init__(self) -> None:
        self._keys: Counter[str] = Counter()
        self._guard = threading.Lock()

    @contextmanager
    def sending(self, key: str) -> Iterator[None]:
        with self._guard:
            self._keys[key] += 1
        try:
            yield
        finally:
            with self._guard:
                self._keys[key] -= 1
                if self._keys[key] <= 0:
                    del self._keys[key]

    def __contains__(self, key: object) -> bool:
        with self._guard:
            return key in self._keys


class TrackedWork:
    """``work`` whose sends are noted in ``own`` while they run, so that the takeover check
    never tries an issue this process is sending."""

    def __init__(self, work: Work, own: OwnSends, tz: ZoneInfo):
        self.inner, self.own, self.tz = work, own, tz

    def send(self, fire_time: datetime, *, progress: LogProgress | None = None) -> None:
        with self.own.sending(issue_key(fire_time, self.tz)):
            if progress is None:
                self.inner.send(fire_time)
            else:
                self.inner.send(fire_time, progress=progress)

    def preview(self, send_time: datetime) -> None:
        self.inner.preview(send_time)

    def interrupted(self) -> list[tuple[str, datetime]]:
        return self.inner.interrupted()

    def missed(self, job_id: str, fire_time: datetime, *, late_by: timedelta) -> None:
        self.inner.missed(job_id, fire_time, late_by=late_by)


def sender_alive(store: Store, key: str) -> bool:
    """Whether someone holds ``key``'s send lock: tried without waiting and, when free,
    let go at once (the resume takes it again through ``run_send``)."""
    try:
        with issue_lock(store, key):
            return False
    except IssueLocked:
        return True


def _batches_text(batches: tuple[ledger.BatchInfo, ...]) -> str:
    return ", ".join(f"batch {b.batch} ({b.size} recipients)" for b in batches)


class TakeoverProgress(LogProgress):
    """The send's usual stage lines, preceded by ``takeover`` once the resume holds the lock
    (a scheduler that loses the race logs ``locked`` instead, and no ``takeover``)."""

    def __init__(self, key: str, in_flight: tuple[ledger.BatchInfo, ...], *, resend: bool):
        super().__init__(key)
        self.in_flight, self.resend = in_flight, resend

    def start(
        self, *, key: str, recipients: int, batches: int, done_recipients: int, done_batches: int
    ) -> None:
        doubt = self.in_flight
        if not doubt:
            fate = "no batch was in flight"
        elif self.resend:
            fate = (
                f"{_batches_text(doubt)} in flight when it stopped: resent "
                "(delivery.resend_in_flight = true)"
            )
        else:
            fate = (
                f"{_batches_text(doubt)} in flight when it stopped: in doubt, not resent "
                "(they may have gone out; delivery.resend_in_flight = true would resend them)"
            )
        event(
            "takeover",
            f"the sender of issue {key} is gone (its lock is free) with {done_batches} of "
            f"{batches} batch(es) done: resuming it from the stored issue; {fate}",
            issue=key,
            level=logging.WARNING,
            in_doubt_batches=[b.batch for b in doubt],
            in_doubt=sum(b.size for b in doubt),
            resent=self.resend,
        )
        super().start(
            key=key,
            recipients=recipients,
            batches=batches,
            done_recipients=done_recipients,
            done_batches=done_batches,
        )


class Takeover:
    """The periodic check of one scheduler process (``check``, an APScheduler interval job
    with ``max_instances=1``: a check that is resuming a send is never joined by another)."""

    def __init__(
        self,
        store: Store,
        work: Work,
        plan: RunPlan,
        *,
        every_seconds: float,
        resend_in_flight: bool,
        stop: threading.Event,
        clock: Clock = system_clock,
    ):
        self.store, self.plan, self.every_seconds = store, plan, every_seconds
        self.resend_in_flight, self.stop, self.clock = resend_in_flight, stop, clock
        self.own = OwnSends()
        self.work = TrackedWork(work, self.own, plan.timezone)  # the scheduler's jobs use it too
        self._reported: set[str] = set()  # "late" issues logged once per process, not per look

    def decide(self, now: datetime) -> list[Decision]:
        """A decision for every issue left ``sending`` (see the module doc)."""
        out = []
        for key, as_of in self.work.interrupted():
            if key in self.own:
                out.append(Decision(key, as_of, "own"))
            elif sender_alive(self.store, key):
                out.append(Decision(key, as_of, "alive"))
            elif now - as_of > self.plan.misfire_grace:
                out.append(Decision(key, as_of, "late"))
            else:
                doubt = tuple(ledger.batches(self.store, key, states=["in_flight"]))
                out.append(Decision(key, as_of, "take", doubt))
        return out

    def check(self, fire_time: datetime | None = None) -> list[Decision]:
        """One look (``fire_time`` is passed by the scheduler's executor and not needed);
        resumes what it finds. Logs its own events and never raises."""
        if self.stop.is_set():
            return []
        try:
            decisions = self.decide(self.clock())
        except Exception as exc:  # noqa: BLE001 -- the database may be away; look again later
            event(
                "takeover_failed",
                f"could not look for a send whose sender died: {exc}",
                level=logging.WARNING,
            )
            return []
        for decision in decisions:
            if self.stop.is_set():
                break
            if decision.verdict == "late":
                self._report_late(decision)
            elif decision.verdict == "take":
                self._take_over(decision)
        return decisions

    def _take_over(self, decision: Decision) -> None:
        key, as_of = decision.key, decision.as_of
        if issue_key(as_of, self.plan.timezone) != key:
            # newsletter.timezone changed since: run_send would pick another week's issue
            self._report_late(decision, why="its as-of falls in another week in this time zone")
            return
        progress = TakeoverProgress(key, decision.in_flight, resend=self.resend_in_flight)
        self.work.send(as_of, progress=progress)

    def _report_late(self, decision: Decision, *, why: str | None = None) -> None:
        if decision.key in self._reported:
            return
        self._reported.add(decision.key)
        as_of, tz = decision.as_of, self.plan.timezone
        because = why or (
            f"its run was {hours_text(self.clock() - as_of)} ago, outside "
            f"misfire_grace_hours={self.plan.grace_hours_text}"
        )
        event(
            "interrupted",
            f"the send of the {format_run(as_of, tz)} run stopped mid-way and its sender is "
            f"gone, but {because}: not taken over; finish it with "
            f"`digest send --yes --as-of {as_of.isoformat()}`",
            issue=decision.key,
            level=logging.WARNING,
        )
