"""The send ledger and issue records, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from digest.errors import IssueLocked, SendError
from digest.store import ledger, records
from digest.store.database import Store
from digest.store.locks import issue_lock
from digest.store.tables import IssueRecord, SendRecipient
from tests.delivery_support import NOW, add_subscribers, set_status

pytestmark = pytest.mark.postgres  # every test runs on SQLite and PostgreSQL

KEY = "2026-W47"


def _claim(store: Store, batch_size: int = 3) -> ledger.Claim:
    return ledger.claim_issue(
        store, key=KEY, as_of=NOW, subject="S", preheader="P", html="<p>%%unsubscribe_url%%</p>",
        text="t", archive_html="<p>/</p>", picks=[], batch_size=batch_size, now=NOW,
    )  # fmt: skip


def _in_flight(store: Store, batch: int) -> tuple[list[ledger.RecipientRow], int]:
    """``batch`` as a send puts it in flight: who is in it, and how many left since the claim."""
    rows = ledger.prepare_batch(store, KEY, batch)
    return rows, len(ledger.mark_in_flight(store, KEY, batch, now=NOW))


def test_claim_freezes_only_active_subscribers_in_numbered_batches(store: Store) -> None:
    people = add_subscribers(
        store, {"active": 7, "pending": 2, "unsubscribed": 2, "bounced": 1, "complained": 1}
    )
    claim = _claim(store, batch_size=3)
    assert (claim.recipients, claim.batches) == (7, 3)
    assert [(b.batch, b.size, b.state) for b in ledger.batches(store, KEY)] == [
        (1, 3, "queued"), (2, 3, "queued"), (3, 1, "queued"),
    ]  # fmt: skip
    rec = records.get_issue(store, KEY)
    assert rec is not None and rec.status == "sending" and rec.recipients == 7
    rows, skipped = _in_flight(store, 1)
    assert skipped == 0
    assert [r.email for r in rows] == people["active"][:3]
    # a reader who joins during the send is not in this issue
    add_subscribers(store, {"active": 1}, start=100)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(SendRecipient)) == 7


def test_reader_who_leaves_before_their_batch_is_skipped(store: Store) -> None:
    people = add_subscribers(store, {"active": 6})
    _claim(store, batch_size=3)
    set_status(store, people["active"][4], "unsubscribed")
    set_status(store, people["active"][5], "complained")
    _in_flight(store, 1)
    ledger.finish_batch(store, KEY, 1, now=NOW)
    rows2, skipped = _in_flight(store, 2)
    assert skipped == 2
    assert [r.email for r in rows2] == [people["active"][3]]
    assert ledger.finish_batch(store, KEY, 2, now=NOW) == 1
    records.mark_issue(store, KEY, status="sent", now=NOW)
    rec = records.get_issue(store, KEY)
    assert rec is not None
    assert (rec.status, rec.sent, rec.skipped_recipients, rec.failed_recipients) == (
        "sent",
        4,
        2,
        0,
    )
    assert rec.finished_at == NOW


def test_batches_move_through_states_and_remaining_counts_follow(store: Store) -> None:
    add_subscribers(store, {"active": 5})
    _claim(store, batch_size=2)
    assert ledger.remaining(store, KEY, ("queued", "failed")) == (3, 5)
    _in_flight(store, 1)
    assert ledger.todo_batches(store, KEY, ("queued",))[0] == 2
    ledger.finish_batch(store, KEY, 1, now=NOW)
    _in_flight(store, 2)
    ledger.fail_batch(store, KEY, 2, now=NOW, error="HTTP 400: bad")
    _in_flight(store, 3)  # the process dies here
    assert ledger.remaining(store, KEY, ("queued", "failed")) == (1, 2)
    abandoned = ledger.abandon_batches(store, KEY, now=NOW, reason="crash")
    assert [(b.batch, b.size) for b in abandoned] == [(3, 1)]
    states = {b.batch: (b.state, b.attempts) for b in ledger.batches(store, KEY)}
    assert states == {1: ("accepted", 1), 2: ("failed", 1), 3: ("abandoned", 1)}
    summary = records.issue_summary(store, KEY)
    assert summary is not None
    assert summary.batches == {"accepted": 1, "failed": 1, "abandoned": 1}
    assert [b.batch for b in summary.in_flight] == [3]


def test_refused_recipients_are_failed_not_sent(store: Store) -> None:
    add_subscribers(store, {"active": 3})
    _claim(store, batch_size=10)
    rows, _ = _in_flight(store, 1)
    assert ledger.finish_batch(store, KEY, 1, now=NOW, rejected_ids=[rows[0].subscriber_id]) == 2
    records.mark_issue(store, KEY, status="sent", now=NOW)
    rec = records.get_issue(store, KEY)
    assert rec is not None and (rec.sent, rec.failed_recipients) == (2, 1)


def test_a_sending_issue_cannot_be_claimed_twice(store: Store) -> None:
    add_subscribers(store, {"active": 2})
    _claim(store)
    with pytest.raises(SendError, match="already sending"):
        _claim(store)


def test_skip_is_recorded_but_never_over_a_sent_issue(store: Store) -> None:
    assert records.record_skipped(store, key=KEY, as_of=NOW, reason="only 1 article", now=NOW)
    rec = records.get_issue(store, KEY)
    assert rec is not None and (rec.status, rec.skip_reason) == ("skipped", "only 1 article")
    add_subscribers(store, {"active": 1})
    _claim(store)  # a skipped issue can still be sent later
    records.mark_issue(store, KEY, status="sent", now=NOW)
    assert not records.record_skipped(store, key=KEY, as_of=NOW, reason="late", now=NOW)
    assert records.get_issue(store, KEY).status == "sent"  # type: ignore[union-attr]


def test_reopen_for_resend_refreezes_todays_list(store: Store) -> None:
    people = add_subscribers(store, {"active": 3})
    _claim(store)
    records.mark_issue(store, KEY, status="sent", now=NOW)
    set_status(store, people["active"][0], "unsubscribed")
    claim = ledger.reopen_for_resend(store, key=KEY, batch_size=10, now=NOW)
    assert claim.recipients == 2
    assert records.get_issue(store, KEY).status == "sending"  # type: ignore[union-attr]


def test_list_issues_newest_first_with_event_counts(store: Store) -> None:
    add_subscribers(store, {"active": 2})
    _claim(store)
    with store.session() as s:
        rec = s.get(IssueRecord, KEY)
        assert rec is not None
        rec.delivered, rec.opened = 2, 1
    records.record_skipped(store, key="2026-W48", as_of=NOW, reason="nothing new", now=NOW)
    issues = records.list_issues(store)
    assert [i.key for i in issues] == ["2026-W48", KEY]
    data = issues[1].to_json()
    assert data["delivered"] == 2 and data["opened"] == 1 and data["batches"] == {"queued": 1}
    assert issues[0].to_json()["skip_reason"] == "nothing new"


def test_iter_active_streams_in_id_order(store: Store) -> None:
    people = add_subscribers(store, {"active": 5, "pending": 2})
    chunks = list(ledger.iter_active(store, 2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [r.email for c in chunks for r in c] == people["active"]
    assert ledger.count_active(store) == 5


def test_issue_lock_is_exclusive_and_released(store: Store) -> None:
    with issue_lock(store, KEY):
        with (
            pytest.raises(IssueLocked, match="being sent by another process"),
            issue_lock(store, KEY),
        ):
            pass  # pragma: no cover
        with issue_lock(store, "2026-W48"):  # another issue is not blocked
            pass
    with issue_lock(store, KEY):  # released
        pass


def test_a_reader_who_leaves_between_prepare_and_flight_is_left_out(store: Store) -> None:
    people = add_subscribers(store, {"active": 3})
    _claim(store, batch_size=10)
    rows = ledger.prepare_batch(store, KEY, 1)
    assert len(rows) == 3
    assert ledger.batches(store, KEY)[0].state == "queued"  # preparing changes nothing
    set_status(store, people["active"][1], "bounced")
    departed = ledger.mark_in_flight(store, KEY, 1, now=NOW)
    assert departed == [rows[1].subscriber_id]
    assert ledger.batches(store, KEY)[0].state == "in_flight"
    assert ledger.finish_batch(store, KEY, 1, now=NOW) == 2
    records.mark_issue(store, KEY, status="sent", now=NOW)
    rec = records.get_issue(store, KEY)
    assert rec is not None and (rec.sent, rec.skipped_recipients) == (2, 1)
