"""The SMTP backend against a real local SMTP server (aiosmtpd): plain, STARTTLS, TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from digest.backends import get_backend
from digest.backends.base import Message, Recipient, unsubscribe_headers
from digest.backends.smtp import SMTPBackend
from digest.config import Secrets
from digest.errors import DeliveryConfigError, PermanentDeliveryError
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from tests.delivery_support import sample_config

MESSAGE = Message(
    subject="Lead story | Statecraft Weekly",
    html=f'<p>Hello</p><a href="{UNSUBSCRIBE_PLACEHOLDER}">Unsubscribe</a>',
    text=f"Hello\nUnsubscribe: {UNSUBSCRIBE_PLACEHOLDER}",
    from_email="newsletter@statecraft.example",
    from_name="Statecraft Weekly",
    reply_to="editors@statecraft.example",
)


def _recipients(n: int) -> list[Recipient]:
    out = []
    for i in range(n):
        url = f"http://127.0.0.1:8000/unsubscribe/token-{i}"
        out.append(Recipient(email=f"reader-{i}@example.com", substitutions={UNSUBSCRIBE_PLACEHOLDER: url},
                             headers=unsubscribe_headers(url)))  # fmt: skip
    return out


class Inbox:
    """aiosmtpd handler: keeps messages; can refuse an address or fail DATA once. The lost
    answers: ``lose_answer_for`` takes that address's message and then drops the connection
    without replying ("drop") or replies only once the client has reconnected, having given
    up waiting ("late"); ``drop_at_rcpt`` drops the connection at that RCPT (before any
    data) ``drops`` times."""

    def __init__(self, refuse: str | None = None, fail_data_once_for: str | None = None, *,
                 lose_answer_for: str | None = None, loss: str = "drop",
                 drop_at_rcpt: str | None = None, drops: int = 1):  # fmt: skip
        self.messages: list[tuple[list[str], bytes]] = []
        self.sessions = 0
        self.refuse, self.fail_data_once_for = refuse, fail_data_once_for
        self.lose_answer_for, self.loss = lose_answer_for, loss
        self.drop_at_rcpt, self.drops = drop_at_rcpt, drops
        self.reconnected: asyncio.Event | None = None

    @property
    def received(self) -> Counter[str]:
        return Counter(rcpt for rcpts, _ in self.messages for rcpt in rcpts)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.sessions += 1
        if self.reconnected is not None:
            self.reconnected.set()
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address == self.refuse:
            return "550 5.1.1 no such mailbox"
        if address == self.drop_at_rcpt and self.drops > 0:
            self.drops -= 1
            assert server.transport is not None
            server.transport.close()  # the connection drops before the message's data
            return "250 OK"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.fail_data_once_for in envelope.rcpt_tos:
            self.fail_data_once_for = None
            return "421 4.3.0 try again later"
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or b""))
        if self.lose_answer_for in envelope.rcpt_tos:
            self.lose_answer_for = None
            if self.loss == "late":  # answer once the client gave up and came back
                self.reconnected = asyncio.Event()
                await self.reconnected.wait()
            else:
                assert server.transport is not None
                server.transport.close()  # taken, and the connection lost before the reply
        return "250 Message accepted"


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"editor"
        and auth_data.password == b"s3cret"
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtpd() -> Iterator[Any]:
    controllers: list[Controller] = []

    def start(handler: Inbox, **kwargs: Any) -> int:
        with socket.socket() as probe:  # aiosmtpd's Controller needs a concrete port
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        c = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        c.start()
        controllers.append(c)
        return port

    yield start
    for c in controllers:
        c.stop()


def _backend(
    tmp_path: Path, port: int, password: str | None = None, **delivery: Any
) -> SMTPBackend:
    cfg = sample_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", backend="smtp", host="127.0.0.1", port=port,
                        timeout_seconds=delivery.pop("timeout_seconds", 5.0), **delivery)  # fmt: skip
    secrets = Secrets(
        secret_key="test-secret-0123456789",
        sendgrid_api_key=None,
        sendgrid_api_host=None,
        smtp_password=password,
    )
    options: dict[str, Any] = {"sleep": lambda s: None}
    if (tmp_path / "cert.pem").exists():
        options["ssl_context"] = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    backend = get_backend(cfg, secrets, **options)
    assert isinstance(backend, SMTPBackend)
    return backend


def _parse(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_plain_smtp_delivers_each_recipient_their_own_message_on_one_connection(
    tmp_path: Path, smtpd: Any
) -> None:
    inbox = Inbox()
    port = smtpd(inbox)
    result = _backend(tmp_path, port, starttls=False).send_batch(MESSAGE, _recipients(3))
    assert result.accepted == 3 and result.rejected == ()
    assert inbox.sessions == 1
    assert [rcpts for rcpts, _ in inbox.messages] == [[f"reader-{i}@example.com"] for i in range(3)]
    for i, (_, raw) in enumerate(inbox.messages):
        msg = _parse(raw)
        url = f"http://127.0.0.1:8000/unsubscribe/token-{i}"
        assert msg["To"] == f"reader-{i}@example.com" and msg["Subject"] == MESSAGE.subject
        assert msg["List-Unsubscribe"] == f"<{url}>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert url in msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert f'href="{url}"' in msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]


def test_an_idn_domain_is_delivered_to_its_ascii_form(tmp_path: Path, smtpd: Any) -> None:
    inbox = Inbox()
    port = smtpd(inbox)
    [reader] = _recipients(1)
    reader.email = "leser@bücher.example"
    result = _backend(tmp_path, port, starttls=False).send_batch(MESSAGE, [reader])
    assert result.accepted == 1 and result.rejected == ()
    [(rcpts, raw)] = inbox.messages
    assert rcpts == ["leser@xn--bcher-kva.example"]
    assert _parse(raw)["To"] == "leser@xn--bcher-kva.example"


def test_a_non_ascii_local_part_is_refused_alone(tmp_path: Path, smtpd: Any) -> None:
    inbox = Inbox()
    port = smtpd(inbox)
    first, eai, last = _recipients(3)
    eai.email = "jörg@example.com"
    result = _backend(tmp_path, port, starttls=False).send_batch(MESSAGE, [first, eai, last])
    assert (result.accepted, result.rejected) == (2, ("jörg@example.com",))
    assert [rcpts for rcpts, _ in inbox.messages] == [
        ["reader-0@example.com"],
        ["reader-2@example.com"],
    ]


def test_starttls_with_login(tmp_path: Path, smtpd: Any) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox = Inbox()
    port = smtpd(
        inbox,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    )
    backend = _backend(tmp_path, port, password="s3cret", username="editor")
    assert "STARTTLS" in backend.describe()
    assert backend.send_batch(MESSAGE, _recipients(2)).accepted == 2
    assert len(inbox.messages) == 2


def test_implicit_tls(tmp_path: Path, smtpd: Any) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox = Inbox()
    port = smtpd(inbox, ssl_context=server_tls)
    backend = _backend(tmp_path, port, ssl=True)
    assert "implicit TLS" in backend.describe()
    assert backend.send_batch(MESSAGE, _recipients(1)).accepted == 1
    assert len(inbox.messages) == 1


def test_a_wrong_password_names_the_setting(tmp_path: Path, smtpd: Any) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    port = smtpd(
        Inbox(),
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    )
    with pytest.raises(PermanentDeliveryError, match="DIGEST_SMTP_PASSWORD"):
        _backend(tmp_path, port, password="wrong", username="editor").send_batch(
            MESSAGE, _recipients(1)
        )


def test_a_refused_address_is_reported_and_the_rest_still_go(tmp_path: Path, smtpd: Any) -> None:
    inbox = Inbox(refuse="reader-1@example.com")
    port = smtpd(inbox)
    result = _backend(tmp_path, port, starttls=False).send_batch(MESSAGE, _recipients(3))
    assert result.accepted == 2 and result.rejected == ("reader-1@example.com",)
    assert [r for r, _ in inbox.messages] == [["reader-0@example.com"], ["reader-2@example.com"]]


def test_a_temporary_failure_mid_batch_reconnects_without_duplicates(
    tmp_path: Path, smtpd: Any
) -> None:
    inbox = Inbox(fail_data_once_for="reader-1@example.com")
    port = smtpd(inbox)
    result = _backend(tmp_path, port, starttls=False).send_batch(MESSAGE, _recipients(3))
    assert result.accepted == 3 and result.attempts == 2
    assert [r for r, _ in inbox.messages] == [[f"reader-{i}@example.com"] for i in range(3)]
    assert inbox.sessions == 2


def test_configuration_problems_name_the_setting(tmp_path: Path) -> None:
    cfg = sample_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", backend="smtp")
    none = Secrets(
        secret_key="test-secret-0123456789",
        sendgrid_api_key=None,
        sendgrid_api_host=None,
        smtp_password=None,
    )
    with pytest.raises(DeliveryConfigError, match=r"\[delivery.host\]"):
        get_backend(cfg, none)
    cfg = sample_config(
        tmp_path,
        f"sqlite:///{tmp_path / 'd.db'}",
        backend="smtp",
        host="127.0.0.1",
        username="editor",
    )
    with pytest.raises(DeliveryConfigError, match="DIGEST_SMTP_PASSWORD"):
        get_backend(cfg, none)


def test_an_unreachable_server_is_a_clear_transient_error(tmp_path: Path) -> None:
    from digest.errors import TransientDeliveryError

    backend = _backend(tmp_path, 9, starttls=False, max_retries=1)  # nothing listens on port 9
    with pytest.raises(TransientDeliveryError, match="cannot reach the SMTP server 127.0.0.1:9"):
        backend.send_batch(MESSAGE, _recipients(1))


# --- a lost answer never sends twice -----------------------------------------------------------


@pytest.mark.parametrize("loss", ["drop", "late"])
def test_a_message_whose_reply_is_lost_is_in_doubt_not_resent_and_the_rest_go(
    tmp_path: Path, smtpd: Any, loss: str
) -> None:
    inbox = Inbox(lose_answer_for="reader-1@example.com", loss=loss)
    port = smtpd(inbox)
    backend = _backend(tmp_path, port, starttls=False, timeout_seconds=0.5)
    result = backend.send_batch(MESSAGE, _recipients(3))
    # was: reader-1's message sent again on the new connection, two copies
    assert inbox.received == {f"reader-{i}@example.com": 1 for i in range(3)}
    assert (
        result.in_doubt == ("reader-1@example.com",)
        and "before the server confirmed it" in result.in_doubt_reason
    )
    assert result.accepted == 2 and result.unsent == () and result.stopped_by is None
    assert inbox.sessions == 2


def test_a_connection_dropped_before_the_data_is_retried_and_delivers_once(
    tmp_path: Path, smtpd: Any
) -> None:
    inbox = Inbox(drop_at_rcpt="reader-1@example.com")
    port = smtpd(inbox)
    result = _backend(tmp_path, port, starttls=False).send_batch(MESSAGE, _recipients(3))
    assert result.accepted == 3 and result.in_doubt == () and result.attempts == 2
    assert inbox.received == {f"reader-{i}@example.com": 1 for i in range(3)}


def test_a_server_not_listening_yet_is_retried_and_delivers_once(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    inbox, started = Inbox(), list[Controller]()

    def start_listening(seconds: float) -> None:  # the backend's wait before its retry
        if not started:
            started.append(Controller(inbox, hostname="127.0.0.1", port=port))
            started[0].start()

    cfg = sample_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", backend="smtp", host="127.0.0.1",
                        port=port, starttls=False)  # fmt: skip
    backend = get_backend(cfg, Secrets.from_env({}), sleep=start_listening)
    try:
        result = backend.send_batch(MESSAGE, _recipients(2))
    finally:
        for c in started:
            c.stop()
    assert result.accepted == 2 and result.attempts == 2 and len(started) == 1
    assert inbox.received == {"reader-0@example.com": 1, "reader-1@example.com": 1}


def test_giving_up_part_way_reports_who_was_not_reached(tmp_path: Path, smtpd: Any) -> None:
    inbox = Inbox(drop_at_rcpt="reader-1@example.com", drops=5)
    port = smtpd(inbox)
    result = _backend(tmp_path, port, starttls=False, max_retries=1).send_batch(
        MESSAGE, _recipients(3)
    )
    # was: TransientDeliveryError for the whole batch, so the rerun sent reader-0 a second copy
    assert result.accepted == 1 and result.unsent == (
        "reader-1@example.com",
        "reader-2@example.com",
    )
    assert result.stopped_by is not None and "gave up after 2 attempts" in str(result.stopped_by)
    assert inbox.received == {"reader-0@example.com": 1}


@pytest.fixture
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "smtp-secret-0123456789")


def _send(tmp_path: Path, port: int, store: Any, db_url: str, **delivery: Any) -> Any:
    from digest.send import run_send
    from tests.delivery_support import NOW

    cfg = sample_config(tmp_path, db_url, backend="smtp", host="127.0.0.1", port=port, starttls=False,
                        batch_size=3, timeout_seconds=2.0, **delivery)  # fmt: skip
    backend = get_backend(cfg, Secrets.from_env({}), sleep=lambda s: None)
    return run_send(cfg, store, as_of=cfg.fixed_as_of(), backend=backend, clock=lambda: NOW)  # type: ignore[arg-type]


@pytest.mark.postgres  # the ledger's batch split, on SQLite and PostgreSQL
@pytest.mark.usefixtures("_secret")
def test_a_send_leaves_the_one_message_in_doubt_in_a_batch_of_its_own(
    tmp_path: Path, smtpd: Any, store: Any, db_url: str
) -> None:
    from digest.store import ledger
    from tests.delivery_support import SAMPLE_KEY, add_subscribers

    readers = add_subscribers(store, {"active": 7})["active"]  # batches 1-3: 3, 3, 1
    inbox = Inbox(lose_answer_for="active-4@example.com")
    port = smtpd(inbox)
    report = _send(tmp_path, port, store, db_url)
    assert inbox.received == {r: 1 for r in readers}  # was: active-4 twice, and "sent"
    assert report.outcome == "failed" and report.exit_code == 1
    assert report.in_doubt_batches == (4,) and report.in_doubt == 1
    assert "batch 4 (1 recipient, from batch 2) is in doubt" in report.message
    assert report.sent == 6 and inbox.received == {r: 1 for r in readers}
    again = _send(tmp_path, port, store, db_url)  # without resend_in_flight
    assert again.outcome == "resumed" and again.in_flight_batches == (4,) and again.exit_code == 0
    assert inbox.received == {r: 1 for r in readers}
    assert [(b.batch, b.state, b.size) for b in ledger.batches(store, SAMPLE_KEY)] == [
        (1, "accepted", 3),
        (2, "accepted", 2),
        (3, "accepted", 1),
        (4, "abandoned", 1),
    ]


@pytest.mark.usefixtures("_secret")
def test_resend_in_flight_resends_only_the_message_in_doubt(
    tmp_path: Path, smtpd: Any, sqlite_store: Any, sqlite_url: str
) -> None:
    from tests.delivery_support import add_subscribers

    readers = add_subscribers(sqlite_store, {"active": 7})["active"]
    inbox = Inbox(lose_answer_for="active-4@example.com")
    port = smtpd(inbox)
    first = _send(tmp_path, port, sqlite_store, sqlite_url)
    assert inbox.received == {r: 1 for r in readers} and first.in_doubt_batches == (4,)
    again = _send(tmp_path, port, sqlite_store, sqlite_url, resend_in_flight=True)
    assert again.outcome == "resumed" and again.sent == 7
    assert inbox.received == {r: 2 if r == "active-4@example.com" else 1 for r in readers}


@pytest.mark.usefixtures("_secret")
def test_a_batch_given_up_part_way_is_finished_by_the_rerun_without_duplicates(
    tmp_path: Path, smtpd: Any, sqlite_store: Any, sqlite_url: str
) -> None:
    from tests.delivery_support import add_subscribers

    readers = add_subscribers(sqlite_store, {"active": 7})["active"]
    inbox = Inbox(drop_at_rcpt="active-4@example.com", drops=2)
    port = smtpd(inbox)
    report = _send(tmp_path, port, sqlite_store, sqlite_url, max_retries=1)
    again = _send(tmp_path, port, sqlite_store, sqlite_url, max_retries=1)
    # was: batch 2 failed whole, and the rerun sent active-3 a second copy
    assert inbox.received == {r: 1 for r in readers}
    assert report.outcome == "failed" and report.transient and report.sent == 4
    assert "batch 2: 2 recipients not sent" in report.message
    assert again.outcome == "resumed" and again.sent == 7 and again.in_flight_batches == ()
