"""The lean per-batch path of a send: one transaction that finishes a batch and puts the
next in flight, and the send_recipients storage that keeps those updates cheap."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from digest.backends import get_backend
from digest.backends.base import Message, Recipient, unsubscribe_headers
from digest.backends.sendgrid import SendGridBackend
from digest.config import Secrets
from digest.errors import PermanentDeliveryError
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from digest.store import ledger, records
from digest.store.database import Store, open_store
from tests.delivery_support import NOW, add_subscribers, sample_config, set_status

KEY = "2026-W47"


def _claim(store: Store, batch_size: int) -> ledger.Claim:
    return ledger.claim_issue(
        store, key=KEY, as_of=NOW, subject="S", preheader="P", html="<p>%%unsubscribe_url%%</p>",
        text="t", archive_html="<p>/</p>", picks=[], batch_size=batch_size, now=NOW,
    )  # fmt: skip


@pytest.mark.postgres  # SQLite and PostgreSQL
def test_finishing_a_batch_then_starting_the_next_counts_refused_and_departed(store: Store) -> None:
    people = add_subscribers(store, {"active": 7})
    _claim(store, batch_size=3)
    rows1 = ledger.prepare_batch(store, KEY, 1)
    assert ledger.mark_in_flight(store, KEY, 1, now=NOW) == []
    rows2 = ledger.prepare_batch(store, KEY, 2)
    set_status(store, people["active"][4], "unsubscribed")  # leaves while batch 1 is on the wire
    accepted = ledger.finish_batch(store, KEY, 1, now=NOW, rejected_ids=[rows1[0].subscriber_id])
    departed = ledger.mark_in_flight(store, KEY, 2, now=NOW)
    assert accepted == 2  # one of the three refused by the provider
    assert departed == [rows2[1].subscriber_id]
    assert [(b.batch, b.state) for b in ledger.batches(store, KEY)] == [
        (1, "accepted"), (2, "in_flight"), (3, "queued"),
    ]  # fmt: skip
    assert ledger.finish_batch(store, KEY, 2, now=NOW) == 2
    records.mark_issue(store, KEY, status="sending", now=NOW)
    rec = records.get_issue(store, KEY)
    assert rec is not None
    assert (rec.sent, rec.skipped_recipients, rec.failed_recipients) == (4, 1, 1)


@pytest.mark.postgres  # SQLite and PostgreSQL
def test_prepare_batch_reads_readers_in_id_order_without_the_departed(store: Store) -> None:
    people = add_subscribers(store, {"active": 5})
    _claim(store, batch_size=10)
    set_status(store, people["active"][2], "bounced")
    rows = ledger.prepare_batch(store, KEY, 1)
    assert [r.email for r in rows] == [e for i, e in enumerate(people["active"]) if i != 2]
    assert [r.subscriber_id for r in rows] == sorted(r.subscriber_id for r in rows)


@pytest.mark.postgres  # SQLite and PostgreSQL
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


# --- the SendGrid request built straight from the readers ---------------------------------

SECRETS = Secrets(secret_key="test-secret-0123456789", sendgrid_api_key="SG.test-key",
                  sendgrid_api_host=None, smtp_password=None)  # fmt: skip
MESSAGE = Message(
    subject="Lead story | Statecraft Weekly",
    html=f'<p>Hello</p><a href="{UNSUBSCRIBE_PLACEHOLDER}">Unsubscribe</a>',
    text=f"Hello\nUnsubscribe: {UNSUBSCRIBE_PLACEHOLDER}",
    from_email="newsletter@statecraft.example", from_name="Statecraft Weekly",
    reply_to="editors@statecraft.example", categories=("digest",), custom_args={"issue": KEY},
)  # fmt: skip


def _sendgrid(tmp_path: Path, **delivery: Any) -> SendGridBackend:
    cfg = sample_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", backend="sendgrid",
                        api_host="http://127.0.0.1:9", **delivery)  # fmt: skip
    backend = get_backend(cfg, SECRETS)
    assert isinstance(backend, SendGridBackend)
    return backend


READERS = [
    ("reader-0@example.com", None, "http://127.0.0.1:8000/unsubscribe/t0"),
    ("reader-1@example.com", "Reader One", "http://127.0.0.1:8000/unsubscribe/t1"),
    ("jörg@example.com", "Jörg", "http://127.0.0.1:8000/unsubscribe/t2"),  # needs SMTPUTF8: refused
    ("leser@bücher.example", "", "http://127.0.0.1:8000/unsubscribe/t3"),  # IDNA domain
]


@pytest.mark.parametrize("sandbox", [False, True])
def test_the_request_from_readers_is_byte_for_byte_the_request_from_recipients(
    tmp_path: Path, sandbox: bool
) -> None:
    backend = _sendgrid(tmp_path, sandbox_mode=sandbox)
    body, refused = backend.personalized_payload(MESSAGE, READERS)
    assert refused == ("jörg@example.com",)
    sendable = [Recipient(e, n, {UNSUBSCRIBE_PLACEHOLDER: u}, unsubscribe_headers(u))
                for e, n, u in READERS if e != "jörg@example.com"]  # fmt: skip
    assert body == backend.build_payload(MESSAGE, sendable)
    doc = json.loads(body or b"")
    assert [p["to"] for p in doc["personalizations"]] == [
        [{"email": "reader-0@example.com"}],
        [{"email": "reader-1@example.com", "name": "Reader One"}],
        [{"email": "leser@xn--bcher-kva.example"}],
    ]


def test_a_batch_of_only_undeliverable_readers_builds_no_request(tmp_path: Path) -> None:
    backend = _sendgrid(tmp_path)
    assert backend.personalized_payload(MESSAGE, [READERS[2]]) == (None, ("jörg@example.com",))
    assert backend.personalized_sender(MESSAGE, [READERS[2]])().rejected == ("jörg@example.com",)


def test_the_request_from_readers_is_still_validated(tmp_path: Path) -> None:
    backend = _sendgrid(tmp_path)
    with pytest.raises(
        PermanentDeliveryError, match=r"personalizations\[1\]\.to has a bad address"
    ):
        backend.personalized_payload(MESSAGE, [READERS[0], ("nobody", None, "http://x/u")])
    with pytest.raises(PermanentDeliveryError, match="the subject is empty"):
        backend.personalized_payload(replace(MESSAGE, subject=" "), READERS[:1])
    with pytest.raises(PermanentDeliveryError, match="1001 personalizations"):
        backend.personalized_payload(MESSAGE, READERS[:1] * 1001)
