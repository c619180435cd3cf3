"""Contract tests: every request digest sends is valid under SendGrid's published spec,
checked by Prism serving SendGrid's published spec (tests/data/sendgrid/), which these
tests start and stop themselves (tests/prism_support.py)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from digest.backends.base import Message, Recipient
from digest.backends.sendgrid import SendGridBackend
from digest.config import Secrets
from digest.errors import PermanentDeliveryError
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from digest.send import run_send
from digest.store.database import Store
from digest.tokens import Tokens
from tests.delivery_support import add_subscribers, sample_config
from tests.prism_support import Prism

pytestmark = [pytest.mark.contract, pytest.mark.slow]

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
SECRETS = Secrets(
    secret_key="contract-secret-0123456789",
    sendgrid_api_key="SG.contract",
    sendgrid_api_host=None,
    smtp_password=None,
)


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    """Prism serving SendGrid's spec: ours (tests/prism_support.py), or the one named by
    DIGEST_SENDGRID_MOCK_URL."""
    url = os.environ.get("DIGEST_SENDGRID_MOCK_URL")
    if url:
        yield url.rstrip("/")
        return
    prism = Prism()
    try:
        yield prism.url
    finally:
        prism.stop()


class Capture:
    """An httpx client that keeps what it sent and what it got back."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[dict[str, Any], int, str]] = []
        self.client = httpx.Client(event_hooks={"response": [self._keep]})

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.exchanges.append(
            (
                json.loads(response.request.content),
                response.status_code,
                response.headers.get("sl-violations", ""),
            )
        )


def test_a_send_to_n_subscribers_is_ceil_n_over_1000_valid_requests(
    tmp_path: Path,
    sqlite_store: Store,
    sqlite_url: str,
    mock_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = sample_config(
        tmp_path, sqlite_url, backend="sendgrid", api_host=mock_url, batch_size=1000, max_retries=0
    )
    people = add_subscribers(
        sqlite_store,
        {"active": 2345, "pending": 20, "unsubscribed": 20, "bounced": 20, "complained": 5},
    )
    capture = Capture()
    backend = SendGridBackend(cfg, SECRETS, client=capture.client)
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRETS.secret_key or "")
    report = run_send(
        cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=backend, clock=lambda: NOW
    )  # type: ignore[arg-type]
    assert report.outcome == "sent", report.message
    assert len(capture.exchanges) == math.ceil(2345 / 1000) == 3
    assert [status for _, status, _ in capture.exchanges] == [202, 202, 202], [
        v for *_, v in capture.exchanges
    ]

    tokens = Tokens(SECRETS.secret_key or "")
    seen: list[str] = []
    urls: set[str] = set()
    for body, _, _ in capture.exchanges:
        assert UNSUBSCRIBE_PLACEHOLDER in body["content"][1]["value"]
        for p in body["personalizations"]:
            [to] = p["to"]
            seen.append(to["email"])
            url = p["substitutions"][UNSUBSCRIBE_PLACEHOLDER]
            assert p["headers"]["List-Unsubscribe"] == f"<{url}>"
            assert p["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert p["custom_args"] == {"issue": "2026-W47"}
            assert tokens.read_unsubscribe(url.rsplit("/", 1)[1]) > 0
            urls.add(url)
    assert sorted(seen) == sorted(people["active"])  # every active reader exactly once
    assert len(urls) == 2345  # each with their own link
    absent = set(
        people["pending"] + people["unsubscribed"] + people["bounced"] + people["complained"]
    )
    assert absent.isdisjoint(seen)


def test_the_mock_is_strict_and_its_violations_reach_the_editor(
    tmp_path: Path, mock_url: str
) -> None:
    cfg = sample_config(
        tmp_path,
        f"sqlite:///{tmp_path / 'd.db'}",
        backend="sendgrid",
        api_host=mock_url,
        max_retries=0,
    )
    backend = SendGridBackend(cfg, SECRETS)
    message = Message(
        subject="s", html="<p>h</p>", text="t", from_email="newsletter@statecraft.example"
    )
    good = backend.send_batch(message, [Recipient(email="reader@example.com")])
    assert good.accepted == 1
    bad = json.loads(backend.build_payload(message, [Recipient(email="reader@example.com")]))
    del bad["from"]
    with pytest.raises(PermanentDeliveryError, match="HTTP 400.*from"):
        backend.post(json.dumps(bad).encode())


def test_unusual_names_plus_signs_and_idn_domains_are_valid_requests(
    tmp_path: Path, mock_url: str
) -> None:
    cfg = sample_config(
        tmp_path,
        f"sqlite:///{tmp_path / 'd.db'}",
        backend="sendgrid",
        api_host=mock_url,
        max_retries=0,
    )
    capture = Capture()
    backend = SendGridBackend(cfg, SECRETS, client=capture.client)
    message = Message(
        subject="s", html="<p>h</p>", text="t", from_email="newsletter@statecraft.example"
    )
    people = [
        Recipient(
            email="idn@bücher.example", name="IDN Reader"
        ),  # one such reader refused the whole batch
        Recipient(email="plus+tag@example.com", name='Ann "The Boss" O\'Neil'),
        Recipient(email="comma@example.com", name="Doe, John"),
        Recipient(email="uni@example.com", name="Zoë Łukasz 李小龍 🎉"),
        Recipient(email="long@example.com", name="L" * 400),
    ]
    assert backend.send_batch(message, people).accepted == 5
    [(body, status, violations)] = capture.exchanges
    assert status == 202, violations
    emails = [p["to"][0]["email"] for p in body["personalizations"]]
    assert emails == ["idn@xn--bcher-kva.example", "plus+tag@example.com", "comma@example.com",
                      "uni@example.com", "long@example.com"]  # fmt: skip
    assert body["personalizations"][1]["to"][0]["name"] == 'Ann "The Boss" O\'Neil'


def test_a_non_ascii_local_part_is_left_out_so_the_batch_is_still_valid(
    tmp_path: Path, mock_url: str
) -> None:
    # SendGrid (and its spec) refuse it, and one such reader used to fail the whole batch
    cfg = sample_config(
        tmp_path,
        f"sqlite:///{tmp_path / 'd.db'}",
        backend="sendgrid",
        api_host=mock_url,
        max_retries=0,
    )
    capture = Capture()
    backend = SendGridBackend(cfg, SECRETS, client=capture.client)
    message = Message(
        subject="s", html="<p>h</p>", text="t", from_email="newsletter@statecraft.example"
    )
    people = [
        Recipient(email="ann@example.com"),
        Recipient(email="jörg@example.com"),
        Recipient(email="zed@example.com"),
    ]
    result = backend.send_batch(message, people)
    assert (result.accepted, result.rejected) == (2, ("jörg@example.com",))
    [(body, status, violations)] = capture.exchanges
    assert status == 202, violations
    assert [p["to"][0]["email"] for p in body["personalizations"]] == [
        "ann@example.com",
        "zed@example.com",
    ]
    assert backend.send_batch(message, [Recipient(email="jörg@example.com")]).accepted == 0
    assert len(capture.exchanges) == 1  # nothing left to post
