"""A lost or late answer never sends a batch twice: `digest send` against a local SendGrid
that accepts a batch and then drops the connection, or answers after the client's timeout.
The server counts what it received per recipient across every run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from digest.backends.sendgrid import SendGridBackend
from digest.cli import cli
from digest.config import Secrets
from digest.send import run_send
from digest.store import ledger, records
from digest.store.database import Store, open_store
from tests.delivery_support import NOW, SAMPLE_KEY, add_subscribers, sample_config
from tests.lossy_support import LossySendGrid, sendgrid_config

pytestmark = pytest.mark.postgres  # the ledger's batch split runs on SQLite and PostgreSQL

BATCH = 3
READERS = 15  # five batches


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "lossy-secret-0123456789")


@pytest.fixture
def readers(db_url: str) -> list[str]:
    store = open_store(db_url)
    try:
        return add_subscribers(store, {"active": READERS, "unsubscribed": 2})["active"]
    finally:
        store.dispose()


@pytest.fixture
def servers() -> Iterator[list[LossySendGrid]]:
    made: list[LossySendGrid] = []
    yield made
    for s in made:
        s.close()


def _server(servers: list[LossySendGrid], script: dict[int, str], **kw: Any) -> LossySendGrid:
    srv = LossySendGrid(script, **kw)
    servers.append(srv)
    return srv


def _send(
    tmp_path: Path, db_url: str, srv: LossySendGrid, **delivery: Any
) -> tuple[int, dict[str, Any]]:
    """`digest send --yes --json` through ``srv``: (exit status, the JSON report)."""
    # one batch in flight: the scripts number requests in send order
    settings = {
        "batch_size": BATCH,
        "max_retries": 2,
        "timeout_seconds": 0.5,
        "concurrency": 1,
        **delivery,
    }
    config = sendgrid_config(tmp_path, srv.url, **settings)
    env = {"DIGEST_DATABASE_URL": db_url, "SENDGRID_API_KEY": "SG.lossy", "DIGEST_SECRET_KEY": "lossy-secret-0123456789",
           "DIGEST_NOW": NOW.isoformat()}  # fmt: skip
    result = CliRunner().invoke(cli, ["send", "--yes", "--json", "--config", str(config)], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("loss", ["drop", "late"])
def test_a_batch_whose_answer_is_lost_is_in_doubt_and_nobody_gets_two_copies(
    tmp_path: Path, db_url: str, readers: list[str], servers: list[LossySendGrid], loss: str
) -> None:
    srv = _server(servers, {2: loss})
    status, report = _send(tmp_path, db_url, srv)
    # was: batch 2 retried (its readers got two copies), "sent to 15 recipients", exit 0
    assert srv.received == {r: 1 for r in readers}, srv.received
    assert status == 1, report
    assert report["outcome"] == "failed"
    assert report["in_doubt_batches"] == [2] and report["in_doubt"] == BATCH
    assert "batch 2 (3 recipients)" in report["message"] and "in doubt" in report["message"]
    assert "resend_in_flight" in report["message"]
    assert report["sent"] == READERS - BATCH  # the other batches went out, once each
    assert srv.requests == 5 and srv.received == {r: 1 for r in readers}
    if loss == "late":
        assert srv.late_answered.wait(10)

    # the next send (resend_in_flight not set) reports batch 2 and does not resend it
    status, again = _send(tmp_path, db_url, srv)
    assert status == 0, again
    assert again["outcome"] == "resumed" and again["in_flight_batches"] == [2]
    assert again["in_flight_at_crash"] == BATCH and "not resent" in again["message"]
    assert srv.requests == 5 and max(srv.received.values()) == 1
    status, third = _send(tmp_path, db_url, srv)
    assert (status, third["outcome"]) == (0, "already_sent") and srv.requests == 5


def test_with_resend_in_flight_the_next_send_resends_the_batch_in_doubt(
    tmp_path: Path, db_url: str, readers: list[str], servers: list[LossySendGrid]
) -> None:
    srv = _server(servers, {2: "drop"})
    status, report = _send(tmp_path, db_url, srv)
    assert srv.received == {r: 1 for r in readers}
    assert status == 1 and report["in_doubt_batches"] == [2]
    status, again = _send(tmp_path, db_url, srv, resend_in_flight=True)
    assert status == 0, again
    assert again["outcome"] == "resumed" and again["sent"] == READERS
    assert srv.requests == 6 and srv.batches[-1] == readers[BATCH : 2 * BATCH]  # batch 2, once more
    assert srv.received == {r: 2 if r in readers[BATCH : 2 * BATCH] else 1 for r in readers}


def test_two_batches_in_doubt_in_a_row_stop_the_send_and_the_rest_goes_out_once_later(
    tmp_path: Path, db_url: str, readers: list[str], servers: list[LossySendGrid]
) -> None:
    srv = _server(servers, {2: "drop", 3: "drop"})
    status, report = _send(tmp_path, db_url, srv)
    assert max(srv.received.values()) == 1 and srv.requests == 3  # batches 4 and 5 not put at risk
    assert status == 1 and report["outcome"] == "failed"
    assert report["in_doubt_batches"] == [2, 3] and report["in_doubt"] == 2 * BATCH
    assert (
        "batches 2, 3" in report["message"]
        and "2 batch(es), 6 recipients not sent yet" in report["message"]
    )
    status, again = _send(tmp_path, db_url, srv)
    assert (
        status == 0
        and again["in_flight_batches"] == [2, 3]
        and again["sent"] == READERS - 2 * BATCH
    )
    assert srv.requests == 5 and srv.received == {r: 1 for r in readers}


class Waits(list[float]):
    """The backend's retry waits; the first one opens the server (nothing listened before)."""

    def __init__(self, srv: LossySendGrid):
        super().__init__()
        self.srv = srv

    def __call__(self, seconds: float) -> None:
        if not self:
            self.srv.listen()
        self.append(seconds)


def test_a_refused_connection_and_a_503_are_retried_and_deliver_exactly_once(
    tmp_path: Path, db_url: str, readers: list[str], servers: list[LossySendGrid], store: Store
) -> None:
    srv = _server(servers, {2: "503"}, listening=False)
    cfg = sample_config(
        tmp_path,
        db_url,
        backend="sendgrid",
        api_host=srv.url,
        batch_size=BATCH,
        max_retries=2,
        concurrency=1,
    )
    waits = Waits(srv)
    secrets = Secrets(
        secret_key="lossy-secret-0123456789",
        sendgrid_api_key="SG.x",
        sendgrid_api_host=None,
        smtp_password=None,
    )
    backend = SendGridBackend(cfg, secrets, sleep=waits)
    report = run_send(cfg, store, as_of=cfg.fixed_as_of(), backend=backend, clock=lambda: NOW)  # type: ignore[arg-type]
    assert report.outcome == "sent" and report.exit_code == 0, report.message
    assert len(waits) == 2  # one refused connection, one 503
    assert srv.requests == 6 and srv.received == {r: 1 for r in readers}
    assert report.in_doubt_batches == () and report.sent == READERS
    assert {b.state for b in ledger.batches(store, SAMPLE_KEY)} == {"accepted"}


class StopOnDoubt:
    """A progress hook that asks the send to stop (Ctrl-C) as soon as a batch is in doubt."""

    def __init__(self) -> None:
        self.stop = threading.Event()

    def start(self, **kw: Any) -> None:
        pass

    def batch_done(self, **kw: Any) -> None:
        pass

    def note(self, text: str) -> None:
        if "in doubt" in text:
            self.stop.set()


def test_stopping_after_a_batch_in_doubt_pauses_the_send_and_names_it(
    tmp_path: Path, db_url: str, readers: list[str], servers: list[LossySendGrid], store: Store
) -> None:
    srv = _server(servers, {2: "drop"})
    cfg = sample_config(tmp_path, db_url, backend="sendgrid", api_host=srv.url, batch_size=BATCH,
                        concurrency=1)  # fmt: skip
    secrets = Secrets(
        secret_key="lossy-secret-0123456789",
        sendgrid_api_key="SG.x",
        sendgrid_api_host=None,
        smtp_password=None,
    )
    hook = StopOnDoubt()
    report = run_send(cfg, store, as_of=cfg.fixed_as_of(), backend=SendGridBackend(cfg, secrets), clock=lambda: NOW,  # type: ignore[arg-type]
                      progress=hook, stop=hook.stop)  # fmt: skip
    assert report.outcome == "interrupted" and report.exit_code == 1
    assert (
        report.in_doubt_batches == (2,)
        and "paused" in report.message
        and "is in doubt" in report.message
    )
    assert srv.requests == 2 and records.get_issue(store, SAMPLE_KEY).status == "sending"  # type: ignore[union-attr]
    again = run_send(
        cfg,
        store,
        as_of=cfg.fixed_as_of(),
        backend=SendGridBackend(cfg, secrets),
        clock=lambda: NOW,
    )  # type: ignore[arg-type]
    assert again.outcome == "resumed" and again.in_flight_batches == (2,)
    assert srv.requests == 5 and srv.received == {r: 1 for r in readers}


def test_a_send_with_a_batch_in_doubt_is_not_retried_by_the_scheduler(
    tmp_path: Path, db_url: str, readers: list[str], servers: list[LossySendGrid], store: Store
) -> None:
    # batch 2 in doubt, then batch 3 refused with 503s beyond the retries: a transient failure,
    # which the scheduler would retry at once; with a batch in doubt, an editor decides first
    srv = _server(servers, {2: "drop", 3: "503", 4: "503"})
    cfg = sample_config(
        tmp_path,
        db_url,
        backend="sendgrid",
        api_host=srv.url,
        batch_size=BATCH,
        max_retries=1,
        concurrency=1,
    )
    secrets = Secrets(
        secret_key="lossy-secret-0123456789",
        sendgrid_api_key="SG.x",
        sendgrid_api_host=None,
        smtp_password=None,
    )
    backend = SendGridBackend(cfg, secrets, sleep=lambda s: None)
    report = run_send(cfg, store, as_of=cfg.fixed_as_of(), backend=backend, clock=lambda: NOW)  # type: ignore[arg-type]
    assert report.outcome == "failed" and not report.transient and report.exit_code == 1
    assert "HTTP 503" in report.message and "batch 2 (3 recipients) is in doubt" in report.message
    assert report.in_doubt_batches == (2,) and max(srv.received.values()) == 1
