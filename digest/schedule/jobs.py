"""What the scheduler does at each fire time (the real ``Work``).

- ``send``: ``digest.send.run_send(..., as_of=fire_time, scheduled=True,
  stop=stop)`` — the same code as ``digest send --yes``: exactly once per
  issue key (a lock across processes and the issue's unique key), a skipped
  issue recorded when there is nothing new, an interrupted send resumed.
- ``preview``: the [TEST] copy of the coming issue to ``newsletter.editors``.
- after a send that finished: ``digest.store.compaction.compact`` (the send-ledger rows of
  sent issues older than ``storage.keep_recipients_weeks``; logged ``compacted``; a
  failure is logged ``compact_failed`` and the send stays sent).
- ``missed``: a run outside the misfire grace is recorded on its issue as
  skipped, with the reason, and logged.

A send that fails for a passing reason (``RETRYABLE`` raised: every source
down, the database unreachable; or a report whose failed batch had a
``TransientDeliveryError``: the provider's 429/5xx or no connection, outlasting the
backend's own retries; never a send with batches in doubt, which waits for an editor's
decision) is tried again every ``schedule.retry_minutes`` while the fire time
is inside ``misfire_grace_hours``: ``run_send`` is exactly-once per issue, so a
retry resumes what the failed attempt left, as ``digest send --yes`` would.

Each logs one line per event with the issue key and never raises: a failure
is logged ("failed because …") and the scheduler goes on to next week.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from digest.backends.base import Backend
from digest.clock import Clock, issue_key, system_clock
from digest.config import Config
from digest.errors import CollectError, DigestError, StoreError, TransientDeliveryError
from digest.schedule.cron import format_run, hours_text
from digest.schedule.logs import event, issue_context
from digest.schedule.plan import PREVIEW_JOB_ID, SEND_JOB_ID
from digest.schedule.progress import LogProgress
from digest.store.database import Store

# failures that pass: worth another attempt later inside the misfire grace
RETRYABLE = (CollectError, TransientDeliveryError, StoreError)

SendFunc = Callable[..., Any]  # digest.send.run_send
BuildFunc = Callable[..., Any]  # digest.pipeline.build_issue
TestCopyFunc = Callable[..., int]  # digest.send.send_test_copy


def _real_run_send() -> SendFunc:
    from digest.send import run_send

    return run_send


def _real_build() -> BuildFunc:
    from digest.pipeline import build_issue

    return build_issue


def _real_send_test_copy() -> TestCopyFunc:
    from digest.send import send_test_copy

    return send_test_copy


def missed_reason(fire_time: datetime, late_by: timedelta, grace_hours: str, tz: Any) -> str:
    """``missed the 09:00 Fri run by 8 h; outside misfire_grace_hours=6``."""
    local = fire_time.astimezone(tz)
    return (
        f"missed the {local:%H:%M %a} run ({local:%Y-%m-%d %Z}) by {hours_text(late_by)}; "
        f"outside misfire_grace_hours={grace_hours}"
    )


class ScheduledWork:
    """The scheduler's jobs, with every dependency injectable."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        stop: threading.Event,
        backend: Backend | None = None,
        clock: Clock = system_clock,
        client: httpx.Client | None = None,
        send_issue: SendFunc | None = None,
        build: BuildFunc | None = None,
        send_test_copy: TestCopyFunc | None = None,
    ):
        self.config = config
        self.store = store
        self.stop = stop
        self.backend = backend
        self.clock = clock
        self.client = client
        self._send_issue = send_issue
        self._build = build
        self._send_test_copy = send_test_copy

    @property
    def tz(self) -> Any:
        return self.config.newsletter.tz

    @property
    def grace_hours(self) -> str:
        return f"{self.config.schedule.misfire_grace_hours:g}"

    # --- the send -------------------------------------------------------------------

    def send(self, fire_time: datetime, *, progress: LogProgress | None = None) -> None:
        key = issue_key(fire_time, self.tz)
        with issue_context(key):
            event(
                "run",
                f"the {format_run(fire_time, self.tz)} run: building the issue",
                issue=key,
                fire_time=fire_time,
            )
            attempt = 1
            while True:
                try:
                    report = self._run_send(fire_time, key, progress)
                except RETRYABLE as exc:
                    failure = str(exc)
                except DigestError as exc:
                    event("failed", f"failed because {exc}", issue=key, level=logging.ERROR)
                    return
                except Exception as exc:  # noqa: BLE001 -- a bug; the scheduler keeps running for next week
                    event(
                        "failed",
                        f"failed because of an unexpected {type(exc).__name__}: {exc}",
                        issue=key,
                        level=logging.ERROR,
                    )
                    return
                else:
                    if not (
                        getattr(report, "outcome", None) == "failed"
                        and getattr(report, "transient", False)
                    ):
                        self._log_report(key, report)
                        if getattr(report, "outcome", None) in ("sent", "resumed"):
                            self._compact(key)
                        return
                    # a batch failed for a passing reason; what was sent stays sent
                    failure = str(getattr(report, "message", "") or "the send did not finish")
                if not self._wait_to_retry(fire_time, key, failure, attempt):
                    return
                attempt += 1

    def _run_send(self, fire_time: datetime, key: str, progress: LogProgress | None) -> Any:
        run_send = self._send_issue or _real_run_send()
        return run_send(
            self.config,
            self.store,
            as_of=fire_time,
            backend=self.backend,
            scheduled=True,
            clock=self.clock,
            client=self.client,
            progress=progress or self._progress(key),
            stop=self.stop,
        )

    def _wait_to_retry(self, fire_time: datetime, key: str, failure: str, attempt: int) -> bool:
        """Log the failure (one line: ``retry`` or ``failed``); wait ``retry_minutes`` (or until stopped) when another attempt
        still starts inside the misfire grace. True: try again now."""
        sch = self.config.schedule
        retry = timedelta(minutes=sch.retry_minutes)
        next_try = self.clock() + retry
        last_chance = fire_time + timedelta(hours=sch.misfire_grace_hours)
        if sch.retry_minutes <= 0 or next_try > last_chance or self.stop.is_set():
            why = (
                "schedule.retry_minutes is 0"
                if sch.retry_minutes <= 0
                else "stopping"
                if self.stop.is_set()
                else f"a retry would start after misfire_grace_hours={self.grace_hours}"
            )
            event(
                "failed",
                f"failed because {failure} (attempt {attempt}; not retried: {why}); "
                f"`digest send --yes --as-of {fire_time.isoformat()}` finishes it by hand",
                issue=key,
                level=logging.ERROR,
            )
            return False
        event(
            "retry",
            f"attempt {attempt} failed because {failure}; trying again at "
            f"{next_try.astimezone(self.tz):%H:%M %Z}",
            issue=key,
            level=logging.WARNING,
        )
        if self.stop.wait(retry.total_seconds()):
            event(
                "failed",
                f"stopped before retrying; `digest send --yes --as-of "
                f"{fire_time.isoformat()}` finishes it by hand",
                issue=key,
                level=logging.ERROR,
            )
            return False
        return True

    def _compact(self, key: str) -> None:
        """After a send: remove the send-ledger rows of old sent issues (counts kept). A
        failure is logged and changes nothing for the send (`digest db compact` retries)."""
        from digest.store.compaction import compact

        weeks = self.config.storage.keep_recipients_weeks
        try:
            done = compact(self.store, now=self.clock(), keep_weeks=weeks)
        except Exception as exc:  # noqa: BLE001 -- the send is done; compaction waits for next time
            event(
                "compact_failed",
                f"compacting the send ledger failed because {exc}; the send is not affected "
                "(`digest db compact` tries again)",
                issue=key,
                level=logging.WARNING,
            )
            return
        if done.issues:
            event(
                "compacted",
                f"removed {done.rows} send-ledger row(s) of {len(done.issues)} sent issue(s) "
                f"older than {weeks} week(s); every count stays on the issue",
                issue=key,
                issues=len(done.issues),
                rows=done.rows,
            )

    def _progress(self, key: str) -> LogProgress:
        """Logs run_send's stages: collected, selected, sending, notes."""
        return LogProgress(key)

    def _log_report(self, key: str, report: Any) -> None:
        outcome = str(getattr(report, "outcome", "unknown"))
        message = str(getattr(report, "message", "") or "")
        counts = {
            name: getattr(report, name)
            for name in ("recipients", "sent", "skipped", "failed")
            if isinstance(getattr(report, name, None), int)
        }
        if outcome in ("sent", "resumed"):
            sent, total = counts.get("sent", 0), counts.get("recipients", 0)
            event(
                "sent",
                message or f"sent {sent} of {total} recipients",
                issue=key,
                outcome=outcome,
                **counts,
            )
        elif outcome == "skipped":
            prefix = f"issue {key} skipped: "
            message = message.removeprefix(prefix)
            event(
                "skipped",
                f"skipped because {message or 'there is nothing to send'}",
                issue=key,
                outcome=outcome,
            )
        elif outcome == "already_sent":
            event(
                "already_sent", message or "already sent; nothing to do", issue=key, outcome=outcome
            )
        elif outcome == "locked":
            event(
                "locked",
                message or "another process is sending this issue; nothing done",
                issue=key,
                outcome=outcome,
            )
        elif outcome == "interrupted":
            event(
                "interrupted",
                message or "stopped after the batch in progress; the next start resumes the send",
                issue=key,
                outcome=outcome,
                **counts,
            )
        elif outcome == "failed":
            event(
                "failed",
                f"failed because {message or 'the send did not finish'}",
                issue=key,
                level=logging.ERROR,
                outcome=outcome,
                **counts,
            )
        else:
            event(outcome, message or outcome, issue=key, outcome=outcome, **counts)

    # --- the editors' preview ---------------------------------------------------------

    def preview(self, send_time: datetime) -> None:
        key = issue_key(send_time, self.tz)
        with issue_context(key):
            try:
                from digest.errors import IssueLocked
                from digest.store.locks import issue_lock

                # two schedulers on one database: one copy to the editors, not two
                with issue_lock(self.store, f"{key}-preview"):
                    n = self._send_preview(key, send_time)
            except IssueLocked:
                event("preview", "another scheduler is sending the preview", issue=key)
                return
            except Exception as exc:  # noqa: BLE001 -- logged; the scheduler keeps running
                event(
                    "failed",
                    f"the editors' preview failed because {exc}",
                    issue=key,
                    level=logging.ERROR,
                )
                return
            if n is not None:
                event(
                    "preview",
                    f"[TEST] copy sent to {n} editor(s) ahead of the "
                    f"{format_run(send_time, self.tz)} send",
                    issue=key,
                    recipients=n,
                )

    def _send_preview(self, key: str, send_time: datetime) -> int | None:
        build = self._build or _real_build()
        built = build(
            self.config, store=self.store, as_of=send_time, client=self.client, clock=self.clock
        )
        if built.rendered is None:
            event(
                "preview",
                f"no preview to send: the issue would be skipped because {built.issue.skip_reason}",
                issue=key,
            )
            return None
        send_copy = self._send_test_copy or _real_send_test_copy()
        editors = list(self.config.newsletter.editors)
        return int(send_copy(self.config, built.rendered, editors, backend=self.backend))

    def interrupted(self) -> list[tuple[str, datetime]]:
        from digest.store import records

        return records.sending(self.store)

    # --- missed runs ------------------------------------------------------------------

    def missed(self, job_id: str, fire_time: datetime, *, late_by: timedelta) -> None:
        key = issue_key(fire_time, self.tz)
        if job_id == PREVIEW_JOB_ID:
            event(
                "missed",
                f"the editors' preview due {format_run(fire_time, self.tz)} was "
                f"missed by {hours_text(late_by)}; not sent",
                issue=key,
                level=logging.WARNING,
            )
            return
        if job_id != SEND_JOB_ID:  # pragma: no cover
            return
        reason = missed_reason(fire_time, late_by, self.grace_hours, self.tz)
        try:
            outcome = record_missed(
                self.store, key=key, fire_time=fire_time, reason=reason, now=self.clock()
            )
        except Exception as exc:  # noqa: BLE001 -- logged; the scheduler keeps running
            event(
                "failed",
                f"{reason}; recording it failed because {exc}",
                issue=key,
                level=logging.ERROR,
            )
            return
        if outcome == "recorded":
            event(
                "skipped",
                f"skipped because it {reason}; recorded on the issue",
                issue=key,
                level=logging.WARNING,
                fire_time=fire_time,
            )
        elif outcome == "sending":
            event(
                "skipped",
                f"{reason}; the issue was interrupted mid-send and is left as it "
                f"is: finish it with `digest send --yes --as-of {fire_time.isoformat()}`",
                issue=key,
                level=logging.WARNING,
                fire_time=fire_time,
            )
        else:
            event(
                "skipped",
                f"{reason}; the issue is already {outcome}, left as it is",
                issue=key,
                fire_time=fire_time,
            )


def record_missed(
    store: Store, *, key: str, fire_time: datetime, reason: str, now: datetime
) -> str:
    """Record a missed run on its issue as skipped, unless the issue already exists (sent,
    sending, skipped or failed: then its status is returned and nothing changes)."""
    from digest.store import records

    rec = records.get_issue(store, key)
    if rec is not None and rec.status != "draft":
        return str(rec.status)
    try:
        if records.record_skipped(store, key=key, as_of=fire_time, reason=reason, now=now):
            return "recorded"
    except Exception:
        # another scheduler recorded it at the same moment (unique key)
        again = records.get_issue(store, key)
        if again is None:
            raise
        return str(again.status)
    again = records.get_issue(store, key)
    return str(again.status) if again is not None else "unknown"
