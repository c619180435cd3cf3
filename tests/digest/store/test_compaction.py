"""Compaction of the send ledger (digest.store.compaction), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from digest.send import run_send
from digest.store import ledger, records
from digest.store.compaction import compact
from digest.store.database import Store
from digest.store.tables import IssueArticle, IssueRecord, SendBatch, SendRecipient, Subscriber
from subscribers import repository
from tests.delivery_support import NOW, add_subscribers, sample_config, set_status

pytestmark = pytest.mark.postgres  # every test runs on SQLite and PostgreSQL

WEEK = timedelta(weeks=1)


def sent_issue(store: Store, key: str, as_of: datetime, *, status: str = "sent") -> None:
    """An issue claimed for today's active readers, every batch accepted, then ``status``."""
    ledger.claim_issue(
        store, key=key, as_of=as_of, subject=f"S {key}", preheader="P", html="<p>h</p>",
        text="t", archive_html="<p>a</p>", batch_size=2, now=as_of,
        picks=[ledger.PickedArticle(f"https://example.com/{key}", "lead", "T", "R")],
    )  # fmt: skip
    if status == "sending":
        return
    for batch in ledger.todo_batches(store, key, ("queued",)):
        ledger.prepare_batch(store, key, batch)
        ledger.mark_in_flight(store, key, batch, now=as_of)
        ledger.finish_batch(store, key, batch, now=as_of)
    records.mark_issue(
        store, key, status=status, now=as_of, failure="x" if status == "failed" else None
    )
    with store.session() as s:  # the Event Webhook's counts
        s.execute(update(IssueRecord).where(IssueRecord.key == key).values(delivered=3, opened=2))


def rows(
    store: Store, key: str, table: type[SendRecipient | SendBatch | IssueArticle] = SendRecipient
) -> int:
    with store.session() as s:
        query = select(func.count()).select_from(table).where(table.issue_key == key)
        return int(s.scalar(query) or 0)


def test_only_sent_issues_older_than_the_window_lose_their_recipient_rows(store: Store) -> None:
    add_subscribers(store, {"active": 5})
    sent_issue(store, "2026-W20", NOW - 20 * WEEK)
    sent_issue(store, "2026-W30", NOW - 14 * WEEK)
    sent_issue(store, "2026-W35", NOW - 12 * WEEK)  # inside 13 weeks
    sent_issue(store, "2026-W21", NOW - 19 * WEEK, status="failed")
    sent_issue(store, "2026-W22", NOW - 18 * WEEK, status="sending")
    before = {k: records.issue_summary(store, k) for k in records.statuses(store)}

    done = compact(store, now=NOW, keep_weeks=13)

    assert done.issues == {"2026-W20": 5, "2026-W30": 5} and done.rows == 10
    assert [rows(store, k) for k in ("2026-W20", "2026-W30")] == [0, 0]
    assert [rows(store, k) for k in ("2026-W35", "2026-W21", "2026-W22")] == [5, 5, 5]
    # counts, batches and articles stay: the issues read the same
    assert {k: records.issue_summary(store, k) for k in records.statuses(store)} == before
    assert rows(store, "2026-W20", SendBatch) == 3
    assert rows(store, "2026-W20", IssueArticle) == 1
    got = records.issue_summary(store, "2026-W20")
    assert got is not None and (got.recipients, got.sent, got.events["delivered"]) == (5, 5, 3)
    # again: nothing left to do
    assert compact(store, now=NOW, keep_weeks=13).issues == {}
    # a shorter window reaches further
    assert compact(store, now=NOW, keep_weeks=1).issues == {"2026-W35": 5}


def test_a_dry_run_counts_and_changes_nothing(store: Store) -> None:
    add_subscribers(store, {"active": 3})
    sent_issue(store, "2026-W20", NOW - 20 * WEEK)
    done = compact(store, now=NOW, keep_weeks=13, dry_run=True)
    assert (done.issues, done.dry_run) == ({"2026-W20": 3}, True)
    assert rows(store, "2026-W20") == 3


def test_the_window_is_counted_from_the_issues_as_of(store: Store) -> None:
    add_subscribers(store, {"active": 2})
    sent_issue(store, "2026-W34", NOW - 13 * WEEK)  # exactly 13 weeks: kept
    assert compact(store, now=NOW, keep_weeks=13).issues == {}
    assert compact(store, now=NOW + timedelta(seconds=1), keep_weeks=13).issues == {"2026-W34": 2}
    with pytest.raises(ValueError):
        compact(store, now=NOW, keep_weeks=0)


def test_erasing_a_subscriber_removes_them_from_the_rows_that_remain(store: Store) -> None:
    people = add_subscribers(store, {"active": 3})
    sent_issue(store, "2026-W20", NOW - 20 * WEEK)
    sent_issue(store, "2026-W46", NOW - WEEK)
    compact(store, now=NOW, keep_weeks=13)
    with store.session() as s:
        sub = s.scalars(select(Subscriber).where(Subscriber.email_key == people["active"][0])).one()
        sid = sub.id
        repository.erase(s, sub, at=NOW)
    with store.session() as s:
        left = s.scalars(select(SendRecipient.subscriber_id)).all()
    assert sid not in left and len(left) == 2
    rec = records.get_issue(store, "2026-W20")
    assert rec is not None and (rec.recipients, rec.sent) == (3, 3)


def test_a_send_after_compaction_skips_articles_already_sent_and_readers_who_left(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret-for-links-" + "x" * 20)
    people = add_subscribers(store, {"active": 4, "unsubscribed": 1})
    cfg = sample_config(tmp_path, str(store.engine.url.render_as_string(hide_password=False)))
    sample = cfg.fixed_as_of()
    assert sample is not None
    as_of = sample - timedelta(days=5)  # Sunday of the week before the sample's
    first = run_send(cfg, store, as_of=as_of, clock=lambda: as_of)
    assert (first.outcome, first.sent) == ("sent", 4)
    with store.session() as s:
        sent_urls = set(
            s.scalars(select(IssueArticle.url).where(IssueArticle.issue_key == first.key))
        )
    assert sent_urls

    done = compact(store, now=as_of + 14 * WEEK, keep_weeks=13)
    assert done.issues == {first.key: 4}
    with store.session() as s:  # the articles stay: they are what keeps them from coming back
        assert (
            set(s.scalars(select(IssueArticle.url).where(IssueArticle.issue_key == first.key)))
            == sent_urls
        )
    set_status(store, people["active"][0], "unsubscribed")

    # the next week's window still holds half of what went out the week before
    nxt = run_send(cfg, store, as_of=sample, clock=lambda: NOW)
    assert nxt.key != first.key
    with store.session() as s:
        again = set(s.scalars(select(IssueArticle.url).where(IssueArticle.issue_key == nxt.key)))
        to = set(
            s.scalars(
                select(Subscriber.email_key)
                .join(SendRecipient, SendRecipient.subscriber_id == Subscriber.id)
                .where(SendRecipient.issue_key == nxt.key)
            )
        )
    assert not again & sent_urls
    assert (nxt.outcome, nxt.sent) == ("sent", 3) and again
    assert to == set(people["active"][1:])
