"""The per-batch path of a send: who of a batch is still to be sent, putting it in flight,
accepting it.

A send of a million readers runs this a thousand times, so it is written in Core
statements over bound parameters (not the ORM): a batch costs its round trips and its
rows, not an identity map and the ORM's compile and load steps. The rest of the ledger
(claiming an issue, failed and abandoned batches, counts) is in ``digest.store.ledger``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, select, update

from digest.store.database import Store
from digest.store.tables import IssueRecord, SendBatch, SendRecipient, Subscriber

# recipients still to be sent in a batch (a resent batch includes its in-flight/failed ones)
OPEN_RECIPIENT_STATES = ("queued", "in_flight", "failed")


class RecipientRow(NamedTuple):
    subscriber_id: int
    email: str
    name: str | None


def rowcount(result: object) -> int:
    """Rows an UPDATE touched (a CursorResult's rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)


_RECIPIENTS = cast(Table, SendRecipient.__table__)
_SUBSCRIBERS = cast(Table, Subscriber.__table__)
_BATCHES = cast(Table, SendBatch.__table__)
_ISSUES = cast(Table, IssueRecord.__table__)

# The conditions and reads of a batch, built once; a call only binds ``issue`` and
# ``batch_no`` (not named after columns: an UPDATE would take those as values to SET).
_IN_BATCH = (_RECIPIENTS.c.issue_key == bindparam("issue")) & (
    _RECIPIENTS.c.batch == bindparam("batch_no")
)
_OPEN = _RECIPIENTS.c.state.in_(OPEN_RECIPIENT_STATES)
_THIS_BATCH = (_BATCHES.c.issue_key == bindparam("issue")) & (
    _BATCHES.c.batch == bindparam("batch_no")
)
_THIS_ISSUE = _ISSUES.c.key == bindparam("issue")
# The status is filtered in Python rather than in SQL: a status condition would tempt the
# planner to walk every active subscriber instead of this batch's thousand.
_BATCH_ROWS = (
    select(_SUBSCRIBERS.c.id, _SUBSCRIBERS.c.email, _SUBSCRIBERS.c.name, _SUBSCRIBERS.c.status)
    .join(_RECIPIENTS, _RECIPIENTS.c.subscriber_id == _SUBSCRIBERS.c.id)
    .where(_IN_BATCH, _OPEN)
    .order_by(_RECIPIENTS.c.subscriber_id)
)
_DEPARTED = (
    select(_RECIPIENTS.c.subscriber_id)
    .join(_SUBSCRIBERS, _SUBSCRIBERS.c.id == _RECIPIENTS.c.subscriber_id)
    .where(_IN_BATCH, _OPEN, _SUBSCRIBERS.c.status != "active")
)


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
            update(_RECIPIENTS)
            .where(_IN_BATCH, _RECIPIENTS.c.subscriber_id.in_(departed))
            .values(state="skipped"),
            at,
        )
        conn.execute(
            update(_ISSUES)
            .where(_THIS_ISSUE)
            .values(skipped_recipients=_ISSUES.c.skipped_recipients + len(departed)),
            at,
        )
    conn.execute(
        update(_BATCHES)
        .where(_THIS_BATCH)
        .values(state="in_flight", attempts=_BATCHES.c.attempts + 1, updated_at=now, error=None),
        at,
    )
    return departed


def _finish(
    conn: Connection, key: str, batch: int, now: datetime, rejected_ids: Sequence[int]
) -> int:
    at = {"issue": key, "batch_no": batch}
    accepted = rowcount(
        conn.execute(update(_RECIPIENTS).where(_IN_BATCH, _OPEN).values(state="accepted"), at)
    )
    if rejected_ids:
        refused = _RECIPIENTS.c.subscriber_id.in_(list(rejected_ids))
        accepted -= rowcount(
            conn.execute(update(_RECIPIENTS).where(_IN_BATCH, refused).values(state="failed"), at)
        )
    conn.execute(
        update(_BATCHES).where(_THIS_BATCH).values(state="accepted", updated_at=now, error=None),
        at,
    )
    conn.execute(
        update(_ISSUES)
        .where(_THIS_ISSUE)
        .values(
            sent=_ISSUES.c.sent + accepted,
            failed_recipients=_ISSUES.c.failed_recipients + len(rejected_ids),
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
