"""Two ``digest serve`` replicas on one PostgreSQL database behind a real haproxy (issue
14): a reader's whole journey answered by both replicas in turn, the same webhook batch
on both at the same moment applied once, and one subscribe rate limit for both, kept
across a restart.

The deployment is docs/deployment.md's, on one machine: ``digest db upgrade`` once, two
replicas with the same config file and environment, and haproxy running the doc's own
config (read from the doc by ``tests/balancer_support.py``; only the ``bind`` line and
the servers' addresses differ). Its ``X-Backend`` header names the replica that answered.

Client addresses: every address in 127.0.0.0/8 is this machine, so visitors come from
127.0.0.2, 127.0.0.3, … (haproxy sees them, and passes them on in X-Forwarded-For, which
the replicas believe because haproxy connects from 127.0.0.1, a trusted proxy).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from digest.store.database import Store, open_store
from digest.store.tables import ConsentEvent, IssueRecord, Subscriber, WebhookEvent
from digest.tokens import Tokens
from subscribers import repository as repo
from subscribers.webhooks.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_payload
from tests.balancer_support import BACKEND_HEADER, Cluster, cluster
from tests.concurrency_support import run_together
from tests.subscribers_support import EDITOR_CONFIG, SECRET, confirm_link, outbox_messages

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LIMIT = 4  # web.rate_limit_per_ip in these tests
ISSUE = "2026-W47"
WAIT_SECONDS = 30  # for work a replica does after its answer (the subscribe form's)


@pytest.fixture(scope="module")
def webhook_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def replicas(
    tmp_path: Path, pg_url: str, webhook_key: ec.EllipticCurvePrivateKey
) -> Iterator[Cluster]:
    public = webhook_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    config = EDITOR_CONFIG + (
        "\n[web]\n"
        f"rate_limit_per_ip = {LIMIT}\n"
        f'sendgrid_webhook_public_key = "{base64.b64encode(public).decode()}"\n'
    )
    with cluster(tmp_path, pg_url, config) as running:
        yield running


@pytest.fixture
def store(replicas: Cluster, pg_url: str) -> Iterator[Store]:
    """The replicas' database, seen from the test (``digest db upgrade`` migrated it)."""
    s = open_store(pg_url, migrate=False)
    try:
        yield s
    finally:
        s.dispose()


def visitor(base: str, address: str = "127.0.0.2") -> httpx.Client:
    """A browser of its own (cookies and all) whose connections come from ``address``."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base, transport=transport, timeout=30)


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found[1]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def ledger(store: Store) -> list[tuple[str, str, str | None]]:
    """(address, kind, ip) of every consent row, oldest first."""
    with store.session() as s:
        rows = s.execute(
            select(Subscriber.email, ConsentEvent.kind, ConsentEvent.ip)
            .join(Subscriber, Subscriber.id == ConsentEvent.subscriber_id)
            .order_by(ConsentEvent.id)
        )
        return [(r[0], r[1], r[2]) for r in rows]


# --- a. one reader, both replicas ------------------------------------------------------


def test_a_reader_subscribes_confirms_and_leaves_through_the_balancer(
    replicas: Cluster, store: Store, tmp_path: Path
) -> None:
    """Every step goes through haproxy, which sends each request to the other replica
    than the one before (roundrobin): the form's CSRF cookie and token issued by one
    replica are checked by the other, and so are the confirm page's; the link the
    confirmation email carries works on both."""
    answered: list[tuple[str, str]] = []  # (step, replica)

    def step(name: str, r: httpx.Response, status: int = 200) -> httpx.Response:
        assert r.status_code == status, (name, r.status_code, r.text[:500])
        answered.append((name, r.headers[BACKEND_HEADER]))
        return r

    with visitor(replicas.url) as reader:
        form = step("subscribe form", reader.get("/"))
        data = {"email": "ada@example.org", "csrf_token": csrf_of(form), "website": ""}
        step("subscribe", reader.post("/subscribe", data=data))
        # the confirmation email goes out after the answer (within a second)
        outbox = tmp_path / "outbox"
        wait_for(lambda: len(outbox_messages(outbox)) == 1, "the confirmation email")
        (message,) = outbox_messages(outbox)
        assert message["To"] == "ada@example.org"
        confirm_path = urlsplit(confirm_link(message)).path
        page = step("confirm page", reader.get(confirm_path))
        done = step("confirm", reader.post(confirm_path, data={"csrf_token": csrf_of(page)}))
        assert "ada@example.org" in done.text
        with store.session() as s:
            sub = repo.get_by_email(s, "ada@example.org")
            assert sub is not None and sub.status == "active"
            # the link in an issue: signed by `digest send` with the same key
            leave = Tokens(SECRET).unsubscribe(sub.id, sub.email)
        step(
            "one-click unsubscribe",
            reader.post(f"/unsubscribe/{leave}", data={"List-Unsubscribe": "One-Click"}),
        )
        # opening the link again, on either replica, shows it done
        again = [step("unsubscribe page", reader.get(f"/unsubscribe/{leave}")) for _ in range(2)]
        assert all("ada@example.org" in r.text for r in again)

    served_by = [who for _, who in answered]
    assert set(served_by) == set(replicas.names), answered
    # roundrobin: each request went to the other replica than the one before
    assert all(a != b for a, b in pairwise(served_by)), answered
    with store.session() as s:
        assert repo.counts_by_status(s)["unsubscribed"] == 1
        assert sum(repo.counts_by_status(s).values()) == 1
    # one consent row per step, the reader's with their own address (X-Forwarded-For)
    assert ledger(store) == [
        ("ada@example.org", "subscribed", "127.0.0.2"),
        ("ada@example.org", "confirmation_sent", None),
        ("ada@example.org", "confirmed", "127.0.0.2"),
        ("ada@example.org", "unsubscribed", "127.0.0.2"),
    ]


# --- b. one webhook batch, both replicas at once ----------------------------------------


def sendgrid_event(kind: str, address: str, n: int, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "email": address,
        "timestamp": int(time.time()) - 600 + n,
        "event": kind,
        "sg_event_id": f"sg-{kind}-{n}-{address}",
        "sg_message_id": f"msg{n}.filterdrecv-1234-1-5F0B1E2B-1.0",
        "issue": ISSUE,
    }
    event.update(extra)
    return event


def signed_headers(key: ec.EllipticCurvePrivateKey, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        SIGNATURE_HEADER: sign_payload(key, timestamp, body),
        TIMESTAMP_HEADER: timestamp,
        "Content-Type": "application/json",
    }


def test_the_same_webhook_batch_on_both_replicas_at_once_is_applied_once(
    replicas: Cluster, store: Store, webhook_key: ec.EllipticCurvePrivateKey
) -> None:
    now = datetime.now(UTC)
    readers = ["ann@example.org", "bob@example.org", "cy@example.org"]
    with store.session() as s:
        s.add(IssueRecord(key=ISSUE, status="sent", as_of=now, created_at=now))
        for address in readers:
            repo.add(s, address, at=now - timedelta(days=30), source="cli", status="active")
    events = [
        sendgrid_event(
            "bounce", "ann@example.org", 1, type="bounce", status="5.1.1", reason="550 no such user"
        ),
        sendgrid_event("spamreport", "bob@example.org", 2),
        *[sendgrid_event("delivered", f"x{i}@example.net", 10 + i) for i in range(300)],
        sendgrid_event("delivered", "cy@example.org", 400),
    ]
    body = json.dumps(events, separators=(",", ":")).encode()
    headers = signed_headers(webhook_key, body)
    url = "/webhooks/sendgrid"
    clients = [httpx.Client(base_url=r.url, timeout=60) for r in replicas.replicas]
    try:
        # directly to each replica (not through haproxy), released together
        answers = run_together(
            [lambda c=c: c.post(url, content=body, headers=headers) for c in clients]
        )
    finally:
        for c in clients:
            c.close()
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    summaries = [a.json() for a in answers]
    assert sum(x["applied"] for x in summaries) == len(events), summaries
    assert sum(x["status_changes"] for x in summaries) == 2, summaries
    with store.session() as s:
        record = s.get(IssueRecord, ISSUE)
        assert record is not None
        assert (record.delivered, record.bounced, record.complained) == (301, 1, 1)
        stored = s.scalar(select(func.count()).select_from(WebhookEvent))
        assert stored == len(events)
    # one consent row for each change (the rows of the readers' own joining aside)
    changes = [(a, k) for a, k, _ in ledger(store) if k not in ("subscribed", "confirmed")]
    assert sorted(changes) == [
        ("ann@example.org", "bounced"),
        ("bob@example.org", "complained"),
    ]
    with store.session() as s:
        assert {x.email: x.status for x in s.scalars(select(Subscriber))} == {
            "ann@example.org": "bounced",
            "bob@example.org": "complained",
            "cy@example.org": "active",
        }
    # SendGrid retrying the batch later, through the balancer: nothing new
    again = httpx.post(
        f"{replicas.url}{url}", content=body, headers=signed_headers(webhook_key, body), timeout=60
    )
    assert again.status_code == 200 and again.json()["applied"] == 0, again.text


# --- c. one rate limit for both replicas -------------------------------------------------


def subscribe_attempt(
    client: httpx.Client, address: str, forged_for: str | None = None
) -> httpx.Response:
    """GET the form, POST it (with a forged X-Forwarded-For when given)."""
    form = client.get("/")
    assert form.status_code == 200, form.text
    data = {"email": address, "csrf_token": csrf_of(form), "website": ""}
    extra = {"X-Forwarded-For": forged_for} if forged_for else {}
    return client.post("/subscribe", data=data, headers=extra)


def test_the_subscribe_limit_holds_across_replicas_and_a_restart(
    replicas: Cluster, store: Store
) -> None:
    """3×LIMIT posts from one visitor at once through haproxy, each with a forged
    X-Forwarded-For of its own: LIMIT accepted in all, whichever replica answered. The
    visitor comes from 127.0.0.1, an address uvicorn trusts as a proxy: had haproxy
    passed the forged header on, each forged address would have had a budget of its own
    (the doc's config drops it). Another visitor still gets in: the limit is per visitor,
    not one budget for everyone behind the balancer. After a replica's restart the first
    visitor is still refused, by both replicas."""
    attempts = 3 * LIMIT
    clients = [visitor(replicas.url, "127.0.0.1") for _ in range(attempts)]
    try:
        # each visitor's form first (GETs do not count), then every post at the same moment
        answers = run_together(
            [
                lambda i=i, c=c: subscribe_attempt(c, f"r{i}@example.org", f"198.51.100.{i + 1}")
                for i, c in enumerate(clients)
            ]
        )
    finally:
        for c in clients:
            c.close()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * LIMIT + [429] * (attempts - LIMIT), codes
    assert {a.headers[BACKEND_HEADER] for a in answers} == set(replicas.names)

    with visitor(replicas.url, "127.0.0.3") as other:
        assert subscribe_attempt(other, "other@example.org").status_code == 200

    # the accepted posts are recorded after their answers: wait for all of them
    def subscribed_ips() -> list[str]:
        return sorted(ip or "" for _, kind, ip in ledger(store) if kind == "subscribed")

    wait_for(lambda: len(subscribed_ips()) >= LIMIT + 1, "the accepted subscriptions")
    assert subscribed_ips() == ["127.0.0.1"] * LIMIT + ["127.0.0.3"]  # never a forged one

    restarted = replicas.replicas[0]
    replicas.restart(restarted)
    with visitor(replicas.url, "127.0.0.1") as again:
        form = again.get("/")  # then two posts: one to each replica (roundrobin)
        later = [
            again.post(
                "/subscribe",
                data={"email": f"later{i}@example.org", "csrf_token": csrf_of(form), "website": ""},
            )
            for i in range(2)
        ]
    assert [r.status_code for r in later] == [429, 429], [r.text[:300] for r in later]
    # roundrobin: one of the two went to the restarted replica
    assert {r.headers[BACKEND_HEADER] for r in later} == set(replicas.names)
    assert len(subscribed_ips()) == LIMIT + 1
