"""Several batches in flight at once (`delivery.concurrency`): against a local SendGrid that
counts the requests on the wire, each batch is in flight (committed) before its request
arrives, a server that answers 429 to bursts is met with fewer requests at once, and a
`digest send` killed mid-send leaves at most `concurrency` batches in doubt, each named
with its size, and nobody gets the issue twice."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from digest.backends.sendgrid import InFlightLimit, SendGridBackend
from digest.config import Secrets
from digest.send import run_send
from digest.store import ledger
from digest.store.database import Store, open_store
from digest.store.tables import SendRecipient, Subscriber
from tests.delivery_support import EXAMPLES, NOW, SAMPLE_KEY, add_subscribers, sample_config

pytestmark = pytest.mark.postgres

SECRETS = Secrets(
    secret_key="concurrency-secret-0123456789",
    sendgrid_api_key="SG.x",
    sendgrid_api_host=None,
    smtp_password=None,
)

# what the server does with a request: (request number, its recipients) -> HTTP status
Answer = Callable[[int, list[str]], int]


class CountingSendGrid:
    """A local /v3/mail/send that counts the requests on the wire (``max_in_flight``, and
    the count each request found when it arrived) and the recipients it accepted. What
    to answer is ``answer``'s call, made while the request is counted in flight; a 429
    carries Retry-After: 1 and is not counted as delivered."""

    def __init__(self, answer: Answer):
        self.answer = answer
        self.received: Counter[str] = Counter()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: list[int] = []  # requests in flight when each arrived (itself included)
        self.throttled = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                emails = [to["email"] for p in body["personalizations"] for to in p["to"]]
                with outer.lock:
                    outer.requests += 1
                    outer.in_flight += 1
                    number = outer.requests
                    outer.arrivals.append(outer.in_flight)
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    status = outer.answer(number, emails)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1
                        if status == 429:
                            outer.throttled += 1
                        elif 200 <= status < 300:
                            outer.received.update(emails)
                try:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRETS.secret_key or "")


@pytest.fixture
def servers() -> Iterator[list[CountingSendGrid]]:
    made: list[CountingSendGrid] = []
    yield made
    for s in made:
        s.close()


def _batches_of(store: Store) -> dict[str, int]:
    """Each recipient's batch number in the ledger of the sample issue."""
    with store.session() as s:
        rows = s.execute(
            select(Subscriber.email, SendRecipient.batch)
            .join(SendRecipient, SendRecipient.subscriber_id == Subscriber.id)
            .where(SendRecipient.issue_key == SAMPLE_KEY)
        ).all()
    return {email: batch for email, batch in rows}


def test_a_server_answering_429_to_bursts_gets_fewer_requests_at_once(
    tmp_path: Path, db_url: str, store: Store, servers: list[CountingSendGrid]
) -> None:
    release = threading.Event()  # never set: an accepted request takes up to 20 ms

    def answer(number: int, emails: list[str]) -> int:
        with srv.lock:
            crowded = srv.in_flight > 2
        if crowded:
            return 429
        release.wait(0.02)  # the server's latency (a bound, not a synchronisation)
        return 202

    srv = CountingSendGrid(answer)
    servers.append(srv)
    readers = add_subscribers(store, {"active": 200})["active"]
    cfg = sample_config(
        tmp_path, db_url, backend="sendgrid", api_host=srv.url, batch_size=5,
        max_retries=50, concurrency=8,
    )  # fmt: skip
    waits: list[float] = []
    backend = SendGridBackend(cfg, SECRETS, sleep=waits.append)  # retry at once, but record
    try:
        report = run_send(cfg, store, as_of=cfg.fixed_as_of(), backend=backend, clock=lambda: NOW)  # type: ignore[arg-type]
    finally:
        backend.close()
    assert report.outcome == "sent" and report.exit_code == 0, report.message
    assert srv.received == {r: 1 for r in readers}  # everyone exactly once
    assert report.sent == 200
    # after the first burst (the first 8 requests), a 429 has halved the limit: never more
    # than 4 at once again, and the 429s are few against the 40 batches
    assert max(srv.arrivals[8:]) <= 4, srv.arrivals
    assert srv.throttled < 40
    assert waits and set(waits) == {1.0}  # each throttled batch waited as Retry-After said
    assert backend.in_flight_limit.active == 0


def test_four_batches_are_in_flight_at_once_each_committed_before_its_request(
    tmp_path: Path, db_url: str, store: Store, servers: list[CountingSendGrid]
) -> None:
    full = threading.Event()  # four requests are on the wire at once
    seen: list[tuple[list[str], dict[int, str]]] = []  # (recipients, batch states) per request
    watcher = open_store(db_url)  # the server's own connection to the ledger

    def answer(number: int, emails: list[str]) -> int:
        states = {b.batch: b.state for b in ledger.batches(watcher, SAMPLE_KEY)}
        with srv.lock:
            seen.append((emails, states))
            if srv.in_flight >= 4:
                full.set()
        full.wait(30)  # the first requests wait for the fourth: an event, not a sleep
        return 202

    srv = CountingSendGrid(answer)
    servers.append(srv)
    readers = add_subscribers(store, {"active": 50})["active"]
    cfg = sample_config(
        tmp_path, db_url, backend="sendgrid", api_host=srv.url, batch_size=5, concurrency=4
    )
    backend = SendGridBackend(cfg, SECRETS)
    try:
        report = run_send(cfg, store, as_of=cfg.fixed_as_of(), backend=backend, clock=lambda: NOW)  # type: ignore[arg-type]
    finally:
        backend.close()
        watcher.dispose()
    assert report.outcome == "sent" and report.sent == 50, report.message
    assert full.is_set() and srv.max_in_flight == 4
    assert srv.received == {r: 1 for r in readers}
    batch_of = _batches_of(store)
    for emails, states in seen:
        (batch,) = {batch_of[e] for e in emails}
        assert states[batch] == "in_flight", (batch, states)
    assert all(b.state == "accepted" for b in ledger.batches(store, SAMPLE_KEY))


# --- a real `digest send` killed with SIGKILL while batches are in flight ---

KILL_BATCH = 20


def _digest(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "send", "--yes", "--json", "--config", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("trial", [1, 2, 3])
def test_a_send_killed_with_batches_in_flight_leaves_at_most_four_in_doubt(
    tmp_path: Path, db_url: str, store: Store, servers: list[CountingSendGrid], trial: int
) -> None:
    rng = random.Random(trial * 7919)
    kill_at = rng.randint(2, 12)  # the request whose arrival is the moment of the kill
    reached = threading.Event()
    release = threading.Event()

    def answer(number: int, emails: list[str]) -> int:
        if number >= kill_at:  # held: on the wire when the sender dies
            reached.set()
            release.wait(30)
        else:
            release.wait(rng.random() * 0.01)  # some latency, so batches overlap
        return 202

    srv = CountingSendGrid(answer)
    servers.append(srv)
    readers = add_subscribers(store, {"active": 300, "unsubscribed": 3})["active"]
    config = tmp_path / "digest.toml"
    text = (EXAMPLES / "digest.toml").read_text()
    text = text.replace('url = "feed.xml"', f'url = "{EXAMPLES / "feed.xml"}"')
    text = text.replace(
        'backend = "file"',
        f'backend = "sendgrid"\napi_host = "{srv.url}"\nbatch_size = {KILL_BATCH}\n'
        "max_retries = 0\ntimeout_seconds = 20\nconcurrency = 4",
    )
    config.write_text(text)
    env = {
        **os.environ, "DIGEST_DATABASE_URL": db_url, "SENDGRID_API_KEY": "SG.kill",
        "DIGEST_SECRET_KEY": "kill-secret-0123456789", "DIGEST_NOW": NOW.isoformat(),
    }  # fmt: skip

    proc = _digest(config, env)
    try:
        assert reached.wait(60), "the send never reached the request of the kill"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    release.set()

    resumed = _digest(config, env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    report = json.loads(out)
    assert report["outcome"] == "resumed"
    in_doubt = report["in_flight_batches"]
    assert 1 <= len(in_doubt) <= 4
    batch_of = _batches_of(store)
    sizes = Counter(batch_of[r] for r in readers)
    for batch in in_doubt:  # each named with its size
        named = re.search(rf"batch {batch} \((\d+) recipients\)", report["message"])
        assert named and int(named.group(1)) == sizes[batch], report["message"]
    assert report["in_flight_at_crash"] == sum(sizes[b] for b in in_doubt)
    # nobody twice; nobody missing but readers of the batches reported in doubt
    assert max(srv.received.values()) == 1
    missing = set(readers) - set(srv.received)
    assert {batch_of[r] for r in missing} <= set(in_doubt)
    assert set(srv.received) <= set(readers)


def test_the_in_flight_limit_halves_on_a_429_once_a_burst_and_grows_back_one_at_a_time() -> None:
    limit = InFlightLimit(8, grow_after=3)
    burst = [limit.acquire() for _ in range(8)]
    for epoch in burst[:6]:  # six 429s of one burst: halved once
        limit.release(epoch, throttled=True)
    assert limit.limit == 4
    limit.release(burst[6], throttled=True)  # still the same burst
    assert limit.limit == 4
    limit.release(burst[7], succeeded=True)
    limit.release(limit.acquire(), throttled=True)  # sent under the new limit: halved again
    assert limit.limit == 2
    for _ in range(2):
        limit.release(limit.acquire(), throttled=True)
    assert limit.limit == 1  # never below 1
    for _ in range(3 * 8):
        limit.release(limit.acquire(), succeeded=True)
    assert limit.limit == 8 and limit.active == 0  # back to the ceiling, never above


def test_by_default_the_limit_grows_by_one_per_window_of_successes() -> None:
    limit = InFlightLimit(4)
    for _ in range(2):
        limit.release(limit.acquire(), throttled=True)
    assert limit.limit == 1
    seen = []
    for _ in range(1 + 2 + 3):  # 1 success at 1, 2 at 2, 3 at 3: one round trip each
        limit.release(limit.acquire(), succeeded=True)
        seen.append(limit.limit)
    assert seen == [2, 2, 3, 3, 3, 4]
    for _ in range(20):
        limit.release(limit.acquire(), succeeded=True)
    assert limit.limit == 4


def test_a_refusal_stops_the_send_after_the_batches_on_the_wire_are_recorded(
    tmp_path: Path, db_url: str, store: Store, servers: list[CountingSendGrid]
) -> None:
    full = threading.Event()

    def answer(number: int, emails: list[str]) -> int:
        with srv.lock:
            if srv.in_flight >= 4:
                full.set()
        full.wait(30)  # four on the wire; then the first is refused, the others accepted
        return 400 if number == 1 else 202

    srv = CountingSendGrid(answer)
    servers.append(srv)
    add_subscribers(store, {"active": 50})
    cfg = sample_config(
        tmp_path, db_url, backend="sendgrid", api_host=srv.url, batch_size=5, concurrency=4
    )
    backend = SendGridBackend(cfg, SECRETS)
    try:
        report = run_send(cfg, store, as_of=cfg.fixed_as_of(), backend=backend, clock=lambda: NOW)  # type: ignore[arg-type]
    finally:
        backend.close()
    assert report.outcome == "failed" and report.exit_code == 1
    assert "refused the request (HTTP 400)" in report.message
    states = Counter(b.state for b in ledger.batches(store, SAMPLE_KEY))
    # the refused batch failed, those beside it accepted and counted, none left in flight;
    # no batch went out after the refusal was read, so some are still queued
    assert states["failed"] == 1 and "in_flight" not in states and states["queued"] >= 1
    assert states["accepted"] == srv.requests - 1 >= 3
    assert report.sent == 5 * states["accepted"] == sum(srv.received.values())
