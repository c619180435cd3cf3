"""Issue records: one row per issue key, as the editor sees it in `digest issues`.

An issue moves draft → sending → sent (or skipped, or failed); its row keeps the rendered
issue (the exact bytes every batch and every resume sends), its counts (recomputed from the
send ledger when it finishes) and the Event Webhook's tallies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from digest.store.database import Store
from digest.store.ledger import BatchInfo, batches
from digest.store.tables import IssueArticle, IssueRecord, SendBatch, SendRecipient

WEBHOOK_COUNTS = (
    "delivered",
    "bounced",
    "blocked",
    "dropped",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
    "unknown_events",
)


@dataclass
class IssueSummary:
    """An issue as the editor sees it in `digest issues`."""

    key: str
    status: str
    as_of: datetime
    subject: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    recipients: int
    sent: int
    skipped: int
    failed: int
    skip_reason: str | None
    failure: str | None
    events: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)  # state -> count
    in_flight: list[BatchInfo] = field(default_factory=list)  # in flight or abandoned

    def to_json(self) -> dict[str, object]:
        return {
            "issue": self.key,
            "status": self.status,
            "as_of": self.as_of.isoformat(),
            "subject": self.subject,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "recipients": self.recipients,
            "sent": self.sent,
            "skipped": self.skipped,
            "failed": self.failed,
            "skip_reason": self.skip_reason,
            "failure": self.failure,
            **self.events,
            "batches": self.batches,
            "unconfirmed_batches": [
                {"batch": b.batch, "state": b.state, "size": b.size} for b in self.in_flight
            ],
        }


def get_issue(store: Store, key: str) -> IssueRecord | None:
    with store.session() as s:
        return s.get(IssueRecord, key)


def record_skipped(store: Store, *, key: str, as_of: datetime, reason: str, now: datetime) -> bool:
    """Record that the issue for ``key`` was skipped (and why). Never overwrites an issue
    that is sending or sent; returns whether the record now says skipped."""
    with store.session() as s:
        rec = s.get(IssueRecord, key, with_for_update=True)
        if rec is None:
            s.add(
                IssueRecord(
                    key=key, status="skipped", as_of=as_of, skip_reason=reason,
                    created_at=now, finished_at=now,
                )
            )  # fmt: skip
            return True
        if rec.status in ("sending", "sent", "failed"):
            return False
        rec.status, rec.as_of, rec.skip_reason, rec.finished_at = "skipped", as_of, reason, now
        return True


def mark_issue(
    store: Store, key: str, *, status: str, now: datetime, failure: str | None = None
) -> None:
    """Finish an issue: sent or failed, with counts recomputed from the ledger."""
    with store.session() as s:
        rec = s.get(IssueRecord, key, with_for_update=True)
        if rec is None:
            raise LookupError(key)
        counts = dict(
            s.execute(
                select(SendRecipient.state, func.count())
                .where(SendRecipient.issue_key == key)
                .group_by(SendRecipient.state)
            ).all()
        )
        rec.sent = int(counts.get("accepted", 0))
        rec.skipped_recipients = int(counts.get("skipped", 0))
        rec.failed_recipients = int(counts.get("failed", 0))
        rec.status, rec.failure = status, failure
        if status in ("sent", "failed"):
            rec.finished_at = now


def _summary(
    rec: IssueRecord, counts: dict[str, int], unconfirmed: list[BatchInfo]
) -> IssueSummary:
    return IssueSummary(
        key=rec.key,
        status=rec.status,
        as_of=rec.as_of,
        subject=rec.subject,
        created_at=rec.created_at,
        started_at=rec.started_at,
        finished_at=rec.finished_at,
        recipients=rec.recipients or 0,
        sent=rec.sent or 0,
        skipped=rec.skipped_recipients or 0,
        failed=rec.failed_recipients or 0,
        skip_reason=rec.skip_reason,
        failure=rec.failure,
        events={k: int(getattr(rec, k) or 0) for k in WEBHOOK_COUNTS},
        batches=counts,
        in_flight=unconfirmed,
    )


def issue_summary(store: Store, key: str) -> IssueSummary | None:
    rec = get_issue(store, key)
    if rec is None:
        return None
    rows = batches(store, key)
    counts: dict[str, int] = {}
    for b in rows:
        counts[b.state] = counts.get(b.state, 0) + 1
    return _summary(rec, counts, [b for b in rows if b.state in ("in_flight", "abandoned")])


def list_issues(store: Store, *, limit: int | None = None) -> list[IssueSummary]:
    """Issues newest first, with counts (batch details only for unfinished ones)."""
    with store.session() as s:
        q = select(IssueRecord).order_by(IssueRecord.key.desc())
        if limit:
            q = q.limit(limit)
        recs = list(s.scalars(q).all())
        per_issue: dict[str, dict[str, int]] = {}
        keys = [r.key for r in recs]
        if keys:
            for key, state, n in s.execute(
                select(SendBatch.issue_key, SendBatch.state, func.count())
                .where(SendBatch.issue_key.in_(keys))
                .group_by(SendBatch.issue_key, SendBatch.state)
            ).all():
                per_issue.setdefault(key, {})[state] = int(n)
    return [_summary(rec, per_issue.get(rec.key, {}), []) for rec in recs]


def statuses(store: Store) -> dict[str, str]:
    """Issue key → status, for every issue recorded."""
    with store.session() as s:
        return {str(k): str(v) for k, v in s.execute(select(IssueRecord.key, IssueRecord.status))}


def sending(store: Store) -> list[tuple[str, datetime]]:
    """(key, as-of) of every issue left ``sending`` (a send that stopped or is running)."""
    with store.session() as s:
        rows = s.execute(
            select(IssueRecord.key, IssueRecord.as_of).where(IssueRecord.status == "sending")
        ).all()
    return [(str(key), as_of) for key, as_of in rows]


def lead_title(store: Store, key: str) -> str | None:
    """The title of the lead story issue ``key`` carried."""
    with store.session() as s:
        return s.scalar(
            select(IssueArticle.title).where(
                IssueArticle.issue_key == key, IssueArticle.role == "lead"
            )
        )
