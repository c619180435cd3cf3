"""The send ledger: what was sent, to whom, in which batch (the issue records themselves,
their states and counts: ``digest.store.records``).

When a send starts, ``claim_issue`` stores the rendered issue (the exact bytes every
batch and every resume will send), the articles it carries, and freezes the
recipients into ``send_recipients`` with one set-based INSERT … SELECT (the
list never passes through Python), numbered into batches. Each batch is then
``start_batch`` (in flight, committed) → the provider call → ``finish_batch``
(accepted, committed). Every function here is one short transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from digest.errors import SendError
from digest.store.database import Store
from digest.store.tables import IssueArticle, IssueRecord, SendBatch, SendRecipient, Subscriber

# recipients still to be sent in a batch (a resent batch includes its in-flight/failed ones)
OPEN_RECIPIENT_STATES = ("queued", "in_flight", "failed")


class RecipientRow(NamedTuple):
    subscriber_id: int
    email: str
    name: str | None


@dataclass(frozen=True)
class BatchInfo:
    batch: int
    state: str
    size: int
    attempts: int
    error: str | None


# --- issue records ------------------------------------------------------------------


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
                    title=pick.title, reason=pick.reason,
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


def _rowcount(result: object) -> int:
    """Rows an UPDATE touched (a CursorResult's rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)


# --- batches -------------------------------------------------------------------------


def batches(store: Store, key: str, *, states: Sequence[str] | None = None) -> list[BatchInfo]:
    with store.session() as s:
        q = select(SendBatch).where(SendBatch.issue_key == key).order_by(SendBatch.batch)
        if states is not None:
            q = q.where(SendBatch.state.in_(states))
        return [
            BatchInfo(b.batch, b.state, b.size, b.attempts, b.error) for b in s.scalars(q).all()
        ]


def next_batch(store: Store, key: str, states: Sequence[str], *, after: int = 0) -> BatchInfo | None:
    """The lowest-numbered batch above ``after`` in one of ``states``."""
    with store.session() as s:
        b = s.scalars(
            select(SendBatch)
            .where(SendBatch.issue_key == key, SendBatch.state.in_(states), SendBatch.batch > after)
            .order_by(SendBatch.batch)
            .limit(1)
        ).first()
        return BatchInfo(b.batch, b.state, b.size, b.attempts, b.error) if b else None


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


def start_batch(store: Store, key: str, batch: int, *, now: datetime) -> tuple[list[RecipientRow], int]:
    """``prepare_batch`` then ``mark_in_flight``: who is in the batch, how many were skipped."""
    rows = prepare_batch(store, key, batch)
    departed = set(mark_in_flight(store, key, batch, now=now))
    if departed:
        rows = [r for r in rows if r.subscriber_id not in departed]
    return rows, len(departed)


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


# The per-batch statements, built once: Core tables and bound parameters (not the ORM), so a
# batch costs its round trips and its rows, not an identity map and ORM compile/load steps.
_R, _S, _B, _I = (cast(Table, m.__table__) for m in (SendRecipient, Subscriber, SendBatch, IssueRecord))
_IN_BATCH = (_R.c.issue_key == bindparam("issue")) & (_R.c.batch == bindparam("batch_no"))
_OPEN = _R.c.state.in_(OPEN_RECIPIENT_STATES)
# the status is filtered in Python rather than in SQL: a status condition would tempt the
# planner to walk every active subscriber instead of this batch's thousand. (The parameter
# names are not column names: an UPDATE would take those as values to SET.)
_BATCH_ROWS = (
    select(_S.c.id, _S.c.email, _S.c.name, _S.c.status)
    .join(_R, _R.c.subscriber_id == _S.c.id)
    .where(_IN_BATCH, _OPEN)
    .order_by(_R.c.subscriber_id)
)
_DEPARTED = (
    select(_R.c.subscriber_id)
    .join(_S, _S.c.id == _R.c.subscriber_id)
    .where(_IN_BATCH, _OPEN, _S.c.status != "active")
)
_THIS_BATCH = (_B.c.issue_key == bindparam("issue")) & (_B.c.batch == bindparam("batch_no"))
_THIS_ISSUE = _I.c.key == bindparam("issue")


def prepare_batch(store: Store, key: str, batch: int) -> list[RecipientRow]:
    """Who of ``batch`` is still to be sent and still active (a read: changes nothing;
    ``mark_in_flight`` records who left)."""
    with store.session() as s:
        rows = s.connection().execute(_BATCH_ROWS, {"issue": key, "batch_no": batch}).all()
    return [RecipientRow(i, e, n) for i, e, n, status in rows if status == "active"]


def _mark_in_flight(conn: Connection, key: str, batch: int, now: datetime) -> list[int]:
    at = {"issue": key, "batch_no": batch}
    departed = list(conn.execute(_DEPARTED, at).scalars())
    if departed:
        conn.execute(
            update(_R).where(_IN_BATCH, _R.c.subscriber_id.in_(departed)).values(state="skipped"), at
        )
        conn.execute(
            update(_I).where(_THIS_ISSUE).values(skipped_recipients=_I.c.skipped_recipients + len(departed)), at
        )
    conn.execute(
        update(_B).where(_THIS_BATCH).values(state="in_flight", attempts=_B.c.attempts + 1, updated_at=now, error=None),
        at,
    )
    return departed


def _finish(conn: Connection, key: str, batch: int, now: datetime, rejected_ids: Sequence[int]) -> int:
    at = {"issue": key, "batch_no": batch}
    accepted = _rowcount(conn.execute(update(_R).where(_IN_BATCH, _OPEN).values(state="accepted"), at))
    if rejected_ids:
        accepted -= _rowcount(conn.execute(
            update(_R).where(_IN_BATCH, _R.c.subscriber_id.in_(list(rejected_ids))).values(state="failed"), at
        ))
    conn.execute(update(_B).where(_THIS_BATCH).values(state="accepted", updated_at=now, error=None), at)
    conn.execute(
        update(_I).where(_THIS_ISSUE).values(
            sent=_I.c.sent + accepted, failed_recipients=_I.c.failed_recipients + len(rejected_ids)
        ),
        at,
    )
    return accepted


def mark_in_flight(store: Store, key: str, batch: int, *, now: datetime) -> list[int]:
    """The batch is about to be handed to the provider: recipients who left since it was
    prepared are skipped, and the batch is marked in flight (committed before the
    request). Returns the ids skipped now, to be left out of the request. Recipients keep
    their state until the batch ends: the batch's state says "in flight"."""
    with store.session() as s:
        return _mark_in_flight(s.connection(), key, batch, now)


def finish_batch(
    store: Store, key: str, batch: int, *, now: datetime, rejected_ids: Sequence[int] = ()
) -> int:
    """The provider accepted the batch: its recipients are accepted (but ``rejected_ids``,
    refused one by one, are failed). Returns how many were accepted."""
    with store.session() as s:
        return _finish(s.connection(), key, batch, now, rejected_ids)


def finish_and_start(
    store: Store, key: str, batch: int, following: int, *, now: datetime,
    rejected_ids: Sequence[int] = (),
) -> tuple[int, list[int]]:
    """``finish_batch(batch)`` and ``mark_in_flight(following)`` in one transaction (one
    commit a batch instead of two): when it commits, ``batch`` is accepted and
    ``following`` is the one batch in flight, so its request may be posted. Returns
    (accepted in ``batch``, ids skipped from ``following``)."""
    with store.session() as s:
        conn = s.connection()
        return _finish(conn, key, batch, now, rejected_ids), _mark_in_flight(conn, key, following, now)


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
            .where(SendBatch.issue_key == key, SendBatch.batch == batch, SendBatch.state == "in_flight")
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
        new = int(s.scalar(select(func.max(SendBatch.batch)).where(SendBatch.issue_key == key)) or 0) + 1
        values: dict[str, object] = {"batch": new}
        if state == "failed":
            values["state"] = "failed"
        moved = _rowcount(s.execute(
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
