"""The batch loop of a send: each batch still to send is prepared (read and personalized,
its request built), put in flight (committed), posted, and its answer recorded.

Up to ``concurrency`` batches are in flight at once (the backend's ``concurrency``:
SendGrid's ``delivery.concurrency``; 1 for the others), so a crash leaves at most that
many unconfirmed. One thread, this one, does all the database work: it prepares the next
batch, marks it in flight and commits before handing its request to a worker thread, and
records each answer as it comes (``concurrent.futures.wait``, first completed: batches may
finish out of order). At most ``concurrency`` + 1 batches are in memory: those in flight
and the next. The backend may allow fewer requests on the wire than ``concurrency`` for a
while (SendGrid's ``InFlightLimit`` after a 429); no new batch is put in flight then.

A batch whose outcome nobody can know (a timeout once the request went out) is left in
doubt and the send carries on (``digest.in_doubt``); any other failure puts no new batch
in flight, lets those already on the wire settle, records them, and ends the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from digest.backends.base import Backend, BatchResult, Message
from digest.clock import Clock
from digest.errors import DeliveryError, DeliveryInDoubtError, TransientDeliveryError
from digest.in_doubt import Doubts, InDoubt, ids_of, split_off
from digest.sending.message import People, Personalize, batch_request
from digest.sending.report import SendProgress, SendReport
from digest.store import ledger
from digest.store.database import Store


@dataclass(frozen=True)
class PreparedBatch:
    """A batch read and personalized, not yet in flight."""

    batch: int
    rows: list[ledger.RecipientRow]
    skipped: int  # readers of the batch who left the list since the send began
    people: People
    send: Callable[[], BatchResult]  # posts the request built for ``people``


class BatchLoop:
    """Sends the batches of ``todo`` in order. Afterwards ``failure`` says what ended the
    send early (None if nothing did) and ``stopped`` whether ``stop`` ended it; the
    readers accepted by this run and whether a failure may pass are in ``report``."""

    def __init__(
        self,
        store: Store,
        key: str,
        *,
        todo: list[int],
        backend: Backend,
        message: Message,
        personalize: Personalize,
        clock: Clock,
        report: SendReport,
        doubts: Doubts,
        progress: SendProgress | None,
        stop: threading.Event | None,
    ):
        self.store, self.key, self.clock = store, key, clock
        self.backend, self.message, self.personalize = backend, message, personalize
        self.report, self.doubts, self.progress, self._stop = report, doubts, progress, stop
        self._todo: Iterator[int] = iter(todo)
        self.failure: str | None = None
        self.stopped = False

    def run(self) -> None:
        on_wire: dict[Future[BatchResult], PreparedBatch] = {}
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="digest-send") as pool:  # fmt: skip
            following = self._prepare_next()
            try:
                while True:
                    following = self._put_in_flight(pool, on_wire, following)
                    if not on_wire:
                        return
                    done, _ = wait(on_wire, return_when=FIRST_COMPLETED)
                    for request in sorted(done, key=lambda r: on_wire[r].batch):
                        self._answered(on_wire.pop(request), request)
            except Exception:
                # the next batch cannot be read (say): record the batches on the wire first,
                # so that none of them is left in doubt by our own error (a second Ctrl-C,
                # a BaseException, aborts at once: they then show as in flight)
                for request, current in sorted(on_wire.items(), key=lambda i: i[1].batch):
                    self._settle(request, current)
                raise

    @property
    def concurrency(self) -> int:
        """Batches in flight at once: the backend's ``concurrency`` (1 without one)."""
        return max(1, int(getattr(self.backend, "concurrency", 1)))

    def _allowed(self) -> int:
        """Batches that may be in flight now: fewer than ``concurrency`` while the backend's
        in-flight limit is cut (a 429), so that no batch waits in flight for a slot."""
        limit = getattr(self.backend, "in_flight_limit", None)
        return self.concurrency if limit is None else max(1, min(self.concurrency, limit.limit))

    # --- the steps, in the order a batch goes through them ---

    def _put_in_flight(
        self,
        pool: ThreadPoolExecutor,
        on_wire: dict[Future[BatchResult], PreparedBatch],
        following: PreparedBatch | None,
    ) -> PreparedBatch | None:
        """Mark batches in flight (committed) and post them while there is room; returns
        the next batch, prepared but not in flight (None when there is none left)."""
        while following is not None and len(on_wire) < self._allowed():
            if self.failure is not None or self.doubts.too_many:
                return following
            if self._stop_requested():
                self.stopped = True
                return following
            departed = self._mark_in_flight(following)
            current = self._without(following, departed)
            if current.rows:
                on_wire[pool.submit(current.send)] = current
            else:  # everyone left: nothing to post
                ledger.finish_batch(self.store, self.key, current.batch, now=self.clock())
                self._batch_done(current, recipients=0)
            following = self._prepare_next()
        return following

    def _prepare_next(self) -> PreparedBatch | None:
        batch = next(self._todo, None)
        if batch is None:
            return None
        rows = ledger.prepare_batch(self.store, self.key, batch)
        people = self.personalize(rows)
        return PreparedBatch(batch, rows, 0, people, self._request(people))

    def _mark_in_flight(self, current: PreparedBatch) -> list[int]:
        return ledger.mark_in_flight(self.store, self.key, current.batch, now=self.clock())

    def _without(self, current: PreparedBatch, departed: list[int]) -> PreparedBatch:
        """``current`` without the readers who left since the send began: they are
        skipped here, just before the request."""
        if not departed:
            return current
        gone = set(departed)
        keep = [i for i, r in enumerate(current.rows) if r.subscriber_id not in gone]
        people = [current.people[i] for i in keep]
        rows = [current.rows[i] for i in keep]
        return PreparedBatch(current.batch, rows, len(gone), people, self._request(people))

    def _answered(self, current: PreparedBatch, request: Future[BatchResult]) -> None:
        """Record what became of ``current`` (its request has ended)."""
        try:
            result = request.result()
        except DeliveryInDoubtError as exc:
            self._leave_in_doubt(current, exc)
            return
        except DeliveryError as exc:
            self._failed(current, exc)
            return
        except Exception as exc:  # noqa: BLE001 -- a bug or an error the backend does not know
            self._fail(
                f"batch {current.batch} ({len(current.rows)} recipients): unexpected "
                f"{type(exc).__name__}: {exc}. Whether it went out is unknown: it is left "
                "in flight, as after a crash (see delivery.resend_in_flight)"
            )
            return
        self._accepted(current, result)

    def _leave_in_doubt(self, current: PreparedBatch, exc: DeliveryInDoubtError) -> None:
        """Leave ``current`` in flight and carry on, unless that makes too many in a row."""
        error = str(exc)
        ledger.leave_in_doubt(self.store, self.key, current.batch, now=self.clock(), error=error)
        self._note(self.doubts.add(InDoubt(current.batch, len(current.rows), error)))
        if self.doubts.too_many and self.failure is None:
            self.failure = self.doubts.stop_reason()

    def _fail(self, failure: str, *, transient: bool = False) -> None:
        """The send ends (after the batches on the wire settle); the first failure is the
        one reported."""
        if self.failure is None:
            self.failure = failure
            self.report.transient = transient

    def _failed(self, current: PreparedBatch, exc: DeliveryError) -> None:
        self._fail(
            f"batch {current.batch} ({len(current.rows)} recipients): {exc}",
            transient=isinstance(exc, TransientDeliveryError),
        )
        ledger.fail_batch(self.store, self.key, current.batch, now=self.clock(), error=str(exc))

    def _accepted(self, current: PreparedBatch, result: BatchResult) -> None:
        """Record the backend's answer: readers it left in doubt or never reached are split
        off first (``digest.in_doubt.split_off``), the rest accepted (those refused one by
        one failed)."""
        self.report.sent_now += self._record(current, result, self.doubts)
        self._batch_done(current, recipients=len(current.rows))
        if result.unsent:  # the backend gave up part-way: the readers it never reached wait
            self._fail(
                f"batch {current.batch}: {len(result.unsent)} recipients not sent: "
                f"{result.stopped_by}",
                transient=isinstance(result.stopped_by, TransientDeliveryError),
            )

    def _record(self, current: PreparedBatch, result: BatchResult, doubts: Doubts) -> int:
        """Split off, accept and fail ``current``'s readers as ``result`` says; returns
        how many were accepted."""
        store, key, now = self.store, self.key, self.clock()
        doubts.answered()
        if result.in_doubt or result.unsent:
            doubt, _ = split_off(store, key, current.batch, current.rows, result, now=now)
            if doubt is not None:
                self._note(doubts.add(doubt))
        rejected = ids_of(current.rows, result.rejected)
        return ledger.finish_batch(store, key, current.batch, now=now, rejected_ids=rejected)

    def _settle(self, request: Future[BatchResult], current: PreparedBatch) -> None:
        """Wait for the batch on the wire and record what it became (accepted or failed);
        an outcome nobody can read leaves it in flight."""
        try:
            result = request.result()
        except DeliveryInDoubtError as exc:
            ledger.leave_in_doubt(
                self.store, self.key, current.batch, now=self.clock(), error=str(exc)
            )
            return
        except DeliveryError as exc:
            ledger.fail_batch(self.store, self.key, current.batch, now=self.clock(), error=str(exc))
            return
        except Exception:  # noqa: BLE001 -- unknown outcome: left in flight; the caller re-raises its own error
            return
        # the send ends with the caller's error: no report counts these doubts
        self._record(current, result, Doubts())

    # --- helpers ---

    def _request(self, people: People) -> Callable[[], BatchResult]:
        return batch_request(self.backend, self.message, people)

    def _stop_requested(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def _batch_done(self, current: PreparedBatch, *, recipients: int) -> None:
        if self.progress:
            self.progress.batch_done(
                batch=current.batch, recipients=recipients, skipped=current.skipped
            )

    def _note(self, text: str) -> None:
        if self.progress:
            self.progress.note(text)
