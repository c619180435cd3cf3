"""The SMTP backend: smtplib with STARTTLS or implicit TLS, one connection per batch.

Settings: ``delivery.host``, ``port``, ``starttls`` (default on), ``ssl``
(implicit TLS, port 465), ``username``; the password comes only from
``$DIGEST_SMTP_PASSWORD``. A dropped connection or a 4xx answer mid-batch
reconnects and carries on from the recipient it stopped at (bounded by
``delivery.max_retries``), so nobody in the batch gets the message twice;
a recipient the server refuses for good (5xx on RCPT) is reported, not fatal.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

from digest.backends.base import (
    Backend,
    BatchResult,
    Message,
    Recipient,
    ascii_address,
    to_email_message,
    undeliverable,
)
from digest.config import Config, Secrets
from digest.errors import DeliveryConfigError, PermanentDeliveryError, TransientDeliveryError

_TRANSIENT = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, socket.timeout, OSError)


class SMTPBackend(Backend):
    """Options: ``ssl_context`` (e.g. one trusting a test certificate), ``sleep``."""

    name = "smtp"
    max_batch_size = 1000

    def __init__(self, config: Config, secrets: Secrets, **options: Any):
        super().__init__(config, secrets, **options)
        d = config.delivery
        if not d.host:
            raise DeliveryConfigError(
                "[delivery.host] is required for the smtp backend (e.g. host = \"smtp.example.com\")"
            )
        self.host = d.host
        self.use_ssl = d.ssl
        self.starttls = d.starttls and not d.ssl
        self.port = d.port or (465 if d.ssl else 587)
        self.username = d.username
        self.password = secrets.smtp_password
        if self.username and not self.password:
            raise DeliveryConfigError(
                f"DIGEST_SMTP_PASSWORD is not set, but [delivery.username] is {self.username!r}: "
                "export the SMTP password in the environment"
            )
        self.timeout = d.timeout_seconds
        self.max_retries = d.max_retries
        self.ssl_context: ssl.SSLContext = options.get("ssl_context") or ssl.create_default_context()
        sleep = options.get("sleep")
        self.sleep: Callable[[float], None] = sleep if sleep is not None else time.sleep

    def describe(self) -> str:
        tls = "implicit TLS" if self.use_ssl else ("STARTTLS" if self.starttls else "no TLS")
        return f"smtp backend: {self.host}:{self.port} ({tls})"

    def _connect(self) -> smtplib.SMTP:
        try:
            conn: smtplib.SMTP
            if self.use_ssl:
                conn = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self.ssl_context
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.starttls:
                    conn.starttls(context=self.ssl_context)
            if self.username and self.password:
                conn.login(self.username, self.password)
            return conn
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(
                f"the SMTP server {self.host}:{self.port} refused the login for "
                f"{self.username!r} (check [delivery.username] and DIGEST_SMTP_PASSWORD): "
                f"{exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise PermanentDeliveryError(
                f"the SMTP server {self.host}:{self.port} does not offer STARTTLS "
                "(set [delivery.starttls] = false only on a trusted local relay)"
            ) from None
        except ssl.SSLError as exc:
            raise PermanentDeliveryError(
                f"TLS with the SMTP server {self.host}:{self.port} failed: {exc}"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise TransientDeliveryError(
                f"the SMTP server {self.host}:{self.port} answered {exc.smtp_code}: "
                f"{_text(exc.smtp_error)}"
            ) from None
        except _TRANSIENT as exc:
            raise TransientDeliveryError(
                f"cannot reach the SMTP server {self.host}:{self.port}: {exc}"
            ) from None

    def send_batch(self, message: Message, recipients: Sequence[Recipient]) -> BatchResult:
        rejected: list[str] = []
        accepted = 0
        i = 0
        failures = 0
        conn: smtplib.SMTP | None = None
        try:
            while i < len(recipients):
                r = recipients[i]
                if undeliverable(r.email):
                    rejected.append(r.email)
                    i += 1
                    continue
                try:
                    if conn is None:
                        conn = self._connect()
                    refused = conn.send_message(
                        to_email_message(message, r),
                        from_addr=ascii_address(message.from_email),
                        to_addrs=[ascii_address(r.email)],
                    )
                    if refused:
                        rejected.append(r.email)
                    else:
                        accepted += 1
                    i += 1
                    continue
                except smtplib.SMTPRecipientsRefused as exc:
                    code = next(iter(exc.recipients.values()))[0] if exc.recipients else 550
                    if code >= 500:
                        rejected.append(r.email)
                        i += 1
                        continue
                    problem = TransientDeliveryError(f"{r.email} deferred by the server ({code})")
                except smtplib.SMTPSenderRefused as exc:
                    raise PermanentDeliveryError(
                        f"the SMTP server refused the sender {message.from_email!r} "
                        f"([newsletter.from_email]): {exc.smtp_code} "
                        f"{_text(exc.smtp_error)}"
                    ) from None
                except smtplib.SMTPDataError as exc:
                    if exc.smtp_code >= 500:
                        rejected.append(r.email)
                        i += 1
                        continue
                    problem = TransientDeliveryError(f"the SMTP server deferred the message ({exc.smtp_code})")
                except TransientDeliveryError as exc:
                    problem = exc
                except (smtplib.SMTPServerDisconnected, *_TRANSIENT) as exc:
                    problem = TransientDeliveryError(f"the SMTP connection dropped: {exc}")
                # reconnect and go on from recipient i
                failures += 1
                if conn is not None:
                    _quietly_close(conn)
                    conn = None
                if failures > self.max_retries:
                    raise TransientDeliveryError(
                        f"gave up after {failures} attempts ({accepted} of this batch sent): {problem}"
                    )
                self.sleep(min(60.0, 2.0 ** (failures - 1)))
        finally:
            if conn is not None:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    _quietly_close(conn)
        return BatchResult(accepted=accepted, rejected=tuple(rejected), attempts=failures + 1)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _quietly_close(conn: smtplib.SMTP) -> None:
    try:
        conn.close()
    except OSError:
        pass
