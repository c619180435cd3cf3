"""Batches in doubt: the request went out, and its answer was lost.

When the provider accepted a batch and the connection then dropped, or its answer came
after the timeout, nothing the sender can observe says whether the batch will be
delivered. Sending it again may give every reader in it a second copy; not sending it may
give them none. digest does not send it again, as for the batch in flight at a crash: the
batch is *in doubt*, stays in flight in the ledger, is reported by number and size, and is
sent again only by a later `digest send` with ``delivery.resend_in_flight = true``. Each
reader thus gets the issue at most once if their batch is in doubt, exactly once otherwise.

Which failures leave a batch in doubt is each backend's call (``DeliveryInDoubtError``):
SendGrid retries only what cannot have gone out (no connection) and what SendGrid answered
with 429 or 5xx. SMTP sends one message per reader: it retries a message until the end of
its data is sent, and a message whose reply to that is lost is in doubt alone
(``BatchResult.in_doubt``); ``split_off`` moves its reader into a batch of their own, left
in flight, so that resend_in_flight resends that message and no other.

``Doubts`` follows one run: the batches in doubt, when to stop, what to tell the editor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from digest.backends.base import BatchResult
from digest.store import ledger
from digest.store.database import Store

# Why a send carries on after a batch in doubt, and stops at the second in a row: waiting
# does not tell what became of it, and the batches after it are independent of it (each
# reader is in one batch), so stopping would only make their readers wait for a rerun that
# sends them the same way. But two in a row say the provider or the network is failing
# (answers slower than delivery.timeout_seconds, a proxy cutting connections): carrying on
# would put every batch left in doubt as well, whose readers would then get the issue at
# most once instead of exactly once. So the send stops; the rest stay queued for a rerun.
# With several batches in flight at once (delivery.concurrency), "in a row" is in the order
# the requests end, not the batches' numbers: the count runs over the batches that ended in
# doubt since the last one that was answered (an answer, even a late one for an earlier
# batch, shows the provider and the link still work). Once it reaches the limit no new
# batch is put in flight; those already on the wire are let finish and recorded, so a link
# that fails for all of them at once leaves at most delivery.concurrency in doubt, as a
# crash would, and never more.
MAX_IN_A_ROW = 2


@dataclass(frozen=True)
class InDoubt:
    batch: int
    recipients: int
    reason: str
    split_from: int | None = None  # SMTP: the batch whose message(s) these were


@dataclass
class Doubts:
    found: list[InDoubt] = field(default_factory=list)
    in_a_row: int = 0  # whole batches in doubt since the last batch that was answered

    def add(self, doubt: InDoubt) -> str:
        """Record a batch in doubt; returns a note for the editor."""
        self.found.append(doubt)
        if doubt.split_from is None:
            self.in_a_row += 1
        return f"{_name(doubt)} is in doubt: {doubt.reason}. It may have been delivered: not sent again"

    def answered(self) -> None:
        self.in_a_row = 0

    @property
    def too_many(self) -> bool:
        return self.in_a_row >= MAX_IN_A_ROW

    @property
    def batches(self) -> tuple[int, ...]:
        return tuple(d.batch for d in self.found)

    @property
    def recipients(self) -> int:
        return sum(d.recipients for d in self.found)

    def stop_reason(self) -> str:
        last = self.found[-self.in_a_row :]
        return (f"{batches_text(d.batch for d in last)} in doubt in a row: the provider or the "
                "network is failing, so no more batches were put at risk")  # fmt: skip

    def summary(self) -> str:
        """What the editor must know and decide, for the end of the send's message."""
        one = len(self.found) == 1
        reasons = {d.reason for d in self.found}
        why = (
            next(iter(reasons))
            if len(reasons) == 1
            else "; ".join(f"batch {d.batch}: {d.reason}" for d in self.found)
        )
        it, them = ("it", "it") if one else ("they", "them")
        head = (f"{_name(self.found[0])} is in doubt" if one else
                f"{', '.join(map(_name, self.found))} are in doubt ({self.recipients} recipients)")  # fmt: skip
        return (
            f"{head}: {why}. {it.capitalize()} may have been delivered, so {it} "
            f"{'was' if one else 'were'} not sent again. Run `digest send` again to finish "
            f"the issue without resending {them} (those readers may have got nothing), or "
            f"first set delivery.resend_in_flight = true to resend {them} (they may get two copies)"
        )


def _name(d: InDoubt) -> str:
    origin = f", from batch {d.split_from}" if d.split_from is not None else ""
    return f"batch {d.batch} ({d.recipients} recipient{'s' if d.recipients != 1 else ''}{origin})"


def batches_text(numbers: Iterable[int]) -> str:
    nums = list(numbers)
    return f"batch {nums[0]}" if len(nums) == 1 else f"batches {', '.join(map(str, nums))}"


def ids_of(rows: Sequence[ledger.RecipientRow], addresses: Iterable[str]) -> list[int]:
    """The subscribers of ``rows`` with one of ``addresses`` (as a backend reports them)."""
    wanted = {a.lower() for a in addresses}
    return [r.subscriber_id for r in rows if r.email.lower() in wanted] if wanted else []


def split_off(
    store: Store, key: str, batch: int, rows: Sequence[ledger.RecipientRow], result: BatchResult,
    *, now: datetime,
) -> tuple[InDoubt | None, int | None]:  # fmt: skip
    """Before ``batch`` is finished: its readers the backend left in doubt go into a batch
    of their own, left in flight, and those it never reached (it stopped early) into one
    marked failed, which the next `digest send` sends. Returns (the batch in doubt, the
    failed batch's number), each None when there is none."""
    doubt: InDoubt | None = None
    unsent: int | None = None
    doubtful = ids_of(rows, result.in_doubt)
    if doubtful:
        number = ledger.split_batch(store, key, batch, doubtful, state="in_flight", now=now,
                                    error=result.in_doubt_reason)  # fmt: skip
        doubt = InDoubt(number, len(doubtful), result.in_doubt_reason, split_from=batch)
    never = ids_of(rows, result.unsent)
    if never:
        unsent = ledger.split_batch(store, key, batch, never, state="failed", now=now,
                                    error=str(result.stopped_by or "not sent"))  # fmt: skip
    return doubt, unsent
