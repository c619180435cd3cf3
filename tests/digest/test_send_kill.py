"""A real `digest send` process killed with SIGKILL mid-send, then resumed: every active
reader gets the issue exactly once; the batch in flight at the kill is reported, not resent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest.store.database import open_store
from tests.delivery_support import EXAMPLES, NOW, add_subscribers

# runs on SQLite and PostgreSQL; real send processes are slow
pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BATCH = 100


class CountingSendGrid:
    """A local /v3/mail/send that counts recipients; it holds request number ``hold_at``
    open until ``release`` is set, so the sender can be killed while that batch is in flight."""

    def __init__(self, hold_at: int):
        self.received: Counter[str] = Counter()
        self.requests = 0
        self.hold_at = hold_at
        self.holding = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests += 1
                    number = outer.requests
                    for p in body["personalizations"]:
                        for to in p["to"]:
                            outer.received[to["email"]] += 1
                if number == outer.hold_at:
                    outer.holding.set()
                    outer.release.wait(30)
                try:
                    self.send_response(202)
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
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[CountingSendGrid]:
    s = CountingSendGrid(hold_at=3)
    yield s
    s.close()


def _digest(config: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "send", "--yes", "--json", "--config", str(config), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _sendgrid_sample(
    tmp_path: Path, db_url: str, sink: CountingSendGrid, name: str, concurrency: int = 1
) -> tuple[Path, dict[str, str]]:
    """The sample publication sending through ``sink`` in batches of BATCH, no retries, and
    the environment a `digest send` process needs for it."""
    config = tmp_path / "digest.toml"
    text = (EXAMPLES / "digest.toml").read_text()
    text = text.replace('url = "feed.xml"', f'url = "{EXAMPLES / "feed.xml"}"')
    text = text.replace(
        'backend = "file"',
        f'backend = "sendgrid"\napi_host = "{sink.url}"\nbatch_size = {BATCH}\nmax_retries = 0\ntimeout_seconds = 20\nconcurrency = {concurrency}',
    )
    config.write_text(text)
    env = {
        **os.environ, "DIGEST_DATABASE_URL": db_url, "SENDGRID_API_KEY": f"SG.{name}",
        "DIGEST_SECRET_KEY": f"{name}-secret", "DIGEST_NOW": NOW.isoformat(), "COLUMNS": "100",
    }  # fmt: skip
    return config, env


def _add(db_url: str, counts: dict[str, int]) -> dict[str, list[str]]:
    store = open_store(db_url)
    try:
        return add_subscribers(store, counts)
    finally:
        store.dispose()


def test_killed_send_resumes_and_nobody_gets_it_twice(
    tmp_path: Path, db_url: str, sink: CountingSendGrid
) -> None:
    config, env = _sendgrid_sample(tmp_path, db_url, sink, "kill-test")
    people = _add(db_url, {"active": 450, "pending": 5, "unsubscribed": 5, "bounced": 5})

    proc = _digest(config, env)
    try:
        assert sink.holding.wait(60), "the send never reached its third batch"
        proc.send_signal(signal.SIGKILL)  # batch 3 is in flight: posted, no answer yet
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    sink.release.set()
    assert sum(sink.received.values()) == 3 * BATCH

    resumed = _digest(config, env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    report = json.loads(out)
    assert report["outcome"] == "resumed"
    assert report["in_flight_batches"] == [3] and report["in_flight_at_crash"] == BATCH
    assert "batch 3" in report["message"]

    # every active reader exactly once; the in-flight batch went out once (before the kill)
    assert set(sink.received) == set(people["active"])
    assert max(sink.received.values()) == 1
    assert sink.requests == 5  # 3 before the kill, batches 4 and 5 after

    again = _digest(config, env)
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0 and json.loads(out)["outcome"] == "already_sent"
    assert sink.requests == 5


def test_sigint_finishes_the_batch_in_flight_exits_1_and_the_rerun_sends_the_rest(
    tmp_path: Path, db_url: str, sink: CountingSendGrid
) -> None:
    config, env = _sendgrid_sample(tmp_path, db_url, sink, "sigint-test")
    people = _add(db_url, {"active": 450})

    proc = _digest(config, env)
    try:
        assert sink.holding.wait(60), "the send never reached its third batch"
        proc.send_signal(signal.SIGINT)  # Ctrl-C while batch 3 is on the wire
        sink.release.set()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the batch in progress finished and was recorded; the send stopped there, not a success
    assert proc.returncode == 1, err
    report = json.loads(out)
    assert report["outcome"] == "interrupted" and report["sent"] == 3 * BATCH
    assert sink.requests == 3

    resumed = _digest(config, env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    report = json.loads(out)
    assert report["outcome"] == "resumed" and report["in_flight_batches"] == []
    assert sink.requests == 5
    assert set(sink.received) == set(people["active"]) and max(sink.received.values()) == 1
