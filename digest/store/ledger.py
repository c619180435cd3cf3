"""The send ledger: what was sent, to whom, in which batch (the issue records themselves,
their states and counts: ``digest.store.records``).

When a send starts, ``claim_issue`` stores the rendered issue (the exact bytes every
batch and every resume will send), the articles it carries, and freezes the
recipients into ``send_recipients`` with one set-based INSERT … SELECT (the
list never passes through Python), numbered into batches. Each batch is then
``prepare_batch`` (who is in it) → ``mark_in_flight`` (in flight, committed) → the
provider call → ``finish_batch`` (accepted, committed); those per-batch steps are in
``digest.store.batch_path`` and named here too. Every function is one short transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from digest.errors import SendError
from digest.store.batch_path import (
    OPEN_RECIPIENT_STATES,
    RecipientRow,
    finish_batch,
    mark_in_flight,
    prepare_batch,
    rowcount,
)
from digest.store.database import Store
from digest.store.tables import IssueArticle, IssueRecord, SendBatch, SendRecipient, Subscriber

__all__ = [
    "OPEN_RECIPIENT_STATES",
    "BatchInfo",
    "Claim",
    "PickedArticle",
    "RecipientRow",
    "abandon_batches",
    "batches",
    "claim_issue",
    "count_active",
    "fail_batch",
    "finish_batch",
    "iter_active",
    "leave_in_doubt",
    "mark_in_flight",
    "prepare_batch",
    "remaining",
    "reopen_for_resend",
    "split_batch",
    "todo_batches",
]


@dataclass(frozen=True)
class BatchInfo:
    batch: int
    state: str
    size: int
    attempts: int
    error: str | None


# --- claiming an issue: its record, its articles, its frozen recipients -------------


@dataclass(frozen=True)
class Claim:
    recipients: int
    batches: int


class PickedArticle(NamedTuple):
    """An article of the issue as the record keeps it (the pipeline's Pick, flattened)."""

    url: str
    role: str  # "lead" or "latest"
    title: str
    reason: str
    image_url: str | None = None  # vetted (absolute http(s)) or None


def claim_issue(
    store: Store,
    *,
    key: str,
    as_of: datetime,
    subject: str,
    preheader: str,
    html: str,
    text: str,
    archive_html: str,
    picks: Sequence[PickedArticle],
    batch_size: int,
    now: datetime,
) -> Claim:
    """In one transaction: the issue record (status sending, with the rendered issue),
    its articles, and the frozen recipient list. A concurrent claim of the same key fails
    on the primary key (the caller holds the issue lock, so it should not happen)."""
    with store.session() as s:
        rec = s.get(IssueRecord, key, with_for_update=True)
        if rec is None:
            rec = IssueRecord(key=key, created_at=now)
            s.add(rec)
        elif rec.status not in ("draft", "skipped"):
            raise SendError(f"issue {key} is already {rec.status}; it cannot be claimed again")
        rec.status, rec.as_of, rec.subject, rec.preheader = "sending", as_of, subject, preheader
        rec.html, rec.text, rec.archive_html = html, text, archive_html
        rec.skip_reason, rec.failure = None, None
        rec.started_at, rec.finished_at = now, None
        rec.sent = rec.skipped_recipients = rec.failed_recipients = 0
        s.flush()
        s.execute(delete(IssueArticle).where(IssueArticle.issue_key == key))
        for position, pick in enumerate(picks):
            s.add(
                IssueArticle(
                    issue_key=key, url=pick.url, role=pick.role, position=position,
                    title=pick.title, reason=pick.reason, image_url=pick.image_url,
                )
            )  # fmt: skip
        s.flush()
        claim = _freeze_recipients(s, key=key, batch_size=batch_size, now=now)
        rec.recipients = claim.recipients
        return claim


def _freeze_recipients(s: Session, *, key: str, batch_size: int, now: datetime) -> Claim:
    s.execute(delete(SendBatch).where(SendBatch.issue_key == key))
    s.execute(delete(SendRecipient).where(SendRecipient.issue_key == key))
    batch_no = (func.row_number().over(order_by=Subscriber.id) - 1) // batch_size + 1  # 1-based
    s.execute(
        insert(SendRecipient).from_select(
            ["issue_key", "subscriber_id", "batch", "state"],
            select(literal(key), Subscriber.id, batch_no, literal("queued")).where(
                Subscriber.status == "active"
            ),
        )
    )
    s.execute(
        insert(SendBatch).from_select(
            ["issue_key", "batch", "state", "size", "attempts", "updated_at"],
            select(
                literal(key),
                SendRecipient.batch,
                literal("queued"),
                func.count(),
                literal(0),
                literal(now, IssueRecord.created_at.type),
            )
            .where(SendRecipient.issue_key == key)
            .group_by(SendRecipient.batch),
        )
    )
    recipients, batches = s.execute(
        select(func.coalesce(func.sum(SendBatch.size), 0), func.count()).where(
            SendBatch.issue_key == key
        )
    ).one()
    return Claim(recipients=int(recipients), batches=int(batches))


def reopen_for_resend(store: Store, *, key: str, batch_size: int, now: datetime) -> Claim:
    """``--force``: send a sent issue again, from its stored bytes, to today's active list."""
    with store.session() as s:
        rec = s.get(IssueRecord, key, with_for_update=True)
        if rec is None or rec.html is None:
            raise LookupError(f"issue {key} has no stored rendering to send again")
        rec.status, rec.started_at, rec.finished_at, rec.failure = "sending", now, None, None
        rec.sent = rec.skipped_recipients = rec.failed_recipients = 0
        claim = _freeze_recipients(s, key=key, batch_size=batch_size, now=now)
        rec.recipients = claim.recipients
        return claim


# --- batches -------------------------------------------------------------------------


def batches(store: Store, key: str, *, states: Sequence[str] | None = None) -> list[BatchInfo]:
    with store.session() as s:
        q = select(SendBatch).where(SendBatch.issue_key == key).order_by(SendBatch.batch)
        if states is not None:
            q = q.where(SendBatch.state.in_(states))
        return [
            BatchInfo(b.batch, b.state, b.size, b.attempts, b.error) for b in s.scalars(q).all()
        ]


def abandon_batches(store: Store, key: str, *, now: datetime, reason: str) -> list[BatchInfo]:
    """Batches left in flight by a crash: marked abandoned (not resent), returned."""
    with store.session() as s:
        found = s.scalars(
            select(SendBatch)
            .where(SendBatch.issue_key == key, SendBatch.state == "in_flight")
            .order_by(SendBatch.batch)
        ).all()
        out = []
        for b in found:
            why = f"{reason} ({b.error})" if b.error else reason  # keeps a lost answer's cause
            out.append(BatchInfo(b.batch, "abandoned", b.size, b.attempts, why))
            b.state, b.error, b.updated_at = "abandoned", why[:2000], now
            s.execute(
                update(SendRecipient)
                .where(
                    SendRecipient.issue_key == key,
                    SendRecipient.batch == b.batch,
                    SendRecipient.state.in_(OPEN_RECIPIENT_STATES),
                )
                .values(state="in_flight")  # may or may not have been delivered
                .execution_options(synchronize_session=False)
            )
        return out


def todo_batches(store: Store, key: str, states: Sequence[str]) -> list[int]:
    """The numbers of the batches still to send, in order (one int per 1,000 readers)."""
    with store.session() as s:
        return list(
            s.scalars(
                select(SendBatch.batch)
                .where(SendBatch.issue_key == key, SendBatch.state.in_(states))
                .order_by(SendBatch.batch)
            ).all()
        )


def fail_batch(store: Store, key: str, batch: int, *, now: datetime, error: str) -> None:
    """The provider call failed for good: the batch and its recipients are failed
    (a later `digest send` retries them)."""
    with store.session() as s:
        s.execute(
            update(SendRecipient)
            .where(
                and_(
                    SendRecipient.issue_key == key,
                    SendRecipient.batch == batch,
                    SendRecipient.state.in_(OPEN_RECIPIENT_STATES),
                )
            )
            .values(state="failed")
            .execution_options(synchronize_session=False)
        )
        s.execute(
            update(SendBatch)
            .where(SendBatch.issue_key == key, SendBatch.batch == batch)
            .values(state="failed", updated_at=now, error=error[:2000])
        )


def leave_in_doubt(store: Store, key: str, batch: int, *, now: datetime, error: str) -> None:
    """The request went out and its answer was lost (``DeliveryInDoubtError``): the batch
    stays in flight, exactly as after a crash, with the reason recorded."""
    with store.session() as s:
        s.execute(
            update(SendBatch)
            .where(
                SendBatch.issue_key == key, SendBatch.batch == batch, SendBatch.state == "in_flight"
            )
            .values(updated_at=now, error=error[:2000])
        )


def split_batch(
    store: Store, key: str, batch: int, subscriber_ids: Sequence[int], *, state: str,
    now: datetime, error: str,
) -> int:  # fmt: skip
    """Move ``subscriber_ids`` out of ``batch`` into a new batch numbered after the last, in
    ``state``: "in_flight" for readers whose message a backend left in doubt (reported and
    resent as any batch in flight), "failed" for readers it never reached (sent by the next
    run). The rest of ``batch`` is then finished as usual. Returns the new batch's number."""
    with store.session() as s:
        last = s.scalar(select(func.max(SendBatch.batch)).where(SendBatch.issue_key == key))
        new = int(last or 0) + 1
        values: dict[str, object] = {"batch": new}
        if state == "failed":
            values["state"] = "failed"
        moved = rowcount(s.execute(
            update(SendRecipient)
            .where(SendRecipient.issue_key == key, SendRecipient.batch == batch,
                   SendRecipient.subscriber_id.in_(list(subscriber_ids)),
                   SendRecipient.state.in_(OPEN_RECIPIENT_STATES))
            .values(**values)
            .execution_options(synchronize_session=False)
        ))  # fmt: skip
        s.execute(
            update(SendBatch)
            .where(SendBatch.issue_key == key, SendBatch.batch == batch)
            .values(size=SendBatch.size - moved)
        )
        s.add(SendBatch(issue_key=key, batch=new, state=state, size=moved, attempts=1,
                        updated_at=now, error=error[:2000]))  # fmt: skip
        return new


def remaining(store: Store, key: str, states: Sequence[str]) -> tuple[int, int]:
    """(batches, recipients) still to send among batches in ``states``."""
    with store.session() as s:
        n, size = s.execute(
            select(func.count(), func.coalesce(func.sum(SendBatch.size), 0)).where(
                SendBatch.issue_key == key, SendBatch.state.in_(states)
            )
        ).one()
        return int(n), int(size)


# --- reading the list without a ledger (dry runs) ---------------------------------------


def iter_active(store: Store, batch_size: int) -> Iterator[list[RecipientRow]]:
    """Active subscribers in id order, ``batch_size`` at a time (keyset pagination)."""
    last = 0
    while True:
        with store.session() as s:
            rows = s.execute(
                select(Subscriber.id, Subscriber.email, Subscriber.name)
                .where(Subscriber.status == "active", Subscriber.id > last)
                .order_by(Subscriber.id)
                .limit(batch_size)
            ).all()
        if not rows:
            return
        yield [RecipientRow(*r) for r in rows]
        last = int(rows[-1][0])


def count_active(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).where(Subscriber.status == "active")) or 0)
