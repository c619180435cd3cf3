"""The batch loop of a send: each batch still to send is prepared (read and personalized,
its request built), put in flight (committed), posted, and its answer recorded.

One batch is in flight at a time, so a crash leaves at most one unconfirmed; but the next
batch is prepared while the current request is on the wire, and accepting a batch and
putting the next in flight is one commit (``ledger.finish_and_start``). A batch whose
outcome nobody can know (a timeout once the request went out) is left in doubt and the
send carries on (``digest.in_doubt``); any other failure ends the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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


# what one step of the loop hands to the next: the next batch, and, when it was put in
# flight in the same commit that recorded the last one, the readers who left since
# (None: not in flight yet)
_Next = tuple[PreparedBatch | None, list[int] | None]
_DONE: _Next = (None, None)


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
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-send") as pool:
            current, departed = self._prepare_next(), None
            while current is not None:
                if departed is None:
                    if self._stop_requested():
                        self.stopped = True
                        return
                    departed = self._mark_in_flight(current)
                current, departed = self._send(pool, self._without(current, departed))

    # --- the steps, in the order a batch goes through them ---

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

    def _send(self, pool: ThreadPoolExecutor, current: PreparedBatch) -> _Next:
        """Post ``current`` (in flight) and record its answer; returns what comes next."""
        if not current.rows:  # everyone left: nothing to post
            ledger.finish_batch(self.store, self.key, current.batch, now=self.clock())
            self._batch_done(current, recipients=0)
            return self._prepare_next(), None
        request, following = self._post(pool, current)
        try:
            result = request.result()
        except DeliveryInDoubtError as exc:
            self._leave_in_doubt(current, exc)
            return _DONE if self.failure else (following, None)
        except DeliveryError as exc:
            self._failed(current, exc)
            return _DONE
        except Exception as exc:  # noqa: BLE001 -- a bug or an error the backend does not know
            self.failure = (
                f"batch {current.batch} ({len(current.rows)} recipients): unexpected "
                f"{type(exc).__name__}: {exc}. Whether it went out is unknown: it is left "
                "in flight, as after a crash (see delivery.resend_in_flight)"
            )
            return _DONE
        return self._answered(current, result, following)

    def _post(
        self, pool: ThreadPoolExecutor, current: PreparedBatch
    ) -> tuple[Future[BatchResult], PreparedBatch | None]:
        """Put ``current``'s request on the wire and prepare the following batch meanwhile."""
        request = pool.submit(current.send)
        try:
            following = self._prepare_next()
        except BaseException:  # the next batch cannot be read: record the one on the wire
            self._settle(request, current)
            raise
        return request, following

    def _leave_in_doubt(self, current: PreparedBatch, exc: DeliveryInDoubtError) -> None:
        """Leave ``current`` in flight and carry on, unless that makes too many in a row."""
        error = str(exc)
        ledger.leave_in_doubt(self.store, self.key, current.batch, now=self.clock(), error=error)
        self._note(self.doubts.add(InDoubt(current.batch, len(current.rows), error)))
        if self.doubts.too_many:
            self.failure = self.doubts.stop_reason()

    def _failed(self, current: PreparedBatch, exc: DeliveryError) -> None:
        self.failure = f"batch {current.batch} ({len(current.rows)} recipients): {exc}"
        self.report.transient = isinstance(exc, TransientDeliveryError)
        ledger.fail_batch(self.store, self.key, current.batch, now=self.clock(), error=str(exc))

    def _answered(
        self, current: PreparedBatch, result: BatchResult, following: PreparedBatch | None
    ) -> _Next:
        """Record the backend's answer; ``following`` goes in flight in the same commit
        unless the send ends here."""
        go_on = following is not None and not result.unsent and not self._stop_requested()
        accepted, departed = self._record(
            current, result, following if go_on else None, self.doubts
        )
        self.report.sent_now += accepted
        self._batch_done(current, recipients=len(current.rows))
        if result.unsent:  # the backend gave up part-way: the readers it never reached wait
            unsent = len(result.unsent)
            self.failure = (
                f"batch {current.batch}: {unsent} recipients not sent: {result.stopped_by}"
            )
            self.report.transient = isinstance(result.stopped_by, TransientDeliveryError)
            return _DONE
        return following, departed

    def _record(
        self,
        current: PreparedBatch,
        result: BatchResult,
        following: PreparedBatch | None,
        doubts: Doubts,
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
        rejected = ids_of(current.rows, result.rejected)
        if following is None:
            accepted = ledger.finish_batch(
                store, key, current.batch, now=now, rejected_ids=rejected
            )
            return accepted, None
        return ledger.finish_and_start(
            store, key, current.batch, following.batch, now=now, rejected_ids=rejected
        )

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
        self._record(current, result, None, Doubts())

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
