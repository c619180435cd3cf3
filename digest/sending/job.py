"""The send of one issue, once its lock is held (``digest.send.run_send``): decide what
this run does (nothing, resume, send again, send a new issue), then deliver it batch by
batch (``digest.sending.batches``) and conclude (``digest.sending.conclusion``)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from digest.archive import archive_html
from digest.backends import get_backend
from digest.backends.base import Backend, Message
from digest.clock import Clock
from digest.config import Config
from digest.in_doubt import Doubts, batches_text
from digest.models import RenderedIssue
from digest.rendering.sanitize import safe_url
from digest.sending.batches import BatchLoop
from digest.sending.conclusion import conclude, not_resent_note
from digest.sending.message import issue_message, personalizer
from digest.sending.report import Confirm, SendPlan, SendProgress, SendReport
from digest.signing_secret import SigningKeys
from digest.store import ledger, records
from digest.store.database import Store
from digest.store.keys import record_key_use
from digest.store.tables import IssueRecord
from digest.tokens import UnsubscribeLinks

if TYPE_CHECKING:
    from digest.pipeline import BuiltIssue


class SendJob:
    """One run of ``digest send`` (or the scheduler's send) for the issue ``key``."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        key: str,
        as_of: datetime,
        keys: SigningKeys,
        backend: Backend | None,
        force: bool,
        clock: Clock,
        client: httpx.Client | None,
        progress: SendProgress | None,
        stop: threading.Event | None,
        confirm: Confirm | None,
    ):
        self.config, self.store, self.key, self.as_of, self.keys = config, store, key, as_of, keys
        self.force, self.clock, self.client = force, clock, client
        self.progress, self.stop, self.confirm = progress, stop, confirm
        self._backend, self._own_backend = backend, backend is None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            options: dict[str, Any] = {"on_retry": self.progress.note} if self.progress else {}
            self._backend = get_backend(self.config, None, **options)
        return self._backend

    def close(self) -> None:
        if self._own_backend and self._backend is not None:
            self._backend.close()

    def build(self) -> BuiltIssue:
        from digest.pipeline import build_issue  # the pipeline's imports only when building

        built = build_issue(
            self.config, store=self.store, as_of=self.as_of, client=self.client, clock=self.clock
        )
        on_built = getattr(self.progress, "built", None)  # optional: the scheduler logs it
        if on_built is not None:
            on_built(built)
        return built

    def note(self, text: str) -> None:
        if self.progress:
            self.progress.note(text)

    # --- what this run does ---

    def run(self) -> SendReport:
        rec = records.get_issue(self.store, self.key)
        now = self.clock()
        if rec is not None and rec.status == "sent" and not self.force:
            return self._already_sent(rec)
        if rec is not None and rec.status in ("sending", "failed"):
            return self._resume(rec)
        if rec is not None and rec.status == "sent":
            return self._send_again(rec, now=now)
        return self._send_new(now=now)

    def _already_sent(self, rec: IssueRecord) -> SendReport:
        when = rec.finished_at.isoformat(timespec="minutes") if rec.finished_at else "earlier"
        return SendReport(
            key=self.key,
            outcome="already_sent",
            recipients=rec.recipients,
            sent=rec.sent,
            skipped=rec.skipped_recipients,
            failed=rec.failed_recipients,
            subject=rec.subject,
            message=f"issue {self.key} was already sent ({when}, to {rec.sent} recipients); "
            "nothing sent. Use --force to send it again.",
        )

    def _resume(self, rec: IssueRecord) -> SendReport:
        """An issue left sending or failed goes on from its stored rendering: the same bytes."""
        subject = rec.subject or ""
        lead = records.lead_title(self.store, self.key)
        resend = ("in_flight",) if self.config.delivery.resend_in_flight else ()
        _, left = ledger.remaining(self.store, self.key, ("queued", "failed", *resend))
        if not self._confirmed(subject, lead, left, resuming=True):
            return self._cancelled(subject, lead)
        self.note(f"resuming issue {self.key} from its stored rendering")
        return self._deliver(subject, rec.html or "", rec.text or "", lead, resumed=True)

    def _send_again(self, rec: IssueRecord, *, now: datetime) -> SendReport:
        """--force: the stored rendering again, to today's active list."""
        lead = records.lead_title(self.store, self.key)
        if not self._confirmed(
            rec.subject or "", lead, ledger.count_active(self.store), resuming=False
        ):
            return self._cancelled(rec.subject, lead)
        batch_size = self.config.delivery.batch_size
        ledger.reopen_for_resend(self.store, key=self.key, batch_size=batch_size, now=now)
        self.note(f"--force: sending issue {self.key} again to today's active list")
        return self._deliver(rec.subject or "", rec.html or "", rec.text or "", lead, resumed=False)

    def _send_new(self, *, now: datetime) -> SendReport:
        """Build the issue as ``digest preview`` does; record it and its readers, then send."""
        built = self.build()
        if built.rendered is None or built.issue.skipped:
            reason = built.issue.skip_reason or "nothing to send"
            records.record_skipped(
                self.store, key=self.key, as_of=self.as_of, reason=reason, now=now
            )
            return SendReport(
                key=self.key, outcome="skipped", message=f"issue {self.key} skipped: {reason}"
            )
        r = built.rendered
        lead = built.issue.lead.article.title if built.issue.lead else None
        active = ledger.count_active(self.store)
        if active == 0:
            return SendReport(
                key=self.key,
                outcome="skipped",
                subject=r.subject,
                lead=lead,
                message="there are no active subscribers: nothing sent, nothing recorded",
            )
        if not self._confirmed(r.subject, lead, active, resuming=False):
            return self._cancelled(r.subject, lead)
        self._claim(built, r, now=now)
        return self._deliver(r.subject, r.html, r.text, lead, resumed=False)

    def _claim(self, built: BuiltIssue, r: RenderedIssue, *, now: datetime) -> None:
        """In one transaction: the issue record (sending, its rendering and archive copy),
        its articles and the frozen list of its readers."""
        ledger.claim_issue(
            self.store,
            key=self.key,
            as_of=self.as_of,
            subject=r.subject,
            preheader=r.preheader,
            html=r.html,
            text=r.text,
            archive_html=archive_html(r.html, self.config),
            picks=[
                ledger.PickedArticle(
                    p.article.url,
                    p.role,
                    p.article.title,
                    p.reason,
                    safe_url(p.article.image.url) if p.article.image else None,
                )
                for p in built.issue.picks
            ],
            batch_size=self.config.delivery.batch_size,
            now=now,
        )

    def _confirmed(
        self, subject: str, lead: str | None, recipients: int, *, resuming: bool
    ) -> bool:
        backend = self.backend.describe()  # a configuration error surfaces before anything changes
        if self.confirm is None:
            return True
        plan = SendPlan(
            key=self.key,
            subject=subject,
            lead=lead,
            recipients=recipients,
            resuming=resuming,
            backend=backend,
        )
        return self.confirm(plan)

    def _cancelled(self, subject: str | None, lead: str | None) -> SendReport:
        return SendReport(
            key=self.key,
            outcome="cancelled",
            subject=subject,
            lead=lead,
            message="cancelled: nothing sent, nothing recorded",
        )

    # --- delivering the recorded issue ---

    def _deliver(
        self, subject: str, html: str, text: str, lead: str | None, *, resumed: bool
    ) -> SendReport:
        message = issue_message(self.config, key=self.key, subject=subject, html=html, text=text)
        report = SendReport(
            key=self.key, outcome="resumed" if resumed else "sent", backend=self.backend.describe()
        )
        interrupted = ledger.batches(self.store, self.key, states=["in_flight"])
        states = self._after_interruption(report, interrupted)
        links = UnsubscribeLinks(
            self.config.newsletter.public_url, self.keys.current, self.keys.previous
        )
        # recorded before any link signed with the key leaves
        record_key_use(self.store, self.keys.fingerprint, at=self.clock(), issue=self.key)
        self._start_progress(report, states)
        doubts = Doubts()
        started = time.monotonic()
        loop = self._batch_loop(message, links, report, doubts, states)
        loop.run()
        report.sending_seconds = time.monotonic() - started
        conclude(
            self.store,
            self.key,
            report,
            clock=self.clock,
            failure=loop.failure,
            stopped=loop.stopped,
            doubts=doubts,
            states=states,
        )
        if interrupted and not self.config.delivery.resend_in_flight:
            report.message = not_resent_note(report, interrupted)
        report.subject, report.lead = subject, lead
        return report

    def _after_interruption(
        self, report: SendReport, interrupted: list[ledger.BatchInfo]
    ) -> tuple[str, ...]:
        """The states of the batches this run sends. A batch found in flight was interrupted
        mid-request and may have gone out: resent only with ``delivery.resend_in_flight``,
        else abandoned."""
        if not interrupted:
            return ("queued", "failed")
        report.in_flight_batches = tuple(b.batch for b in interrupted)
        report.in_flight_at_crash = sum(b.size for b in interrupted)
        if self.config.delivery.resend_in_flight:
            self.note(
                f"{batches_text(report.in_flight_batches)} in flight when the last send "
                "stopped: resending (delivery.resend_in_flight = true)"
            )
            return ("queued", "failed", "in_flight")
        ledger.abandon_batches(
            self.store,
            self.key,
            now=self.clock(),
            reason="in flight when a send stopped; not resent",
        )
        return ("queued", "failed")

    def _start_progress(self, report: SendReport, states: tuple[str, ...]) -> None:
        all_batches = ledger.batches(self.store, self.key)
        todo_batches, todo_recipients = ledger.remaining(self.store, self.key, states)
        report.batches = len(all_batches)
        total = sum(b.size for b in all_batches)
        if self.progress:
            self.progress.start(
                key=self.key,
                recipients=total,
                batches=len(all_batches),
                done_recipients=total - todo_recipients,
                done_batches=len(all_batches) - todo_batches,
            )

    def _batch_loop(
        self,
        message: Message,
        links: UnsubscribeLinks,
        report: SendReport,
        doubts: Doubts,
        states: tuple[str, ...],
    ) -> BatchLoop:
        return BatchLoop(
            self.store,
            self.key,
            todo=ledger.todo_batches(self.store, self.key, states),
            backend=self.backend,
            message=message,
            personalize=personalizer(self.backend, links),
            clock=self.clock,
            report=report,
            doubts=doubts,
            progress=self.progress,
            stop=self.stop,
        )
