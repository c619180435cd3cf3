"""The SendGrid backend against local servers: payload shape, retries, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from digest.backends import get_backend
from digest.backends.base import Message, Recipient, unsubscribe_headers
from digest.backends.sendgrid import SendGridBackend, build_payload, validate_payload
from digest.config import Config, Secrets
from digest.errors import (
    DeliveryConfigError,
    DeliveryInDoubtError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from tests.delivery_support import sample_config
from tests.lossy_support import LossySendGrid

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
SECRETS = Secrets(
    secret_key="test-secret-0123456789",
    sendgrid_api_key="SG.test-key",
    sendgrid_api_host=None,
    smtp_password=None,
)
MESSAGE = Message(
    subject="Lead story | Statecraft Weekly",
    html=f'<p>Hello</p><a href="{UNSUBSCRIBE_PLACEHOLDER}">Unsubscribe</a>',
    text=f"Hello\nUnsubscribe: {UNSUBSCRIBE_PLACEHOLDER}",
    from_email="newsletter@statecraft.example",
    from_name="Statecraft Weekly",
    reply_to="editors@statecraft.example",
    categories=("digest",),
    custom_args={"issue": "2026-W47"},
)


def _recipients(n: int) -> list[Recipient]:
    out = []
    for i in range(n):
        url = f"http://127.0.0.1:8000/unsubscribe/token-{i}"
        out.append(Recipient(email=f"reader-{i}@example.com", name=f"Reader {i}" if i % 2 else None,
                             substitutions={UNSUBSCRIBE_PLACEHOLDER: url}, headers=unsubscribe_headers(url)))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def _server() -> Iterator[HTTPServer]:
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)  # threaded: a hang blocks no one
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def server(_server: HTTPServer) -> Iterator[HTTPServer]:
    _server.clear()
    yield _server
    _server.clear()


def _config(tmp_path: Path, host: str, **delivery: Any) -> Config:
    return sample_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", backend="sendgrid", api_host=host,
                         timeout_seconds=delivery.pop("timeout_seconds", 2.0), **delivery)  # fmt: skip


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _backend(tmp_path: Path, host: str, sleeps: Sleeps, **delivery: Any) -> SendGridBackend:
    backend = get_backend(
        _config(tmp_path, host, **delivery), SECRETS, sleep=sleeps, clock=lambda: NOW
    )
    assert isinstance(backend, SendGridBackend)
    return backend


def test_one_request_carries_every_personalization(tmp_path: Path, server: HTTPServer) -> None:
    server.expect_oneshot_request("/v3/mail/send", method="POST").respond_with_response(
        Response(status=202, headers={"X-Message-Id": "abc123"})
    )
    backend = _backend(tmp_path, server.url_for("").rstrip("/"), Sleeps())
    result = backend.send_batch(MESSAGE, _recipients(3))
    assert (result.accepted, result.provider_id, result.attempts) == (3, "abc123", 1)
    [(request, _)] = server.log
    assert request.headers["Authorization"] == "Bearer SG.test-key"
    body = json.loads(request.get_data())
    assert body["subject"] == MESSAGE.subject
    assert body["from"] == {"email": "newsletter@statecraft.example", "name": "Statecraft Weekly"}
    assert body["reply_to"] == {"email": "editors@statecraft.example"}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert UNSUBSCRIBE_PLACEHOLDER in body["content"][1]["value"]  # one HTML for all
    assert "custom_args" not in body and body["categories"] == ["digest"]
    assert "mail_settings" not in body
    assert len(body["personalizations"]) == 3
    for i, p in enumerate(body["personalizations"]):
        url = f"http://127.0.0.1:8000/unsubscribe/token-{i}"
        assert p["to"][0]["email"] == f"reader-{i}@example.com"
        assert p["substitutions"] == {UNSUBSCRIBE_PLACEHOLDER: url}
        assert p["custom_args"] == {"issue": "2026-W47"}  # the webhook maps events to the issue
        assert p["headers"] == {
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }


def test_sandbox_mode_is_sent_when_configured(tmp_path: Path, server: HTTPServer) -> None:
    server.expect_oneshot_request("/v3/mail/send").respond_with_data("", status=202)
    backend = _backend(tmp_path, server.url_for("").rstrip("/"), Sleeps(), sandbox_mode=True)
    backend.send_batch(MESSAGE, _recipients(1))
    body = json.loads(server.log[0][0].get_data())
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert "sandbox" in backend.describe()


def test_429_waits_until_the_rate_limit_reset_then_sends(
    tmp_path: Path, server: HTTPServer
) -> None:
    reset = int(NOW.timestamp()) + 12
    server.expect_ordered_request("/v3/mail/send").respond_with_json(
        {"errors": [{"message": "too many requests"}]},
        status=429,
        headers={"X-RateLimit-Reset": str(reset)},
    )
    server.expect_ordered_request("/v3/mail/send").respond_with_data("", status=202)
    sleeps = Sleeps()
    result = _backend(tmp_path, server.url_for("").rstrip("/"), sleeps).send_batch(
        MESSAGE, _recipients(2)
    )
    assert result.accepted == 2 and result.attempts == 2
    assert sleeps == [12.0]
    assert len(server.log) == 2


def test_429_honours_retry_after(tmp_path: Path, server: HTTPServer) -> None:
    server.expect_ordered_request("/v3/mail/send").respond_with_data(
        "", status=429, headers={"Retry-After": "7"}
    )
    server.expect_ordered_request("/v3/mail/send").respond_with_data("", status=202)
    sleeps = Sleeps()
    _backend(tmp_path, server.url_for("").rstrip("/"), sleeps).send_batch(MESSAGE, _recipients(1))
    assert sleeps == [7.0]


@pytest.mark.parametrize("headers", [
    {"X-RateLimit-Reset": str(int(NOW.timestamp()) - 3600)},  # already past (a skewed clock)
    {"X-RateLimit-Reset": "soon"},
    {"Retry-After": "0"},
    {"Retry-After": "nan"},
])  # fmt: skip
def test_429_with_a_past_or_garbage_reset_backs_off_instead_of_retrying_at_once(
    tmp_path: Path, server: HTTPServer, headers: dict[str, str]
) -> None:
    server.expect_ordered_request("/v3/mail/send").respond_with_data(
        "", status=429, headers=headers
    )
    server.expect_ordered_request("/v3/mail/send").respond_with_data(
        "", status=429, headers=headers
    )
    server.expect_ordered_request("/v3/mail/send").respond_with_data("", status=202)
    sleeps = Sleeps()
    _backend(tmp_path, server.url_for("").rstrip("/"), sleeps).send_batch(MESSAGE, _recipients(1))
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # the exponential backoff, not 0 s


def test_5xx_is_retried_with_backoff_and_jitter(tmp_path: Path, server: HTTPServer) -> None:
    for _ in range(3):
        server.expect_ordered_request("/v3/mail/send").respond_with_data("oops", status=500)
    server.expect_ordered_request("/v3/mail/send").respond_with_data("", status=202)
    sleeps = Sleeps()
    result = _backend(tmp_path, server.url_for("").rstrip("/"), sleeps).send_batch(
        MESSAGE, _recipients(1)
    )
    assert result.attempts == 4
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps, start=1):
        base = 2.0 ** (attempt - 1)
        assert base / 2 <= wait <= base  # exponential, jittered


def test_retries_are_bounded_and_the_error_says_so(tmp_path: Path, server: HTTPServer) -> None:
    server.expect_request("/v3/mail/send").respond_with_data("unavailable", status=503)
    sleeps = Sleeps()
    with pytest.raises(TransientDeliveryError, match="gave up after 3 attempts.*HTTP 503"):
        _backend(tmp_path, server.url_for("").rstrip("/"), sleeps, max_retries=2).send_batch(
            MESSAGE, _recipients(1)
        )
    assert len(server.log) == 3 and len(sleeps) == 2


@pytest.mark.parametrize("loss", ["late", "drop"])
def test_a_request_whose_answer_is_lost_is_in_doubt_and_never_retried(
    tmp_path: Path, loss: str
) -> None:
    srv = LossySendGrid({1: loss})  # takes the batch, then answers after the timeout, or never
    try:
        sleeps = Sleeps()
        backend = _backend(tmp_path, srv.url, sleeps, timeout_seconds=0.3)
        # was: retried, so SendGrid got the batch twice and everyone in it two copies
        with pytest.raises(DeliveryInDoubtError, match="after the request was sent") as info:
            backend.send_batch(MESSAGE, _recipients(2))
        assert srv.requests == 1 and sleeps == []
        assert srv.received == {"reader-0@example.com": 1, "reader-1@example.com": 1}
        if loss == "late":
            assert "did not answer within 0.3 s" in str(info.value)
            assert srv.late_answered.wait(10)  # the answer came, to nobody
        else:
            assert "connection to SendGrid was lost" in str(info.value)
    finally:
        srv.close()


def test_a_lost_answer_after_a_503_is_in_doubt_too(tmp_path: Path) -> None:
    srv = LossySendGrid({1: "503", 2: "drop"})
    try:
        sleeps = Sleeps()
        with pytest.raises(DeliveryInDoubtError, match=r"\(attempt 2\)"):
            _backend(tmp_path, srv.url, sleeps).send_batch(MESSAGE, _recipients(1))
        assert (
            srv.requests == 2 and len(sleeps) == 1 and srv.received == {"reader-0@example.com": 1}
        )
    finally:
        srv.close()


def test_a_refused_connection_is_retried(tmp_path: Path) -> None:
    srv = LossySendGrid(listening=False)  # nothing listens yet: the request never leaves

    class ListenOnRetry(Sleeps):
        def __call__(self, seconds: float) -> None:
            super().__call__(seconds)
            srv.listen()

    try:
        sleeps = ListenOnRetry()
        result = _backend(tmp_path, srv.url, sleeps).send_batch(MESSAGE, _recipients(2))
        assert result.accepted == 2 and result.attempts == 2 and len(sleeps) == 1
        assert srv.requests == 1 and srv.received == {
            "reader-0@example.com": 1,
            "reader-1@example.com": 1,
        }
    finally:
        srv.close()


def test_a_server_that_never_listens_ends_in_a_clear_connect_error(tmp_path: Path) -> None:
    srv = LossySendGrid(listening=False)
    try:
        with pytest.raises(
            TransientDeliveryError, match="gave up after 2 attempts: cannot connect to SendGrid"
        ):
            _backend(tmp_path, srv.url, Sleeps(), max_retries=1).send_batch(MESSAGE, _recipients(1))
    finally:
        srv.close()


def test_a_400_stops_with_sendgrids_own_message_and_no_retry(
    tmp_path: Path, server: HTTPServer
) -> None:
    server.expect_request("/v3/mail/send").respond_with_json(
        {
            "errors": [
                {
                    "message": "The from address does not match a verified Sender Identity.",
                    "field": "from",
                    "help": None,
                }
            ]
        },
        status=400,
    )
    sleeps = Sleeps()
    with pytest.raises(PermanentDeliveryError) as info:
        _backend(tmp_path, server.url_for("").rstrip("/"), sleeps).send_batch(
            MESSAGE, _recipients(1)
        )
    assert "HTTP 400" in str(info.value)
    assert "does not match a verified Sender Identity. (field: from)" in str(info.value)
    assert info.value.status == 400
    assert len(server.log) == 1 and sleeps == []


def test_a_401_points_at_the_api_key(tmp_path: Path, server: HTTPServer) -> None:
    server.expect_request("/v3/mail/send").respond_with_json(
        {
            "errors": [
                {
                    "message": "The provided authorization grant is invalid, expired, or revoked",
                    "field": None,
                }
            ]
        },
        status=401,
    )
    with pytest.raises(
        PermanentDeliveryError,
        match=r"HTTP 401\) \(check SENDGRID_API_KEY\): The provided authorization grant",
    ):
        _backend(tmp_path, server.url_for("").rstrip("/"), Sleeps()).send_batch(
            MESSAGE, _recipients(1)
        )


def test_missing_api_key_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "http://127.0.0.1:9")
    no_key = Secrets(
        secret_key="test-secret-0123456789",
        sendgrid_api_key=None,
        sendgrid_api_host=None,
        smtp_password=None,
    )
    with pytest.raises(DeliveryConfigError, match="SENDGRID_API_KEY") as info:
        get_backend(cfg, no_key)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("setting", "value"), [("timeout_seconds", 0), ("timeout_seconds", -1), ("max_retries", -1)]
)
def test_a_timeout_or_retry_count_that_cannot_work_is_a_config_error(
    tmp_path: Path, setting: str, value: float
) -> None:
    from digest.errors import ConfigError

    # a timeout of 0 used to time every request out at once, reported as "SendGrid did not answer"
    with pytest.raises(ConfigError, match=rf"\[delivery.{setting}\] must be"):
        _config(tmp_path, "http://127.0.0.1:1", **{setting: value})


def test_api_host_comes_from_the_environment_when_not_configured(tmp_path: Path) -> None:
    cfg = sample_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", backend="sendgrid")
    env = Secrets.from_env(
        {"SENDGRID_API_KEY": "SG.x", "SENDGRID_API_HOST": "http://127.0.0.1:4010"}
    )
    backend = get_backend(cfg, env)
    assert (
        isinstance(backend, SendGridBackend) and backend.url == "http://127.0.0.1:4010/v3/mail/send"
    )
    default = get_backend(cfg, Secrets.from_env({"SENDGRID_API_KEY": "SG.x"}))
    assert default.url == "https://api.sendgrid.com/v3/mail/send"  # type: ignore[attr-defined]
    bad = Secrets.from_env({"SENDGRID_API_KEY": "SG.x", "SENDGRID_API_HOST": "api.sendgrid.com"})
    with pytest.raises(DeliveryConfigError, match="SENDGRID_API_HOST must be an http"):
        get_backend(cfg, bad)


# --- what SendGrid's spec misses, checked before anything is sent -------------------------


def _payload(**changes: Any) -> dict[str, Any]:
    payload = build_payload(MESSAGE, _recipients(2))
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (_payload(personalizations=[]), "personalizations is empty"),
        (_payload(personalizations=[{"to": []}]), r"personalizations\[0\].to is empty"),
        (
            _payload(
                personalizations=[{"to": [{"email": "a@example.com"}], "headers": {"X-Count": 3}}]
            ),
            r"personalizations\[0\].headers\['X-Count'\] must be a string",
        ),
        (
            _payload(
                personalizations=[
                    {"to": [{"email": "a@example.com"}], "substitutions": {"%%x%%": None}}
                ]
            ),
            "must be a string",
        ),
        (
            _payload(personalizations=[{"to": [{"email": "a@example.com"}]}] * 1001),
            "1001 personalizations",
        ),
        (_payload(subject=""), "subject is empty"),
        (_payload(unknown_field=1), "unknown field"),
        (_payload(headers={"X-Issue": 47}), r"headers\['X-Issue'\] must be a string"),
        (_payload(custom_args={"issue": "2026-W47"}), "top-level custom_args must be a string"),
        (_payload(personalizations=[{"to": [{"email": "not-an-address"}]}]), "bad address"),
    ],
)
def test_payloads_the_spec_accepts_but_sendgrid_refuses_are_caught_locally(
    payload: dict[str, Any], problem: str
) -> None:
    with pytest.raises(PermanentDeliveryError, match=problem):
        validate_payload(payload)


def test_a_valid_payload_passes_and_an_empty_batch_is_never_posted(tmp_path: Path) -> None:
    validate_payload(_payload())
    sleeps = Sleeps()
    backend = _backend(
        tmp_path, "http://127.0.0.1:9", sleeps
    )  # nothing listens: a post would fail to connect
    with pytest.raises(PermanentDeliveryError, match="personalizations is empty"):
        backend.send_batch(MESSAGE, [])
    assert sleeps == []
