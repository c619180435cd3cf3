"""Compaction: the send ledger stays small (`digest db compact`, and the scheduler after
each send).

``send_recipients`` holds one row per reader per issue, so a weekly list of a million adds
52 million rows a year. Those rows matter while an issue is being sent (who is in which
batch, who was accepted: a resume needs them) and not afterwards: when an issue is
finished, ``records.mark_issue`` has already written its counts (recipients, sent, skipped,
failed) onto the issue record, and the Event Webhook adds its counts (delivered, bounced,
opened, …) to the record by the issue key its events carry, never through the ledger.

So the recipient rows of *sent* issues whose as-of is older than ``[storage]
keep_recipients_weeks`` are removed, one set-based DELETE per issue (each issue its own
short transaction, the issue row locked and its status checked again, so a concurrent
``digest send --force`` that re-freezes the issue is never touched). Kept: the issue record
with every count, its articles (``issue_articles``: an article sent once is never picked
again) and its ``send_batches`` rows (one per thousand readers; `digest issues show`
reports them), so `digest issues list/show` read the same before and after. Issues that
are sending or failed are never compacted: their ledger is what a resume sends from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, select

from digest.store.batch_path import rowcount
from digest.store.database import Store
from digest.store.tables import IssueRecord, SendRecipient

COMPACTED_STATUSES = ("sent",)  # sending and failed keep their ledger: a resume needs it


@dataclass(frozen=True)
class Compaction:
    """What a compaction removed (or, for a dry run, would remove)."""

    cutoff: datetime
    issues: dict[str, int] = field(default_factory=dict)  # issue key -> recipient rows
    dry_run: bool = False

    @property
    def rows(self) -> int:
        return sum(self.issues.values())


def cutoff_for(now: datetime, keep_weeks: int) -> datetime:
    """Issues whose as-of is before this are compacted."""
    if keep_weeks < 1:
        raise ValueError("keep_recipients_weeks must be 1 or more")
    return now - timedelta(weeks=keep_weeks)


def _candidates(store: Store, cutoff: datetime) -> list[str]:
    """Sent issues older than ``cutoff`` that still have recipient rows, oldest first."""
    with store.session() as s:
        return [
            str(k)
            for k in s.scalars(
                select(IssueRecord.key)
                .where(
                    IssueRecord.status.in_(COMPACTED_STATUSES),
                    IssueRecord.as_of < cutoff,
                    exists().where(SendRecipient.issue_key == IssueRecord.key),
                )
                .order_by(IssueRecord.key)
            )
        ]


def compact(store: Store, *, now: datetime, keep_weeks: int, dry_run: bool = False) -> Compaction:
    """Remove the ``send_recipients`` rows of sent issues older than ``keep_weeks`` weeks
    before ``now`` (``dry_run``: only count them). Every count stays on the issue."""
    cutoff = cutoff_for(now, keep_weeks)
    removed: dict[str, int] = {}
    for key in _candidates(store, cutoff):
        with store.session() as s:
            rec = s.get(IssueRecord, key, with_for_update=True)
            if rec is None or rec.status not in COMPACTED_STATUSES or not rec.as_of < cutoff:
                continue  # changed since the candidates were read (a resend, say)
            where = SendRecipient.issue_key == key
            if dry_run:
                n = int(s.scalar(select(func.count()).select_from(SendRecipient).where(where)) or 0)
            else:
                n = rowcount(
                    s.execute(
                        delete(SendRecipient)
                        .where(where)
                        .execution_options(synchronize_session=False)
                    )
                )
        if n:
            removed[key] = n
    return Compaction(cutoff=cutoff, issues=removed, dry_run=dry_run)


__all__ = ["COMPACTED_STATUSES", "Compaction", "compact", "cutoff_for"]
