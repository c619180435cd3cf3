"""How a send ends: the issue's status, and the report worded for the editor."""

from __future__ import annotations

from collections.abc import Sequence

from digest.clock import Clock
from digest.in_doubt import Doubts
from digest.sending.report import SendReport
from digest.store import ledger, records
from digest.store.database import Store
from digest.store.tables import IssueRecord


def conclude(
    store: Store,
    key: str,
    report: SendReport,
    *,
    clock: Clock,
    failure: str | None,
    stopped: bool,
    doubts: Doubts,
    states: tuple[str, ...],
) -> None:
    """Mark the issue and word the report. Batches in doubt make the outcome "failed" (exit 1,
    and not "sent": a later `digest send` can still resend them) and not transient: an
    editor decides about them before any rerun, so the scheduler does not retry."""
    left_batches, left_recipients = ledger.remaining(store, key, states)
    if "in_flight" in states:  # resend_in_flight: this run's batches in doubt are not left to send
        left_batches -= len(doubts.found)
        left_recipients -= doubts.recipients
    report.in_doubt_batches, report.in_doubt = doubts.batches, doubts.recipients
    status = "sent"
    recorded_failure = failure
    if failure is not None:
        status, report.outcome = "failed", "failed"
    elif stopped and left_batches:
        status, report.outcome = "sending", "interrupted"
    elif doubts.found:
        status, report.outcome, recorded_failure = "failed", "failed", doubts.summary()
    records.mark_issue(store, key, status=status, now=clock(), failure=recorded_failure)
    rec = records.get_issue(store, key)
    assert rec is not None
    report.recipients, report.sent = rec.recipients, rec.sent
    report.skipped, report.failed = rec.skipped_recipients, rec.failed_recipients
    left = f"{left_batches} batch(es), {left_recipients} recipients"
    report.message = _wording(report, rec, cause=failure, left=left, doubts=doubts)
    if doubts.found:
        report.transient = False


def _wording(
    report: SendReport, rec: IssueRecord, *, cause: str | None, left: str, doubts: Doubts
) -> str:
    key = report.key
    counts = f"{rec.skipped_recipients} skipped, {rec.failed_recipients} refused"
    then = f". {doubts.summary()}." if doubts.found else ""
    if report.outcome in ("sent", "resumed"):
        return f"issue {key} sent to {rec.sent} recipients ({counts})"
    if report.outcome == "interrupted":
        return f"issue {key} paused after the batch in progress: {left} left" + (
            then or "; run `digest send` again to resume."
        )
    if cause is not None:
        return f"issue {key} stopped: {cause}. {left} not sent yet" + (
            then or "; fix the cause and run `digest send` again to resume."
        )
    return (
        f"issue {key} sent to {rec.sent} of {rec.recipients} recipients "
        f"({counts}), but {doubts.summary()}."
    )


def not_resent_note(report: SendReport, interrupted: Sequence[ledger.BatchInfo]) -> str:
    """The report's message, followed by why the batches a previous send left in flight
    were not sent again."""
    if len(interrupted) == 1:
        only = interrupted[0]
        named, was, it = f"batch {only.batch} ({report.in_flight_at_crash} recipients)", "was", "it"
    else:  # several in flight at once (delivery.concurrency): each with its size
        each = ", ".join(f"batch {b.batch} ({b.size} recipients)" for b in interrupted)
        named, was, it = f"{each} ({report.in_flight_at_crash} recipients in all)", "were", "they"
    return report.message.rstrip(".") + (
        f". {named} {was} in flight when the previous send stopped and {was} not resent: "
        f"{it} may have gone out (set delivery.resend_in_flight = true to resend such batches)"
    )
