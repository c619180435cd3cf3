"""The lean per-batch path of a send: one transaction that finishes a batch and puts the
next in flight, and the send_recipients storage that keeps those updates cheap."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from digest import ledger
from subscribers.db import Store, open_store
from tests.delivery_support import NOW, add_subscribers, set_status

pytestmark = pytest.mark.postgres  # every test runs on SQLite and PostgreSQL

KEY = "2026-W47"


def _claim(store: Store, batch_size: int) -> ledger.Claim:
    return ledger.claim_issue(
        store, key=KEY, as_of=NOW, subject="S", preheader="P", html="<p>%%unsubscribe_url%%</p>",
        text="t", archive_html="<p>/</p>", picks=[], batch_size=batch_size, now=NOW,
    )  # fmt: skip


def test_finish_and_start_accepts_one_batch_and_puts_only_the_next_in_flight(store: Store) -> None:
    people = add_subscribers(store, {"active": 7})
    _claim(store, batch_size=3)
    rows1 = ledger.prepare_batch(store, KEY, 1)
    assert ledger.mark_in_flight(store, KEY, 1, now=NOW) == []
    rows2 = ledger.prepare_batch(store, KEY, 2)
    set_status(store, people["active"][4], "unsubscribed")  # leaves while batch 1 is on the wire
    accepted, departed = ledger.finish_and_start(
        store, KEY, 1, 2, now=NOW, rejected_ids=[rows1[0].subscriber_id]
    )
    assert accepted == 2  # one of the three refused by the provider
    assert departed == [rows2[1].subscriber_id]
    assert [(b.batch, b.state) for b in ledger.batches(store, KEY)] == [
        (1, "accepted"), (2, "in_flight"), (3, "queued"),
    ]  # fmt: skip
    assert ledger.finish_batch(store, KEY, 2, now=NOW) == 2
    ledger.mark_issue(store, KEY, status="sending", now=NOW)
    rec = ledger.get_issue(store, KEY)
    assert rec is not None
    assert (rec.sent, rec.skipped_recipients, rec.failed_recipients) == (4, 1, 1)


def test_prepare_batch_reads_readers_in_id_order_without_the_departed(store: Store) -> None:
    people = add_subscribers(store, {"active": 5})
    _claim(store, batch_size=10)
    set_status(store, people["active"][2], "bounced")
    rows = ledger.prepare_batch(store, KEY, 1)
    assert [r.email for r in rows] == [e for i, e in enumerate(people["active"]) if i != 2]
    assert [r.subscriber_id for r in rows] == sorted(r.subscriber_id for r in rows)


def test_send_recipients_leave_room_on_postgresql_pages_for_cheap_updates(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        with store.engine.connect() as conn:
            options = conn.execute(
                text("SELECT reloptions FROM pg_class WHERE oid = 'send_recipients'::regclass")
            ).scalar()
    finally:
        store.dispose()
    assert options == ["fillfactor=50"]
