"""SendGrid's signed Event Webhook: a real P-256 key pair signs payloads the
way SendGrid does, and they are POSTed to the app."""

from __future__ import annotations

import base64
import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import event, func, insert, select, text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from digest.clock import Clock
from digest.config import Config, load_config, parse_config
from digest.store.database import Store
from digest.store.tables import ConsentEvent, IssueRecord, Subscriber, WebhookEvent
from subscribers import repository
from subscribers.webhooks.base import Counter
from subscribers.webhooks.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_payload

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ISSUE = "2026-W47"
URL = "/webhooks/sendgrid"

# --- keys, config, app --------------------------------------------------------------


@pytest.fixture(scope="module")
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_text(private: ec.EllipticCurvePrivateKey) -> str:
    """Base64 DER SubjectPublicKeyInfo: what SendGrid shows on its settings page."""
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    return base64.b64encode(der).decode("ascii")


def make_config(web: dict[str, Any]) -> Config:
    return parse_config(
        {
            "newsletter": {
                "name": "Statecraft Weekly",
                "from_email": "newsletter@statecraft.example",
                "postal_address": "1 Example Street, Washington, DC 20001",
                "site_url": "https://statecraft.example",
            },
            "sources": [{"name": "Main", "url": "https://statecraft.example/feed.rss"}],
            "web": web,
        }
    )


def make_app(store: Store, config: Config, clock: Clock = lambda: NOW) -> Starlette:
    """The real web app ``digest serve`` runs, on a file backend (nothing is mailed)."""
    from digest.backends.file import FileBackend
    from digest.config import Secrets
    from subscribers.web.app import create_app

    secrets = Secrets(
        secret_key="webhook-tests-secret-key-0123456789",
        sendgrid_api_key=None,
        sendgrid_api_host=None,
        smtp_password=None,
    )
    # webhooks send nothing: the outbox is never created
    outbox = Path(tempfile.gettempdir()) / "digest-webhook-tests-outbox"
    backend = FileBackend(config, secrets, outbox=str(outbox))
    return create_app(config, store=store, secrets=secrets, clock=clock, backend=backend)


@pytest.fixture
def config(private_key: ec.EllipticCurvePrivateKey) -> Config:
    return make_config({"sendgrid_webhook_public_key": public_key_text(private_key)})


def client_for(store: Store, config: Config) -> TestClient:
    return TestClient(make_app(store, config), base_url="http://127.0.0.1")


def signed(private: ec.EllipticCurvePrivateKey, body: bytes, at: datetime = NOW) -> dict[str, str]:
    ts = str(int(at.timestamp()))
    return {
        SIGNATURE_HEADER: sign_payload(private, ts, body),
        TIMESTAMP_HEADER: ts,
        "Content-Type": "application/json",
    }


# --- data -----------------------------------------------------------------------------


def seed(store: Store, emails: list[str], *, status: str = "active", issue: bool = True) -> None:
    with store.session() as s:
        if issue and s.get(IssueRecord, ISSUE) is None:
            s.add(
                IssueRecord(
                    key=ISSUE,
                    status="sent",
                    as_of=NOW - timedelta(hours=6),
                    created_at=NOW - timedelta(hours=6),
                )
            )
        for email in emails:
            repository.add(s, email, at=NOW - timedelta(days=30), source="cli", status=status)


def ev(kind: str, email: str, n: int, **extra: Any) -> dict[str, Any]:
    """An event shaped as SendGrid documents it (custom_args appear as top-level keys)."""
    base: dict[str, Any] = {
        "email": email,
        "timestamp": int(NOW.timestamp()) - 600 + n,
        "event": kind,
        "sg_event_id": f"sg-{kind}-{n}-{email}",
        "sg_message_id": f"msg{n}.filterdrecv-1234-1-5F0B1E2B-1.0",
        "smtp-id": f"<msg{n}@statecraft.example>",
        "category": ["newsletter"],
        "issue": ISSUE,
    }
    base.update(extra)
    return base


def bounce(email: str, n: int, type_: str = "bounce") -> dict[str, Any]:
    return ev(
        "bounce",
        email,
        n,
        type=type_,
        status="5.1.1" if type_ == "bounce" else "4.0.0",
        reason="550 5.1.1 The email account that you tried to reach does not exist.",
        bounce_classification="Invalid Address" if type_ == "bounce" else "Reputation",
    )


def body_of(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(events, separators=(",", ":")).encode()


def statuses(store: Store) -> dict[str, str]:
    with store.session() as s:
        return {sub.email: sub.status for sub in s.scalars(select(Subscriber))}


def issue_counts(store: Store) -> dict[str, int]:
    names = get_args(Counter)  # every IssueRecord counter an event can add to
    with store.session() as s:
        rec = s.get(IssueRecord, ISSUE)
        assert rec is not None
        return {n: getattr(rec, n) for n in names if getattr(rec, n)}


def ledger(store: Store, kind: str | None = None) -> list[tuple[str, str | None, str | None]]:
    with store.session() as s:
        q = select(Subscriber.email, ConsentEvent.kind, ConsentEvent.event_id, ConsentEvent.source)
        q = q.join(Subscriber, Subscriber.id == ConsentEvent.subscriber_id)
        if kind:
            q = q.where(ConsentEvent.kind == kind)
        return [
            (r[0], r[1], r[2]) for r in s.execute(q.order_by(ConsentEvent.id)) if r[3] == "webhook"
        ]


def stored_events(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


PEOPLE = [
    "ann@example.org",
    "bob@example.org",
    "cy@example.org",
    "dee@example.org",
    "eve@example.org",
]


def mixed_batch() -> list[dict[str, Any]]:
    return [
        bounce("ann@example.org", 1),
        ev("spamreport", "bob@example.org", 2),
        ev(
            "group_unsubscribe",
            "cy@example.org",
            3,
            asm_group_id=42,
            useragent="Mozilla/5.0",
            ip="203.0.113.9",
        ),
        ev("delivered", "dee@example.org", 4, response="250 OK"),
        ev(
            "open",
            "dee@example.org",
            5,
            useragent="Mozilla/5.0",
            ip="203.0.113.9",
            sg_machine_open=False,
        ),
        ev(
            "click",
            "dee@example.org",
            6,
            url="https://statecraft.example/a",
            url_offset={"index": 0, "type": "html"},
        ),
        ev("delivered", "eve@example.org", 7, response="250 OK"),
        ev("processed", "eve@example.org", 8),
        ev("future_event_kind", "eve@example.org", 9),
    ]


# --- tests ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_signed_batch_changes_exactly_the_people_it_names(
    store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(store, PEOPLE)
    body = body_of(mixed_batch())
    with client_for(store, config) as client:
        r = client.post(URL, content=body, headers=signed(private_key, body))
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == 9
    assert statuses(store) == {
        "ann@example.org": "bounced",
        "bob@example.org": "complained",
        "cy@example.org": "unsubscribed",
        "dee@example.org": "active",
        "eve@example.org": "active",
    }
    # every change is in the consent ledger with SendGrid's event id
    assert ledger(store) == [
        ("ann@example.org", "bounced", "sg-bounce-1-ann@example.org"),
        ("bob@example.org", "complained", "sg-spamreport-2-bob@example.org"),
        ("cy@example.org", "unsubscribed", "sg-group_unsubscribe-3-cy@example.org"),
    ]
    with store.session() as s:
        details = [
            c.detail
            for c in s.scalars(
                select(ConsentEvent)
                .where(ConsentEvent.source == "webhook")
                .order_by(ConsentEvent.id)
            )
        ]
        cy = repository.get_by_email(s, "cy@example.org")
        assert cy is not None and cy.unsubscribed_at is not None
    assert "550 5.1.1" in (details[0] or "")
    assert "asm_group_id=42" in (details[2] or "")
    # per-issue numbers; "processed" is known but not counted, the unknown kind is
    assert issue_counts(store) == {
        "bounced": 1,
        "complained": 1,
        "unsubscribed": 1,
        "delivered": 2,
        "opened": 1,
        "clicked": 1,
        "unknown_events": 1,
    }


def test_one_changed_byte_is_refused_and_nothing_is_stored(
    sqlite_store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(sqlite_store, PEOPLE)
    body = body_of(mixed_batch())
    headers = signed(private_key, body)
    forged = body.replace(b"ann@example.org", b"ann@example.orh", 1)
    assert len(forged) == len(body)
    with client_for(sqlite_store, config) as client:
        r = client.post(URL, content=forged, headers=headers)
        assert r.status_code == 403
        # the right body with another key's signature
        other = ec.generate_private_key(ec.SECP256R1())
        assert client.post(URL, content=body, headers=signed(other, body)).status_code == 403
        # the right body and signature, but the timestamp header changed by one second
        moved = dict(headers, **{TIMESTAMP_HEADER: str(int(headers[TIMESTAMP_HEADER]) + 1)})
        assert client.post(URL, content=body, headers=moved).status_code == 403
        # no signature at all, or garbage
        assert (
            client.post(
                URL, content=body, headers={TIMESTAMP_HEADER: moved[TIMESTAMP_HEADER]}
            ).status_code
            == 403
        )
        garbage = dict(headers, **{SIGNATURE_HEADER: "not base64!"})
        assert client.post(URL, content=body, headers=garbage).status_code == 403
    assert set(statuses(sqlite_store).values()) == {"active"}
    assert stored_events(sqlite_store) == 0
    assert issue_counts(sqlite_store) == {}


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_a_stale_or_future_timestamp_is_refused_as_a_replay(
    sqlite_store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey, offset: int
) -> None:
    seed(sqlite_store, PEOPLE)
    body = body_of(mixed_batch())
    with client_for(sqlite_store, config) as client:
        r = client.post(
            URL, content=body, headers=signed(private_key, body, NOW + timedelta(seconds=offset))
        )
        assert r.status_code == 403
        assert "tolerance" in r.json()["error"]
        # inside the window (either side) it is accepted
        edge = NOW + timedelta(seconds=290 if offset > 0 else -290)
        assert (
            client.post(URL, content=body, headers=signed(private_key, body, edge)).status_code
            == 200
        )
    assert statuses(sqlite_store)["ann@example.org"] == "bounced"


@pytest.mark.postgres
def test_the_same_batch_twice_is_applied_once(
    store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(store, PEOPLE)
    events = mixed_batch()
    events.append(dict(events[0]))  # a repeat inside the POST too
    body = body_of(events)
    with client_for(store, config) as client:
        first = client.post(URL, content=body, headers=signed(private_key, body))
        counts = issue_counts(store)
        rows = ledger(store)
        # SendGrid retries a batch later with a fresh timestamp and signature
        second = client.post(
            URL, content=body, headers=signed(private_key, body, NOW + timedelta(seconds=60))
        )
    assert first.status_code == second.status_code == 200
    assert first.json()["applied"] == 9 and first.json()["duplicates"] == 1
    assert second.json()["applied"] == 0 and second.json()["duplicates"] == 10
    assert issue_counts(store) == counts
    assert counts["bounced"] == 1
    assert ledger(store) == rows and len(rows) == 3


def test_an_event_without_sg_event_id_is_still_applied_once(
    sqlite_store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(sqlite_store, PEOPLE)
    e = ev("delivered", "dee@example.org", 1)
    del e["sg_event_id"]
    other = dict(e, timestamp=e["timestamp"] + 5)  # a different event: counted too
    body = body_of([e, other])
    with client_for(sqlite_store, config) as client:
        for _ in range(2):
            assert (
                client.post(URL, content=body, headers=signed(private_key, body)).status_code == 200
            )
    assert issue_counts(sqlite_store) == {"delivered": 2}


@pytest.mark.postgres
def test_five_thousand_events_in_one_post_one_transaction(
    store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    emails = [f"reader{i:04d}@example.org" for i in range(2500)]
    seed(store, [])
    with store.session() as s:  # a big list, quickly: rows as `digest subscribers import` makes
        s.execute(
            insert(Subscriber),
            [
                {
                    "email": e,
                    "email_key": e,
                    "status": "active",
                    "source": "import",
                    "created_at": NOW - timedelta(days=30),
                    "soft_bounces": 0,
                }
                for e in emails
            ],
        )
    events: list[dict[str, Any]] = []
    for i, email in enumerate(emails):
        events.append(ev("delivered", email, 2 * i))
        if i % 10 == 0:
            events.append(bounce(email, 2 * i + 1))
        elif i % 25 == 1:
            events.append(ev("spamreport", email, 2 * i + 1))
        else:
            events.append(ev("open", email, 2 * i + 1))
    assert len(events) == 5000
    body = body_of(events)
    commits: list[int] = []
    statements: list[str] = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with client_for(store, config) as client:
        started = time.perf_counter()
        r = client.post(URL, content=body, headers=signed(private_key, body))
        elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == 5000
    assert len(commits) == 1, f"{len(commits)} commits for one POST"
    # lookups are batched: not one query per event (the 350 status changes each write
    # the subscriber row and a ledger row)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) < 30, f"{len(selects)} SELECTs for one POST"
    counts = issue_counts(store)
    assert counts == {"delivered": 2500, "bounced": 250, "complained": 100, "opened": 2150}
    st = statuses(store)
    assert sum(1 for v in st.values() if v == "bounced") == 250
    assert sum(1 for v in st.values() if v == "complained") == 100
    print(f"\n5000 events on {store.dialect}: {elapsed:.2f} s, {len(statements)} statements")
    assert elapsed < 20


def test_a_database_failure_answers_500_and_keeps_nothing(
    sqlite_store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(sqlite_store, PEOPLE)
    # the consent ledger cannot be written: the failure comes after the event ids and the
    # counts were written in the same transaction, and must undo them
    with sqlite_store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE consent_events RENAME TO consent_events_away"))
    body = body_of(mixed_batch())
    with client_for(sqlite_store, config) as client:
        r = client.post(URL, content=body, headers=signed(private_key, body))
        assert r.status_code == 500
        assert stored_events(sqlite_store) == 0
        assert issue_counts(sqlite_store) == {}
        assert set(statuses(sqlite_store).values()) == {"active"}
        # SendGrid retries once the database is back: applied then
        with sqlite_store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE consent_events_away RENAME TO consent_events"))
        r = client.post(
            URL, content=body, headers=signed(private_key, body, NOW + timedelta(seconds=30))
        )
    assert r.status_code == 200
    assert statuses(sqlite_store)["bob@example.org"] == "complained"


def test_bad_bodies_are_refused_with_400_or_413(
    sqlite_store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(sqlite_store, PEOPLE)
    with client_for(sqlite_store, config) as client:
        for body in (b"{not json", b'{"event": "bounce"}', b""):
            r = client.post(URL, content=body, headers=signed(private_key, body))
            assert r.status_code == 400, body
        huge = b"[" + b" " * (5 * 1024 * 1024) + b"]"
        r = client.post(URL, content=huge, headers=signed(private_key, huge))
        assert r.status_code == 413
        # an empty array is fine (SendGrid's "test your integration" may send one)
        assert (
            client.post(URL, content=b"[]", headers=signed(private_key, b"[]")).status_code == 200
        )
    assert stored_events(sqlite_store) == 0


def test_without_a_configured_key_nothing_is_accepted(
    sqlite_store: Store,
    private_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(sqlite_store, PEOPLE)
    body = body_of(mixed_batch())
    with client_for(sqlite_store, make_config({})) as client:
        r = client.post(URL, content=body, headers=signed(private_key, body))
    assert r.status_code == 503
    assert "web.sendgrid_webhook_public_key" in caplog.text
    with client_for(
        sqlite_store, make_config({"sendgrid_webhook_public_key": "bm9wZQ=="})
    ) as client:
        r = client.post(URL, content=body, headers=signed(private_key, body))
    assert r.status_code == 503
    assert "web.sendgrid_webhook_public_key" in r.json()["error"]
    assert stored_events(sqlite_store) == 0


def test_a_pem_key_is_accepted_too(
    sqlite_store: Store, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(sqlite_store, PEOPLE)
    pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    body = body_of([bounce("ann@example.org", 1)])
    with client_for(sqlite_store, make_config({"sendgrid_webhook_public_key": pem})) as client:
        assert client.post(URL, content=body, headers=signed(private_key, body)).status_code == 200
    assert statuses(sqlite_store)["ann@example.org"] == "bounced"


def test_status_precedence(
    sqlite_store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(sqlite_store, PEOPLE)
    first = body_of(
        [
            ev("spamreport", "ann@example.org", 1),
            ev("unsubscribe", "bob@example.org", 2),
            bounce("cy@example.org", 3),
        ]
    )
    later = body_of(
        [
            bounce("ann@example.org", 11),  # a complaint is never turned back into a bounce
            ev("unsubscribe", "ann@example.org", 12),
            bounce("bob@example.org", 13),  # unsubscribed stays unsubscribed
            ev("spamreport", "cy@example.org", 14),  # bounced, then a complaint: complained
        ]
    )
    with client_for(sqlite_store, config) as client:
        for body in (first, later):
            assert (
                client.post(URL, content=body, headers=signed(private_key, body)).status_code == 200
            )
    st = statuses(sqlite_store)
    assert (st["ann@example.org"], st["bob@example.org"], st["cy@example.org"]) == (
        "complained",
        "unsubscribed",
        "complained",
    )
    kinds = [(e, k) for e, k, _ in ledger(sqlite_store)]
    assert kinds == [
        ("ann@example.org", "complained"),
        ("bob@example.org", "unsubscribed"),
        ("cy@example.org", "bounced"),
        ("cy@example.org", "complained"),
    ]
    # the later events are still counted for the issue
    assert issue_counts(sqlite_store)["bounced"] == 3


def test_soft_bounces_suppress_after_the_limit_in_a_row(
    sqlite_store: Store, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(sqlite_store, PEOPLE)
    cfg = make_config(
        {"sendgrid_webhook_public_key": public_key_text(private_key), "soft_bounce_limit": 2}
    )
    batch1 = body_of(
        [
            bounce("ann@example.org", 1, "blocked"),
            ev("delivered", "ann@example.org", 2),  # got through in between: starts again
            bounce("ann@example.org", 3, "blocked"),
            bounce("bob@example.org", 4, "blocked"),
        ]
    )
    batch2 = body_of([bounce("bob@example.org", 20, "expired")])  # gave up retrying: soft
    with client_for(sqlite_store, cfg) as client:
        assert (
            client.post(URL, content=batch1, headers=signed(private_key, batch1)).status_code == 200
        )
        st = statuses(sqlite_store)
        assert st["ann@example.org"] == st["bob@example.org"] == "active"
        assert (
            client.post(URL, content=batch2, headers=signed(private_key, batch2)).status_code == 200
        )
    st = statuses(sqlite_store)
    assert st["ann@example.org"] == "active"
    assert st["bob@example.org"] == "bounced"
    with sqlite_store.session() as s:
        ann = repository.get_by_email(s, "ann@example.org")
        assert ann is not None and ann.soft_bounces == 1
    assert ledger(sqlite_store) == [("bob@example.org", "bounced", "sg-bounce-20-bob@example.org")]
    assert issue_counts(sqlite_store) == {"blocked": 4, "delivered": 1}


def test_dropped_mail_follows_sendgrids_suppression_reason(
    sqlite_store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(sqlite_store, PEOPLE)
    body = body_of(
        [
            ev("dropped", "ann@example.org", 1, reason="Bounced Address", status="5.0.0"),
            ev("dropped", "bob@example.org", 2, reason="Spam Reporting Address", status="5.0.0"),
            ev("dropped", "cy@example.org", 3, reason="Unsubscribed Address", status="5.0.0"),
            ev("dropped", "dee@example.org", 4, reason="Invalid", status="5.0.0"),
            ev(
                "dropped",
                "eve@example.org",
                5,
                reason="Spam Content (if Spam Checker app is enabled)",
                status="5.0.0",
            ),
        ]
    )
    with client_for(sqlite_store, config) as client:
        assert client.post(URL, content=body, headers=signed(private_key, body)).status_code == 200
    assert statuses(sqlite_store) == {
        "ann@example.org": "bounced",
        "bob@example.org": "complained",
        "cy@example.org": "unsubscribed",
        "dee@example.org": "bounced",
        "eve@example.org": "active",  # our content, not the reader's address
    }
    assert issue_counts(sqlite_store) == {"dropped": 5}


def test_events_for_strangers_and_other_issues_change_nothing_else(
    sqlite_store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(sqlite_store, PEOPLE)
    body = body_of(
        [
            bounce("stranger@example.net", 1),
            ev("delivered", "ann@example.org", 2, issue="2026-W01"),  # not in this database
            ev("delivered", "ann@example.org", 3, issue="<script>"),  # not an issue key
            bounce("BOB@Example.org", 4),  # the address as SendGrid echoes it, other case
        ]
    )
    with client_for(sqlite_store, config) as client:
        r = client.post(URL, content=body, headers=signed(private_key, body))
    assert r.status_code == 200
    assert statuses(sqlite_store)["bob@example.org"] == "bounced"
    assert sum(v != "active" for v in statuses(sqlite_store).values()) == 1
    assert issue_counts(sqlite_store) == {"bounced": 2}


# --- a real server ----------------------------------------------------------------------


@pytest.fixture
def live_server(sqlite_store: Store, config: Config) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(sqlite_store, config, lambda: datetime.now(UTC)),
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_a_real_server_verifies_and_applies(
    live_server: str, sqlite_store: Store, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(sqlite_store, PEOPLE)
    body = body_of(mixed_batch())
    now = datetime.now(UTC)
    with httpx.Client(base_url=live_server, timeout=10) as http:
        forged = http.post(
            URL, content=body.replace(b"bob@", b"rob@"), headers=signed(private_key, body, now)
        )
        assert forged.status_code == 403
        stale = http.post(
            URL, content=body, headers=signed(private_key, body, now - timedelta(minutes=10))
        )
        assert stale.status_code == 403
        assert statuses(sqlite_store)["bob@example.org"] == "active"
        ok = http.post(URL, content=body, headers=signed(private_key, body, now))
        assert ok.status_code == 200, ok.text
        again = http.post(URL, content=body, headers=signed(private_key, body, now))
        assert again.json()["applied"] == 0
        assert http.get(URL).status_code == 405
    assert statuses(sqlite_store)["bob@example.org"] == "complained"
    assert issue_counts(sqlite_store)["delivered"] == 2


def test_reasons_from_remote_servers_stay_on_one_line(
    sqlite_store: Store,
    config: Config,
    private_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(sqlite_store, PEOPLE)
    evil = "550 no such user\r\nINFO digest.webhooks: all good\x1b[2J"
    body = body_of(
        [
            dict(bounce("ann@example.org", 1), reason=evil),
            ev("dropped", "bob@example.org", 2, reason="Spam Content\nERROR forged line"),
        ]
    )
    caplog.set_level("INFO", logger="digest.webhooks")
    with client_for(sqlite_store, config) as client:
        assert client.post(URL, content=body, headers=signed(private_key, body)).status_code == 200
    with sqlite_store.session() as s:
        detail = s.scalar(select(ConsentEvent.detail).where(ConsentEvent.source == "webhook"))
    assert detail is not None and "550 no such user INFO digest.webhooks: all good" in detail
    assert "\n" not in detail and "\x1b" not in detail
    dropped_lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert dropped_lines == ["sendgrid: 1 dropped (dropped: Spam Content ERROR forged line)"]


# --- end to end: the next send skips the suppressed -------------------------------------

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Statecraft</title><link>https://statecraft.example</link>
<description>x</description>
{items}
</channel></rss>"""
ITEM = """<item><title>{title}</title><link>https://statecraft.example/{slug}</link>
<guid>{slug}</guid><pubDate>{date}</pubDate><category>Featured</category>
<description>About {title}.</description></item>"""


def test_the_next_send_skips_exactly_the_three_suppressed(
    tmp_path: Any,
    sqlite_url: str,
    private_key: ec.EllipticCurvePrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # not the bundled sample: its links are signed with the key from the environment
    monkeypatch.setenv("DIGEST_SECRET_KEY", "webhook-tests-secret-key-0123456789")
    from digest.backends.file import FileBackend
    from digest.config import Secrets
    from digest.send import run_send
    from digest.store.database import open_store

    dates = {
        "w47-a": "Tue, 17 Nov 2026 10:00:00 -0500",
        "w47-b": "Wed, 18 Nov 2026 10:00:00 -0500",
        "w48-a": "Tue, 24 Nov 2026 10:00:00 -0500",
        "w48-b": "Wed, 25 Nov 2026 10:00:00 -0500",
    }
    items = "\n".join(
        ITEM.format(title=f"Story {slug}", slug=slug, date=date) for slug, date in dates.items()
    )
    (tmp_path / "feed.xml").write_text(FEED.format(items=items), encoding="utf-8")
    cfg = parse_config(
        {
            "newsletter": {
                "name": "Statecraft Weekly",
                "from_email": "newsletter@statecraft.example",
                "postal_address": "1 Example Street, Washington, DC 20001",
                "site_url": "https://statecraft.example",
                "timezone": "America/New_York",
            },
            "sources": [{"name": "Main", "url": str(tmp_path / "feed.xml")}],
            "storage": {"url": sqlite_url},
            "web": {"sendgrid_webhook_public_key": public_key_text(private_key)},
        },
        path=tmp_path / "digest.toml",
    )
    store = open_store(sqlite_url)
    try:
        seed(store, PEOPLE, issue=False)
        outbox = tmp_path / "outbox"

        def send(as_of: datetime) -> list[str]:
            backend = FileBackend(cfg, Secrets.from_env({}), outbox=str(outbox))
            report = run_send(cfg, store, as_of=as_of, backend=backend, clock=lambda: as_of)
            assert report.outcome == "sent", report.message
            return sorted(
                line.split(":", 1)[1].strip()
                for p in outbox.glob(f"{report.key}-*.eml")
                for line in p.read_text().splitlines()
                if line.startswith("To:")
            )

        assert send(datetime(2026, 11, 20, 14, 0, tzinfo=UTC)) == PEOPLE
        body = body_of(
            [
                bounce("ann@example.org", 1),
                ev("spamreport", "bob@example.org", 2),
                ev("unsubscribe", "cy@example.org", 3),
                ev("delivered", "dee@example.org", 4),
                ev("delivered", "eve@example.org", 5),
            ]
        )
        with client_for(store, cfg) as client:
            assert (
                client.post(URL, content=body, headers=signed(private_key, body)).status_code == 200
            )
        assert statuses(store) == {
            "ann@example.org": "bounced",
            "bob@example.org": "complained",
            "cy@example.org": "unsubscribed",
            "dee@example.org": "active",
            "eve@example.org": "active",
        }
        assert issue_counts(store) == {
            "bounced": 1,
            "complained": 1,
            "unsubscribed": 1,
            "delivered": 2,
        }
        assert send(datetime(2026, 11, 27, 14, 0, tzinfo=UTC)) == [
            "dee@example.org",
            "eve@example.org",
        ]
        with store.session() as s:
            w48 = s.get(IssueRecord, "2026-W48")
            assert w48 is not None and w48.recipients == 2
    finally:
        store.dispose()


@pytest.mark.postgres
def test_the_same_batch_posted_concurrently_is_applied_once(
    store: Store, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(store, PEOPLE)
    events = mixed_batch() + [ev("delivered", f"x{i}@example.net", 100 + i) for i in range(300)]
    body = body_of(events)
    codes: list[int] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        with client_for(store, config) as client:
            barrier.wait()
            codes.append(
                client.post(URL, content=body, headers=signed(private_key, body)).status_code
            )

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes == [200, 200, 200, 200]
    assert issue_counts(store)["delivered"] == 302
    assert len(ledger(store)) == 3


@pytest.mark.postgres
def test_the_same_batch_on_two_replicas_at_once_is_applied_once(
    pg_url: str, config: Config, private_key: ec.EllipticCurvePrivateKey
) -> None:
    """Two replicas (each its own engine) get the same signed batch at the same moment,
    twice each: every event is applied by exactly one of the four POSTs, none of them
    fails, and the ledger has one row per status change."""
    from digest.store.database import open_store
    from tests.concurrency_support import run_together

    replicas = [open_store(pg_url) for _ in range(2)]
    try:
        seed(replicas[0], PEOPLE)
        events = mixed_batch() + [ev("delivered", f"x{i}@example.net", 100 + i) for i in range(300)]
        body = body_of(events)
        clients = [client_for(store, config) for store in replicas * 2]
        answers = run_together(
            [
                lambda c=c: c.post(URL, content=body, headers=signed(private_key, body))
                for c in clients
            ]
        )
        assert [a.status_code for a in answers] == [200] * 4
        assert sum(a.json()["applied"] for a in answers) == len(events)
        assert sum(a.json()["status_changes"] for a in answers) == 3
        assert issue_counts(replicas[1])["delivered"] == 302
        assert len(ledger(replicas[1])) == 3
        assert stored_events(replicas[1]) == len(events)
    finally:
        for store in replicas:
            store.dispose()


def no_issue(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "issue"}


@pytest.mark.postgres
def test_soft_bounces_from_batches_on_two_replicas_all_count(
    pg_url: str, private_key: ec.EllipticCurvePrivateKey
) -> None:
    """Different batches, each with one soft bounce for the same 200 readers, reach two
    replicas at once: every bounce counts (no update lost: each POST reads the count the
    other wrote), and at the limit each reader becomes bounced, once. The events name no
    issue (as for confirmation emails): an issue's counter row would make the POSTs take
    turns anyway."""
    from digest.store.database import open_store
    from tests.concurrency_support import run_together

    config = make_config(
        {"sendgrid_webhook_public_key": public_key_text(private_key), "soft_bounce_limit": 6}
    )
    readers = [f"r{i:03}@example.org" for i in range(200)]
    replicas = [open_store(pg_url) for _ in range(2)]
    try:
        seed(replicas[0], readers)
        bodies = [
            body_of([no_issue(bounce(email, 1000 * k, "blocked")) for email in readers])
            for k in range(1, 9)
        ]
        clients = [client_for(replicas[k % 2], config) for k in range(len(bodies))]
        answers = run_together(
            [
                lambda c=c, b=b: c.post(URL, content=b, headers=signed(private_key, b))
                for c, b in zip(clients, bodies, strict=True)
            ]
        )
        assert [a.status_code for a in answers] == [200] * len(bodies)
        assert sum(a.json()["status_changes"] for a in answers) == len(readers)
        assert set(statuses(replicas[1]).values()) == {"bounced"}
        with replicas[1].session() as s:
            assert set(s.scalars(select(Subscriber.soft_bounces))) == {6}
        assert sorted(e for e, _, _ in ledger(replicas[1], "bounced")) == readers
    finally:
        for store in replicas:
            store.dispose()


def test_the_editor_sees_the_numbers_and_the_suppressed_in_the_cli(
    tmp_path: Path, private_key: ec.EllipticCurvePrivateKey
) -> None:
    from click.testing import CliRunner

    from digest.cli import cli
    from digest.store.database import open_store

    (tmp_path / "digest.toml").write_text(
        f"""
[newsletter]
name = "Statecraft Weekly"
from_email = "newsletter@statecraft.example"
postal_address = "1 Example Street, Washington, DC 20001"
site_url = "https://statecraft.example"

[[sources]]
name = "Main"
url = "https://statecraft.example/feed.rss"

[storage]
url = "sqlite:///{tmp_path / "digest.db"}"

[web]
sendgrid_webhook_public_key = "{public_key_text(private_key)}"
""",
        encoding="utf-8",
    )
    cfg = load_config(tmp_path / "digest.toml")
    store = open_store(cfg.storage.url)
    try:
        seed(store, PEOPLE)
        body = body_of(mixed_batch())
        with client_for(store, cfg) as client:
            assert (
                client.post(URL, content=body, headers=signed(private_key, body)).status_code == 200
            )
    finally:
        store.dispose()
    runner = CliRunner()
    conf = ["--config", str(tmp_path / "digest.toml")]
    shown = runner.invoke(cli, ["issues", "show", ISSUE, "--json", *conf])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert {k: data[k] for k in ("delivered", "bounced", "complained", "unsubscribed")} == {
        "delivered": 2,
        "bounced": 1,
        "complained": 1,
        "unsubscribed": 1,
    }
    assert (data["opened"], data["clicked"]) == (1, 1)
    listed = runner.invoke(cli, ["subscribers", "list", "--status", "bounced", "--json", *conf])
    assert listed.exit_code == 0, listed.output
    assert [s["email"] for s in json.loads(listed.output)] == ["ann@example.org"]


def test_serve_can_check_the_key_at_start_up(private_key: ec.EllipticCurvePrivateKey) -> None:
    from digest.errors import ConfigError
    from subscribers.webhooks import config_warnings

    assert (
        config_warnings(make_config({"sendgrid_webhook_public_key": public_key_text(private_key)}))
        == []
    )
    assert config_warnings(make_config({})) == []  # file backend: no webhook expected
    (warning,) = config_warnings(make_config({}), backend="sendgrid")
    assert "sendgrid_webhook_public_key" in warning
    p384 = public_key_text(
        ec.generate_private_key(ec.SECP384R1())
    )  # a key, but not SendGrid's kind
    for bad in ("not a key", p384):
        with pytest.raises(ConfigError, match="web.sendgrid_webhook_public_key"):
            config_warnings(make_config({"sendgrid_webhook_public_key": bad}))


def test_a_malformed_item_is_skipped_and_the_valid_events_beside_it_applied(
    sqlite_store: Store,
    config: Config,
    private_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 400 would make SendGrid retry the whole POST for a day and the valid events in it
    would never land; the item that is not an object is skipped and logged instead."""
    seed(sqlite_store, PEOPLE)
    body = (
        b'[1, {"email": "bob@example.org", "event": "spamreport", "sg_event_id": "m-1", '
        b'"timestamp": 1763650000, "issue": "2026-W47"}, "junk"]'
    )
    with client_for(sqlite_store, config) as client:
        r = client.post(URL, content=body, headers=signed(private_key, body))
    assert r.status_code == 200
    assert statuses(sqlite_store)["bob@example.org"] == "complained"
    assert "event 0 is not a JSON object" in caplog.text and "event 2" in caplog.text
