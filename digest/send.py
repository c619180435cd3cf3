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
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx

from digest.backends import get_backend
from digest.backends.base import Backend, BatchResult, Message, Recipient
from digest.clock import Clock, issue_key, system_clock
from digest.config import Config
from digest.errors import DeliveryError, DeliveryInDoubtError, SendError, TransientDeliveryError
from digest.in_doubt import Doubts, InDoubt, split_off
from digest.models import UNSUBSCRIBE_PLACEHOLDER, RenderedIssue
from digest.signing_secret import SigningKeys, check_key, signing_keys
from digest.store import ledger, records
from digest.store.database import Store
from digest.store.keys import record_key_use
from digest.store.locks import IssueLocked, issue_lock
from digest.tokens import UnsubscribeLinks

if TYPE_CHECKING:
    from digest.pipeline import BuiltIssue

Outcome = Literal[
    "sent", "already_sent", "skipped", "resumed", "failed", "dry_run", "locked", "interrupted",
    "cancelled",
]
TEST_PREFIX = "[TEST] "


@dataclass
class SendReport:
    """What a send did, for the editor and the scheduler's log."""

    key: str
    outcome: Outcome
    recipients: int = 0  # frozen for this issue
    sent: int = 0  # accepted by the provider, in total for the issue
    skipped: int = 0  # left the list during the send
    failed: int = 0  # refused by the provider or in a failed batch
    in_flight_at_crash: int = 0  # recipients in batches interrupted mid-request
    in_flight_batches: tuple[int, ...] = ()
    in_doubt: int = 0  # recipients in batches this run left in doubt (digest.in_doubt)
    in_doubt_batches: tuple[int, ...] = ()
    batches: int = 0
    sent_now: int = 0  # accepted by this run
    elapsed: float = 0.0  # seconds, the whole run (build, prompt and all)
    sending_seconds: float = 0.0  # from the first batch to the last
    message: str = ""
    subject: str | None = None
    lead: str | None = None
    backend: str | None = None
    # a failed send whose cause may pass (the provider's 429/5xx/timeouts): worth a retry
    transient: bool = False

    @property
    def exit_code(self) -> int:
        # interrupted: readers are still waiting, so a cron job or script must notice
        return 1 if self.outcome in ("failed", "interrupted") else 0

    def to_json(self) -> dict[str, object]:
        return {
            "issue": self.key, "outcome": self.outcome, "recipients": self.recipients,
            "sent": self.sent, "skipped": self.skipped, "failed": self.failed,
            "in_flight_at_crash": self.in_flight_at_crash,
            "in_flight_batches": list(self.in_flight_batches), "batches": self.batches,
            "in_doubt": self.in_doubt, "in_doubt_batches": list(self.in_doubt_batches),
            "sent_now": self.sent_now, "elapsed": round(self.elapsed, 3),
            "sending_seconds": round(self.sending_seconds, 3),
            "message": self.message, "subject": self.subject,
        }  # fmt: skip


@dataclass(frozen=True)
class SendPlan:
    """What is about to be sent, shown to the editor before anything happens."""

    key: str
    subject: str
    lead: str | None
    recipients: int  # still to be sent
    resuming: bool
    backend: str


Confirm = Callable[[SendPlan], bool]


class SendProgress(Protocol):
    """Hooks a front end (the CLI's progress bar, the scheduler's log) can follow.
    Optional too: ``built(built_issue)``, called once a new issue is built."""

    def start(self, *, key: str, recipients: int, batches: int, done_recipients: int, done_batches: int) -> None: ...

    def batch_done(self, *, batch: int, recipients: int, skipped: int) -> None: ...

    def note(self, text: str) -> None: ...


# --- the message -------------------------------------------------------------------------


def issue_message(config: Config, *, key: str, subject: str, html: str, text: str) -> Message:
    nl = config.newsletter
    return Message(
        subject=subject,
        html=html,
        text=text,
        from_email=nl.from_email,
        from_name=nl.from_name or nl.name,
        reply_to=nl.reply_to,
        categories=tuple(config.delivery.categories),
        custom_args={"issue": key},
    )


def subscribe_url(config: Config) -> str:
    return config.newsletter.public_url.rstrip("/") + "/"


_UNSUB_LINK = re.compile(
    r"(<a\b[^>]*\bhref=\"" + re.escape(UNSUBSCRIBE_PLACEHOLDER) + r"\"[^>]*>)(\s*)Unsubscribe(\s*)(</a>)",
    re.IGNORECASE,
)


def archive_html(html: str, config: Config) -> str:
    """The issue as the web archive shows it: no personal link, the unsubscribe
    link turned into a neutral link to the subscribe page."""
    url = subscribe_url(config)
    html = _UNSUB_LINK.sub(lambda m: f'{m.group(1).replace(UNSUBSCRIBE_PLACEHOLDER, url)}{m.group(2)}Subscribe{m.group(3)}{m.group(4)}', html)
    return html.replace(UNSUBSCRIBE_PLACEHOLDER, url)


def recipients_for(rows: Sequence[ledger.RecipientRow], links: Callable[[int], str]) -> list[Recipient]:
    """Each reader with their own unsubscribe link (substitution) and the RFC 8058 headers
    (the same as ``unsubscribe_headers``, inlined: this runs once per reader)."""
    return [
        Recipient(
            row.email,
            row.name,
            {UNSUBSCRIBE_PLACEHOLDER: (url := links(row.subscriber_id))},
            {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )
        for row in rows
    ]


# --- test copies ---------------------------------------------------------------------------


def send_test_copy(
    config: Config, rendered: RenderedIssue, recipients: list[str], *, backend: Backend | None = None
) -> int:
    """Send a "[TEST] " copy of ``rendered`` to ``recipients`` (editors); records nothing.
    The unsubscribe link points to the subscribe page. Returns how many were accepted."""
    if not recipients:
        return 0
    own = backend is None
    backend = backend or get_backend(config)
    try:
        message = issue_message(
            config, key=rendered.key, subject=TEST_PREFIX + rendered.subject,
            html=rendered.html, text=rendered.text,
        )  # fmt: skip
        message = replace(message, custom_args={"kind": "test", "test_issue": rendered.key})
        url = subscribe_url(config)
        batch = [Recipient(email=r, substitutions={UNSUBSCRIBE_PLACEHOLDER: url}) for r in recipients]
        result = backend.send_batch(message, batch)
        if result.stopped_by is not None:  # gave up part-way (SMTP): fail as a whole batch would
            raise result.stopped_by
        return result.accepted
    finally:
        if own:
            backend.close()


# --- the send --------------------------------------------------------------------------------


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
        raise SendError("--force is refused in scheduled runs: send again by hand with `digest send --force`")
    # The key is settled before anything is built, asked or recorded: a missing one is named
    # (exit 2), and a changed one that would break the links already sent is refused (exit 1).
    keys = signing_keys(config)
    check_key(config, store, keys)
    if keys.development and progress:
        progress.note("DIGEST_SECRET_KEY is not set: using the development secret beside the "
                      "database (fine for the sample; set DIGEST_SECRET_KEY for a real list)")
    job = _Send(config, store, key=key, as_of=as_of, backend=backend, force=force, clock=clock,
                client=client, progress=progress, stop=stop, confirm=confirm, keys=keys)  # fmt: skip
    try:
        if dry_run:
            report = job.dry_run()
        else:
            try:
                with issue_lock(store, key):
                    report = job.run()
            except IssueLocked as exc:
                report = SendReport(key=key, outcome="locked", message=str(exc))
    finally:
        job.close()
    report.elapsed = time.monotonic() - started
    return report


class _Send:
    def __init__(
        self, config: Config, store: Store, *, key: str, as_of: datetime, backend: Backend | None,
        force: bool, clock: Clock, client: httpx.Client | None, progress: SendProgress | None,
        stop: threading.Event | None, confirm: Confirm | None = None,
        keys: SigningKeys | None = None,
    ):  # fmt: skip
        self.config, self.store, self.key, self.as_of = config, store, key, as_of
        self.keys = keys or signing_keys(config)
        self.confirm = confirm
        self.force, self.clock, self.client = force, clock, client
        self.progress, self.stop = progress, stop
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

    def _note(self, text: str) -> None:
        if self.progress:
            self.progress.note(text)

    def _build(self) -> BuiltIssue:
        from digest.pipeline import build_issue

        built = build_issue(self.config, store=self.store, as_of=self.as_of, client=self.client, clock=self.clock)
        on_built = getattr(self.progress, "built", None)  # optional hook: the scheduler logs collected/selected
        if on_built is not None:
            on_built(built)
        return built

    # --- the real thing ---

    def run(self) -> SendReport:
        rec = records.get_issue(self.store, self.key)
        now = self.clock()
        bs = self.config.delivery.batch_size
        resumed = False
        if rec is not None and rec.status == "sent" and not self.force:
            when = rec.finished_at.isoformat(timespec="minutes") if rec.finished_at else "earlier"
            return SendReport(
                key=self.key, outcome="already_sent", recipients=rec.recipients, sent=rec.sent,
                skipped=rec.skipped_recipients, failed=rec.failed_recipients, subject=rec.subject,
                message=f"issue {self.key} was already sent ({when}, to {rec.sent} recipients); "
                "nothing sent. Use --force to send it again.",
            )  # fmt: skip
        if rec is not None and rec.status in ("sending", "failed"):
            resumed = True
            subject, html, text = rec.subject or "", rec.html or "", rec.text or ""
            lead = self._stored_lead()
            resend = ("in_flight",) if self.config.delivery.resend_in_flight else ()
            _, left = ledger.remaining(self.store, self.key, ("queued", "failed", *resend))
            if not self._confirmed(subject, lead, left, resuming=True):
                return self._cancelled(subject, lead)
            self._note(f"resuming issue {self.key} from its stored rendering")
        elif rec is not None and rec.status == "sent":  # --force
            lead = self._stored_lead()
            if not self._confirmed(rec.subject or "", lead, ledger.count_active(self.store), resuming=False):
                return self._cancelled(rec.subject, lead)
            ledger.reopen_for_resend(self.store, key=self.key, batch_size=bs, now=now)
            subject, html, text = rec.subject or "", rec.html or "", rec.text or ""
            self._note(f"--force: sending issue {self.key} again to today's active list")
        else:
            built = self._build()
            if built.rendered is None or built.issue.skipped:
                reason = built.issue.skip_reason or "nothing to send"
                records.record_skipped(self.store, key=self.key, as_of=self.as_of, reason=reason, now=now)
                return SendReport(key=self.key, outcome="skipped", message=f"issue {self.key} skipped: {reason}")
            r = built.rendered
            subject, html, text = r.subject, r.html, r.text
            lead = built.issue.lead.article.title if built.issue.lead else None
            active = ledger.count_active(self.store)
            if active == 0:
                return SendReport(
                    key=self.key, outcome="skipped", subject=subject, lead=lead,
                    message="there are no active subscribers: nothing sent, nothing recorded",
                )  # fmt: skip
            if not self._confirmed(subject, lead, active, resuming=False):
                return self._cancelled(subject, lead)
            ledger.claim_issue(
                self.store, key=self.key, as_of=self.as_of, subject=subject, preheader=r.preheader,
                html=html, text=text, archive_html=archive_html(html, self.config),
                picks=[ledger.PickedArticle(p.article.url, p.role, p.article.title, p.reason)
                       for p in built.issue.picks],
                batch_size=bs, now=now,
            )  # fmt: skip
        message = issue_message(self.config, key=self.key, subject=subject, html=html, text=text)
        report = self._deliver(message, resumed=resumed)
        report.subject, report.lead = subject, lead
        return report

    def _sender(self, message: Message, recipients: list[Any]) -> Callable[[], BatchResult]:
        """What the request thread runs. A backend that builds one request per batch
        (SendGrid) builds it here, in this thread, so the request thread only waits on the
        network and never holds the interpreter while this thread talks to the database.
        ``recipients`` are ``Reader`` triples for a backend with ``personalized_sender``
        (see ``_personalizer``), else ``Recipient``s. A request refused while it is built
        raises when the request thread runs it, so it fails the batch it belongs to."""
        backend = self.backend
        try:
            personalized = getattr(backend, "personalized_sender", None)
            if personalized is not None:
                send: Callable[[], BatchResult] = personalized(message, recipients)
                return send
            if type(backend).send_batch is Backend.send_batch:
                payload = backend.build_payload(message, recipients)
                return lambda: backend.parse_response(backend.post(payload), recipients)
        except DeliveryError as exc:
            refused = exc

            def fail() -> BatchResult:
                raise refused

            return fail
        return lambda: backend.send_batch(message, recipients)

    def _personalizer(self, links: UnsubscribeLinks) -> Callable[[Sequence[ledger.RecipientRow]], list[Any]]:
        """Rows -> what ``_sender`` takes: (email, name, unsubscribe URL) triples for a backend
        that builds its request from them (no Recipient object per reader), else Recipients."""
        if getattr(self.backend, "personalized_sender", None) is None:
            return lambda rows: recipients_for(rows, links)
        return lambda rows: list(zip(
            [r.email for r in rows], [r.name for r in rows], links.many([r.subscriber_id for r in rows])
        ))  # fmt: skip

    def _confirmed(self, subject: str, lead: str | None, recipients: int, *, resuming: bool) -> bool:
        backend = self.backend.describe()  # a configuration error surfaces before anything changes
        if self.confirm is None:
            return True
        plan = SendPlan(key=self.key, subject=subject, lead=lead, recipients=recipients,
                        resuming=resuming, backend=backend)  # fmt: skip
        return self.confirm(plan)

    def _cancelled(self, subject: str | None, lead: str | None) -> SendReport:
        return SendReport(key=self.key, outcome="cancelled", subject=subject, lead=lead,
                          message="cancelled: nothing sent, nothing recorded")  # fmt: skip

    def _stored_lead(self) -> str | None:
        return records.lead_title(self.store, self.key)

    def _deliver(self, message: Message, *, resumed: bool) -> SendReport:
        key, store = self.key, self.store
        report = SendReport(key=key, outcome="resumed" if resumed else "sent", backend=self.backend.describe())
        states: tuple[str, ...] = ("queued", "failed")
        interrupted = ledger.batches(store, key, states=["in_flight"])
        if interrupted:
            report.in_flight_batches = tuple(b.batch for b in interrupted)
            report.in_flight_at_crash = sum(b.size for b in interrupted)
            if self.config.delivery.resend_in_flight:
                states = ("queued", "failed", "in_flight")
                self._note(f"{_batches_text(interrupted)} in flight when the last send stopped: "
                           "resending (delivery.resend_in_flight = true)")  # fmt: skip
            else:
                ledger.abandon_batches(store, key, now=self.clock(),
                                       reason="in flight when a send stopped; not resent")  # fmt: skip
        links = UnsubscribeLinks(self.config.newsletter.public_url, self.keys.current, self.keys.previous)
        record_key_use(store, self.keys.fingerprint, at=self.clock(), issue=key)  # before any link leaves
        all_batches = ledger.batches(store, key)
        todo_batches, todo_recipients = ledger.remaining(store, key, states)
        report.batches = len(all_batches)
        total = sum(b.size for b in all_batches)
        if self.progress:
            self.progress.start(key=key, recipients=total, batches=len(all_batches),
                                done_recipients=total - todo_recipients,
                                done_batches=len(all_batches) - todo_batches)  # fmt: skip
        failure: str | None = None
        stopped = False
        doubts = Doubts()
        sending_started = time.monotonic()

        todo = iter(ledger.todo_batches(store, key, states))
        personalize = self._personalizer(links)

        def prepare() -> _Prepared | None:
            batch = next(todo, None)
            if batch is None:
                return None
            rows = ledger.prepare_batch(store, key, batch)
            people = personalize(rows)
            return _Prepared(batch, rows, 0, people, self._sender(message, people))

        # One batch in flight at a time (so a crash leaves at most one unconfirmed), but the
        # next batch is read, personalized and its request built while the current request is
        # on the wire; accepting a batch and putting the next in flight is one commit.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-send") as pool:
            current = prepare()
            departed: list[int] | None = None  # current's, when it went in flight with the last commit
            while current is not None:
                if departed is None:
                    if self.stop is not None and self.stop.is_set():
                        stopped = True
                        break
                    departed = ledger.mark_in_flight(store, key, current.batch, now=self.clock())
                # readers who left since the send began are skipped here, just before the request
                if departed:
                    gone = set(departed)
                    keep = [i for i, r in enumerate(current.rows) if r.subscriber_id not in gone]
                    people = [current.recipients[i] for i in keep]
                    current = _Prepared(current.batch, [current.rows[i] for i in keep], len(gone),
                                        people, self._sender(message, people))  # fmt: skip
                departed = None
                if not current.rows:
                    ledger.finish_batch(store, key, current.batch, now=self.clock())
                    if self.progress:
                        self.progress.batch_done(batch=current.batch, recipients=0, skipped=current.skipped)
                    current = prepare()
                    continue
                request = pool.submit(current.send)  # building the request, then sending it
                try:
                    following = prepare()
                except BaseException:  # the next batch cannot be read: record the one on the wire
                    self._settle(request, current)
                    raise
                try:
                    result = request.result()
                except DeliveryInDoubtError as exc:  # left in flight; the send carries on (digest.in_doubt)
                    ledger.leave_in_doubt(store, key, current.batch, now=self.clock(), error=str(exc))
                    self._note(doubts.add(InDoubt(current.batch, len(current.rows), str(exc))))
                    if doubts.too_many:
                        failure = doubts.stop_reason()
                        break
                    current = following
                    continue
                except DeliveryError as exc:
                    failure = f"batch {current.batch} ({len(current.rows)} recipients): {exc}"
                    report.transient = isinstance(exc, TransientDeliveryError)
                    ledger.fail_batch(store, key, current.batch, now=self.clock(), error=str(exc))
                    break
                except Exception as exc:  # noqa: BLE001 -- a bug or an error the backend does not know
                    failure = (
                        f"batch {current.batch} ({len(current.rows)} recipients): unexpected "
                        f"{type(exc).__name__}: {exc}. Whether it went out is unknown: it is left "
                        "in flight, as after a crash (see delivery.resend_in_flight)"
                    )
                    break
                go_on = following is not None and not result.unsent and not (self.stop is not None and self.stop.is_set())
                accepted, departed = self._record(current, result, following if go_on else None, doubts)
                report.sent_now += accepted
                if self.progress:
                    self.progress.batch_done(batch=current.batch, recipients=len(current.rows), skipped=current.skipped)
                if result.unsent:  # the backend gave up part-way: the readers it never reached wait
                    failure = f"batch {current.batch}: {len(result.unsent)} recipients not sent: {result.stopped_by}"
                    report.transient = isinstance(result.stopped_by, TransientDeliveryError)
                    break
                current = following
        report.sending_seconds = time.monotonic() - sending_started
        self._conclude(report, failure, stopped, doubts, states)
        if interrupted and not self.config.delivery.resend_in_flight:
            report.message = report.message.rstrip(".") + (
                f". {_batches_text(interrupted)} ({report.in_flight_at_crash} recipients) "
                "was in flight when the previous send stopped and was not resent: it may have "
                "gone out (set delivery.resend_in_flight = true to resend such batches)"
            )
        return report

    def _settle(self, request: Future[BatchResult], current: _Prepared) -> None:
        """Wait for the batch on the wire and record what it became (accepted or failed);
        an outcome nobody can read leaves it in flight."""
        try:
            result = request.result()
        except DeliveryInDoubtError as exc:
            ledger.leave_in_doubt(self.store, self.key, current.batch, now=self.clock(), error=str(exc))
            return
        except DeliveryError as exc:
            ledger.fail_batch(self.store, self.key, current.batch, now=self.clock(), error=str(exc))
            return
        except Exception:  # noqa: BLE001 -- unknown outcome: left in flight; the caller re-raises its own error
            return
        self._record(current, result, None, Doubts())

    def _record(
        self, current: _Prepared, result: BatchResult, following: _Prepared | None, doubts: Doubts
    ) -> tuple[int, list[int] | None]:
        """Record what the backend answered for ``current``: readers it left in doubt or never
        reached are split off first (``digest.in_doubt.split_off``), the rest accepted (those
        refused one by one failed) and, with ``following``, the next batch put in flight in the
        same commit. Returns (accepted, the ids skipped from ``following``, None without it)."""
        store, key, now = self.store, self.key, self.clock()
        doubts.answered()
        if result.in_doubt or result.unsent:
            doubt, _ = split_off(store, key, current.batch, current.rows, result, now=now)
            if doubt is not None:
                self._note(doubts.add(doubt))
        rejected = _rejected_ids(current.rows, result)
        if following is None:
            return ledger.finish_batch(store, key, current.batch, now=now, rejected_ids=rejected), None
        return ledger.finish_and_start(store, key, current.batch, following.batch, now=now, rejected_ids=rejected)

    def _conclude(
        self, report: SendReport, failure: str | None, stopped: bool, doubts: Doubts, states: tuple[str, ...]
    ) -> None:
        """Mark the issue and word the report. Batches in doubt make the outcome "failed" (exit 1,
        and not "sent": a later `digest send` can still resend them) and not transient: an
        editor decides about them before any rerun, so the scheduler does not retry."""
        key, store = self.key, self.store
        left_batches, left_recipients = ledger.remaining(store, key, states)
        if "in_flight" in states:  # resend_in_flight: this run's batches in doubt are not left to send
            left_batches, left_recipients = left_batches - len(doubts.found), left_recipients - doubts.recipients
        report.in_doubt_batches, report.in_doubt = doubts.batches, doubts.recipients
        cause = failure  # what stopped the send, if anything
        status = "sent"
        if cause is not None:
            status, report.outcome = "failed", "failed"
        elif stopped and left_batches:
            status, report.outcome = "sending", "interrupted"
        elif doubts.found:
            status, report.outcome, failure = "failed", "failed", doubts.summary()
        records.mark_issue(store, key, status=status, now=self.clock(), failure=failure)
        rec = records.get_issue(store, key)
        assert rec is not None
        report.recipients, report.sent = rec.recipients, rec.sent
        report.skipped, report.failed = rec.skipped_recipients, rec.failed_recipients
        counts = f"{rec.skipped_recipients} skipped, {rec.failed_recipients} refused"
        left = f"{left_batches} batch(es), {left_recipients} recipients"
        then = f". {doubts.summary()}." if doubts.found else ""
        if report.outcome in ("sent", "resumed"):
            report.message = f"issue {key} sent to {rec.sent} recipients ({counts})"
        elif report.outcome == "interrupted":
            report.message = f"issue {key} paused after the batch in progress: {left} left" + (
                then or "; run `digest send` again to resume.")  # fmt: skip
        elif cause is not None:
            report.message = f"issue {key} stopped: {cause}. {left} not sent yet" + (
                then or "; fix the cause and run `digest send` again to resume.")  # fmt: skip
        else:
            report.message = (f"issue {key} sent to {rec.sent} of {rec.recipients} recipients "
                              f"({counts}), but {doubts.summary()}.")  # fmt: skip
        if doubts.found:
            report.transient = False

    # --- dry run: everything but the provider calls, nothing recorded ---

    def dry_run(self) -> SendReport:
        rec = records.get_issue(self.store, self.key)
        if rec is not None and rec.status == "sent" and not self.force:
            return SendReport(key=self.key, outcome="already_sent", recipients=rec.recipients,
                              sent=rec.sent, subject=rec.subject,
                              message=f"issue {self.key} was already sent; a send would do nothing")  # fmt: skip
        if rec is not None and rec.status in ("sending", "failed"):
            n, size = ledger.remaining(self.store, self.key, ("queued", "failed"))
            inflight = ledger.batches(self.store, self.key, states=["in_flight"])
            return SendReport(
                key=self.key, outcome="dry_run", recipients=rec.recipients, sent=rec.sent,
                subject=rec.subject, in_flight_batches=tuple(b.batch for b in inflight),
                in_flight_at_crash=sum(b.size for b in inflight),
                message=f"dry run: issue {self.key} is {rec.status}; a send would resume with "
                f"{n} batch(es), {size} recipients (nothing sent, nothing recorded)",
            )  # fmt: skip
        built = self._build()
        if built.rendered is None or built.issue.skipped:
            return SendReport(key=self.key, outcome="skipped",
                              message=f"dry run: issue {self.key} would be skipped: {built.issue.skip_reason}")  # fmt: skip
        r = built.rendered
        message = issue_message(self.config, key=self.key, subject=r.subject, html=r.html, text=r.text)
        links = UnsubscribeLinks(self.config.newsletter.public_url, self.keys.current, self.keys.previous)
        total = ledger.count_active(self.store)
        bs = self.config.delivery.batch_size
        nbatches = -(-total // bs)
        if self.progress:
            self.progress.start(key=self.key, recipients=total, batches=nbatches, done_recipients=0, done_batches=0)
        count = 0
        for i, rows in enumerate(ledger.iter_active(self.store, bs)):
            self.backend.check_batch(message, recipients_for(rows, links))
            count += len(rows)
            if self.progress:
                self.progress.batch_done(batch=i, recipients=len(rows), skipped=0)
        return SendReport(
            key=self.key, outcome="dry_run", recipients=count, batches=nbatches, subject=r.subject,
            lead=built.issue.lead.article.title if built.issue.lead else None,
            backend=self.backend.describe(),
            message=f"dry run: issue {self.key} would go to {count} recipients in {nbatches} "
            "batch(es); nothing sent, nothing recorded",
        )  # fmt: skip


@dataclass(frozen=True)
class _Prepared:
    """A batch read and personalized, not yet in flight."""

    batch: int
    rows: list[ledger.RecipientRow]
    skipped: int
    recipients: list[Any]  # what ``_sender`` takes: Recipients or (email, name, URL) triples
    send: Callable[[], BatchResult]  # posts the request built for ``recipients``


def _rejected_ids(rows: Sequence[ledger.RecipientRow], result: BatchResult) -> list[int]:
    """The subscribers of ``rows`` whose address the provider refused."""
    if not result.rejected:
        return []
    refused = {e.lower() for e in result.rejected}
    return [r.subscriber_id for r in rows if r.email.lower() in refused]


def _batches_text(batches: Sequence[ledger.BatchInfo]) -> str:
    nums = ", ".join(str(b.batch) for b in batches)
    return f"batch {nums}" if len(batches) == 1 else f"batches {nums}"
