"""Sending an issue to every active subscriber, exactly once.

``run_send`` is what ``digest send`` and the scheduler call:

1. Take the issue's lock (one sender per issue across processes, see
   ``digest.store.locks``); if another process holds it, do nothing ("locked").
2. A sent issue is not sent again ("already_sent") unless ``force``
   (refused for scheduled runs). An issue left ``sending`` or ``failed`` is
   resumed from its stored rendering — the same bytes — without rebuilding.
3. Otherwise build the issue exactly as ``digest preview`` does. Too little
   news: the skip is recorded ("skipped"). Else, in one transaction, the
   issue record (status sending, rendered issue, archive copy), its
   articles, and the frozen recipient list (see ``digest.store.ledger``).
4. Batch by batch, in order: recipients who left since are skipped, the
   batch is marked in flight (committed), handed to the backend, and marked
   accepted (committed). A batch found in flight on resume was interrupted
   mid-request: it is reported by number and size and, unless
   ``delivery.resend_in_flight``, not sent again (it may have gone out).
5. ``stop`` (SIGTERM in the scheduler, Ctrl-C in the CLI) ends the send
   after the batch in progress; the next run resumes.

Per-recipient work is one signed unsubscribe token; the list is read one
batch at a time, so memory does not grow with the list.

The steps live in ``digest.sending``: ``run_send`` → ``SendJob.run`` (what this run does:
steps 2 and 3) → ``SendJob._deliver`` → ``BatchLoop.run`` (step 4) → ``conclude``. Test
copies are ``digest.testcopy``, the archive's copy of an issue ``digest.archive``.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import httpx

from digest.backends.base import Backend
from digest.clock import Clock, issue_key, system_clock
from digest.config import Config
from digest.errors import IssueLocked, SendError
from digest.sending.dry_run import dry_run as _dry_run
from digest.sending.job import SendJob
from digest.sending.report import Confirm, Outcome, SendPlan, SendProgress, SendReport
from digest.signing_secret import check_key, signing_keys
from digest.store.database import Store
from digest.store.locks import issue_lock
from digest.testcopy import TEST_PREFIX, send_test_copy

__all__ = [
    "TEST_PREFIX",
    "Confirm",
    "Outcome",
    "SendPlan",
    "SendProgress",
    "SendReport",
    "run_send",
    "send_test_copy",
]


def run_send(
    config: Config,
    store: Store,
    *,
    as_of: datetime,
    backend: Backend | None = None,
    dry_run: bool = False,
    force: bool = False,
    scheduled: bool = False,
    clock: Clock = system_clock,
    client: httpx.Client | None = None,
    progress: SendProgress | None = None,
    stop: threading.Event | None = None,
    confirm: Confirm | None = None,
) -> SendReport:
    """Send (or resume, or dry-run) the issue of ``as_of``'s week. See the module doc.
    ``confirm`` (the CLI's prompt) sees the plan before anything is recorded or sent;
    returning False cancels."""
    started = time.monotonic()
    key = issue_key(as_of, config.newsletter.tz)
    if force and scheduled:
        raise SendError(
            "--force is refused in scheduled runs: send again by hand with `digest send --force`"
        )
    # The key is settled before anything is built, asked or recorded: a missing one is named
    # (exit 2), and a changed one that would break the links already sent is refused (exit 1).
    keys = signing_keys(config)
    check_key(config, store, keys)
    if keys.development and progress:
        progress.note(
            "DIGEST_SECRET_KEY is not set: using the development secret beside the "
            "database (fine for the sample; set DIGEST_SECRET_KEY for a real list)"
        )
    job = SendJob(
        config,
        store,
        key=key,
        as_of=as_of,
        keys=keys,
        backend=backend,
        force=force,
        clock=clock,
        client=client,
        progress=progress,
        stop=stop,
        confirm=confirm,
    )
    try:
        report = _dry_run(job) if dry_run else _locked_run(job)
    finally:
        job.close()
    report.elapsed = time.monotonic() - started
    return report


def _locked_run(job: SendJob) -> SendReport:
    try:
        with issue_lock(job.store, job.key):
            return job.run()
    except IssueLocked as exc:
        return SendReport(key=job.key, outcome="locked", message=str(exc))
