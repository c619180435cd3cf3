"""The SMTP backend against a real local SMTP server (aiosmtpd): plain, STARTTLS, TLS."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
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
    """aiosmtpd handler: keeps messages; can refuse an address or fail DATA once."""

    def __init__(self, refuse: str | None = None, fail_data_once_for: str | None = None):
        self.messages: list[tuple[list[str], bytes]] = []
        self.sessions = 0
        self.refuse, self.fail_data_once_for = refuse, fail_data_once_for

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]) -> str:
        if address == self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.fail_data_once_for in envelope.rcpt_tos:
            self.fail_data_once_for = None
            return "421 4.3.0 try again later"
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or b""))
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
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def _authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"editor" and auth_data.password == b"s3cret"
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


def _backend(tmp_path: Path, port: int, password: str | None = None, **delivery: Any) -> SMTPBackend:
    cfg = sample_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", backend="smtp", host="127.0.0.1", port=port,
                        timeout_seconds=5.0, **delivery)  # fmt: skip
    secrets = Secrets(secret_key="test-secret-0123456789", sendgrid_api_key=None, sendgrid_api_host=None, smtp_password=password)
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


def test_plain_smtp_delivers_each_recipient_their_own_message_on_one_connection(tmp_path: Path, smtpd: Any) -> None:
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
    assert [rcpts for rcpts, _ in inbox.messages] == [["reader-0@example.com"], ["reader-2@example.com"]]


def test_starttls_with_login(tmp_path: Path, smtpd: Any) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox = Inbox()
    port = smtpd(inbox, tls_context=server_tls, require_starttls=True, authenticator=_authenticator, auth_required=True)
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
    port = smtpd(Inbox(), tls_context=server_tls, require_starttls=True, authenticator=_authenticator, auth_required=True)
    with pytest.raises(PermanentDeliveryError, match="DIGEST_SMTP_PASSWORD"):
        _backend(tmp_path, port, password="wrong", username="editor").send_batch(MESSAGE, _recipients(1))


def test_a_refused_address_is_reported_and_the_rest_still_go(tmp_path: Path, smtpd: Any) -> None:
    inbox = Inbox(refuse="reader-1@example.com")
    port = smtpd(inbox)
    result = _backend(tmp_path, port, starttls=False).send_batch(MESSAGE, _recipients(3))
    assert result.accepted == 2 and result.rejected == ("reader-1@example.com",)
    assert [r for r, _ in inbox.messages] == [["reader-0@example.com"], ["reader-2@example.com"]]


def test_a_temporary_failure_mid_batch_reconnects_without_duplicates(tmp_path: Path, smtpd: Any) -> None:
    inbox = Inbox(fail_data_once_for="reader-1@example.com")
    port = smtpd(inbox)
    result = _backend(tmp_path, port, starttls=False).send_batch(MESSAGE, _recipients(3))
    assert result.accepted == 3 and result.attempts == 2
    assert [r for r, _ in inbox.messages] == [[f"reader-{i}@example.com"] for i in range(3)]
    assert inbox.sessions == 2


def test_configuration_problems_name_the_setting(tmp_path: Path) -> None:
    cfg = sample_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", backend="smtp")
    none = Secrets(secret_key="test-secret-0123456789", sendgrid_api_key=None, sendgrid_api_host=None, smtp_password=None)
    with pytest.raises(DeliveryConfigError, match=r"\[delivery.host\]"):
        get_backend(cfg, none)
    cfg = sample_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", backend="smtp", host="127.0.0.1", username="editor")
    with pytest.raises(DeliveryConfigError, match="DIGEST_SMTP_PASSWORD"):
        get_backend(cfg, none)


def test_an_unreachable_server_is_a_clear_transient_error(tmp_path: Path) -> None:
    from digest.errors import TransientDeliveryError

    backend = _backend(tmp_path, 9, starttls=False, max_retries=1)  # nothing listens on port 9
    with pytest.raises(TransientDeliveryError, match="cannot reach the SMTP server 127.0.0.1:9"):
        backend.send_batch(MESSAGE, _recipients(1))
