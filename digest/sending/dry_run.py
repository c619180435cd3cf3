"""``digest send --dry-run``: everything a send does but the provider calls, with nothing
recorded. Each batch is personalized and checked by the backend as it would be sent."""

from __future__ import annotations

from digest.sending.job import SendJob
from digest.sending.message import issue_message, recipients_for
from digest.sending.report import SendReport
from digest.store import ledger, records
from digest.tokens import UnsubscribeLinks


def dry_run(job: SendJob) -> SendReport:
    rec = records.get_issue(job.store, job.key)
    if rec is not None and rec.status == "sent" and not job.force:
        return SendReport(
            key=job.key,
            outcome="already_sent",
            recipients=rec.recipients,
            sent=rec.sent,
            subject=rec.subject,
            message=f"issue {job.key} was already sent; a send would do nothing",
        )
    if rec is not None and rec.status in ("sending", "failed"):
        n, size = ledger.remaining(job.store, job.key, ("queued", "failed"))
        inflight = ledger.batches(job.store, job.key, states=["in_flight"])
        return SendReport(
            key=job.key,
            outcome="dry_run",
            recipients=rec.recipients,
            sent=rec.sent,
            subject=rec.subject,
            in_flight_batches=tuple(b.batch for b in inflight),
            in_flight_at_crash=sum(b.size for b in inflight),
            message=f"dry run: issue {job.key} is {rec.status}; a send would resume with "
            f"{n} batch(es), {size} recipients (nothing sent, nothing recorded)",
        )
    return _dry_run_new(job)


def _dry_run_new(job: SendJob) -> SendReport:
    """Build the issue and check every batch of today's active list with the backend."""
    built = job.build()
    if built.rendered is None or built.issue.skipped:
        return SendReport(
            key=job.key,
            outcome="skipped",
            message=f"dry run: issue {job.key} would be skipped: {built.issue.skip_reason}",
        )
    r = built.rendered
    message = issue_message(job.config, key=job.key, subject=r.subject, html=r.html, text=r.text)
    keys = job.keys
    links = UnsubscribeLinks(job.config.newsletter.public_url, keys.current, keys.previous)
    total = ledger.count_active(job.store)
    bs = job.config.delivery.batch_size
    nbatches = -(-total // bs)
    if job.progress:
        job.progress.start(
            key=job.key, recipients=total, batches=nbatches, done_recipients=0, done_batches=0
        )
    count = 0
    for i, rows in enumerate(ledger.iter_active(job.store, bs)):
        job.backend.check_batch(message, recipients_for(rows, links))
        count += len(rows)
        if job.progress:
            job.progress.batch_done(batch=i, recipients=len(rows), skipped=0)
    return SendReport(
        key=job.key,
        outcome="dry_run",
        recipients=count,
        batches=nbatches,
        subject=r.subject,
        lead=built.issue.lead.article.title if built.issue.lead else None,
        backend=job.backend.describe(),
        message=f"dry run: issue {job.key} would go to {count} recipients in {nbatches} "
        "batch(es); nothing sent, nothing recorded",
    )
