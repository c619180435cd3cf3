"""The SMTP backend: smtplib with STARTTLS or implicit TLS, one connection per batch.

Settings: ``delivery.host``, ``port``, ``starttls`` (default on), ``ssl``
(implicit TLS, port 465), ``username``; the password comes only from
``$DIGEST_SMTP_PASSWORD``. A connection that fails or drops before a message's end of
data went out, or a 4xx answer, reconnects and carries on from the recipient it stopped at
(bounded by ``delivery.max_retries``). A connection lost after the end of data, before the
server's reply, leaves that one message in doubt: it is not sent again (the server may have
taken it), and is reported in ``BatchResult.in_doubt``. Giving up part-way reports the
readers not reached as ``unsent``: nobody in the batch gets the message twice. A recipient
the server refuses for good (5xx on RCPT or DATA) is reported, not fatal.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
from digest.errors import (
    DeliveryConfigError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

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
                '[delivery.host] is required for the smtp backend (e.g. host = "smtp.example.com")'
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
        self.ssl_context: ssl.SSLContext = (
            options.get("ssl_context") or ssl.create_default_context()
        )
        sleep = options.get("sleep")
        self.sleep: Callable[[float], None] = sleep if sleep is not None else time.sleep

    def describe(self) -> str:
        tls = "implicit TLS" if self.use_ssl else ("STARTTLS" if self.starttls else "no TLS")
        return f"smtp backend: {self.host}:{self.port} ({tls})"

    def _connect(self) -> _Tracked:
        try:
            conn: _Tracked
            if self.use_ssl:
                conn = _TrackedSSL(
                    self.host, self.port, timeout=self.timeout, context=self.ssl_context
                )
            else:
                conn = _Tracked(self.host, self.port, timeout=self.timeout)
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
        """Each reader's message in turn on one connection. A failure before a message's end
        of data went out reconnects and sends it again; a connection lost after it leaves
        that message in doubt (``_Tracked``): not sent again, the others go on. Giving up
        part-way returns what was done, with the rest ``unsent`` (nobody sent twice)."""
        tally = _Tally()
        i = failures = 0
        conn: _Tracked | None = None
        try:
            while i < len(recipients):
                r = recipients[i]
                if undeliverable(r.email):
                    outcome, why = "rejected", ""
                else:
                    try:
                        if conn is None:
                            conn = self._connect()
                        outcome, why = self._send_one(conn, message, r)
                    except TransientDeliveryError as exc:  # the server cannot be reached
                        outcome, why = "retry", str(exc)
                    except DeliveryError as exc:  # refused for good (login, TLS, sender)
                        if i == 0:
                            raise
                        return tally.result(failures + 1, unsent=recipients[i:], stopped_by=exc)
                tally.add(r.email, outcome, why)
                if outcome != "retry":  # settled: accepted, refused, or in doubt (never resent)
                    i += 1
                if outcome in ("accepted", "rejected") or i == len(recipients):
                    continue
                failures += 1  # reconnect, and go on from recipient i
                if conn is not None:
                    _quietly_close(conn)
                    conn = None
                if failures > self.max_retries:
                    stop = TransientDeliveryError(
                        f"gave up after {failures} attempts ({tally.accepted} of this batch sent): {why}"
                    )
                    if i == 0:
                        raise stop
                    return tally.result(failures, unsent=recipients[i:], stopped_by=stop)
                self.sleep(min(60.0, 2.0 ** (failures - 1)))
        finally:
            if conn is not None:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    _quietly_close(conn)
        return tally.result(failures + 1)

    def _send_one(self, conn: _Tracked, message: Message, r: Recipient) -> tuple[str, str]:
        """One reader's message: ("accepted" | "rejected" | "in_doubt" | "retry", why)."""
        try:
            refused = conn.send_message(
                to_email_message(message, r),
                from_addr=ascii_address(message.from_email),
                to_addrs=[ascii_address(r.email)],
            )
            return ("rejected" if refused else "accepted"), ""
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else 550
            return (
                ("rejected", "")
                if code >= 500
                else ("retry", f"{r.email} deferred by the server ({code})")
            )
        except smtplib.SMTPSenderRefused as exc:
            raise PermanentDeliveryError(
                f"the SMTP server refused the sender {message.from_email!r} "
                f"([newsletter.from_email]): {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPDataError as exc:
            if 500 <= exc.smtp_code < 600:
                return "rejected", ""
            if 400 <= exc.smtp_code < 500:  # the server said no: nothing delivered
                return "retry", f"the SMTP server deferred the message ({exc.smtp_code})"
            lost = f"the SMTP server answered {exc.smtp_code} {_text(exc.smtp_error)!r}"
        except (smtplib.SMTPResponseException, smtplib.SMTPServerDisconnected, *_TRANSIENT) as exc:
            if not conn.unanswered:
                return "retry", f"the SMTP connection dropped: {exc}"
            lost = f"the connection was lost: {exc}"
        return "in_doubt", (f"{lost}, after the message was sent to {self.host}:{self.port} "
                            "and before the server confirmed it")  # fmt: skip


class _Tracked(smtplib.SMTP):
    """Knows when a message's data has all gone out and the server's reply has not come
    back. A connection lost then leaves that message in doubt: the server may have taken it
    (and will deliver it) without our hearing its 250 (RFC 1047). Lost at any earlier step,
    the server has no complete message (RFC 5321 4.1.1.4: only the final "." ends one),
    so sending it again is safe."""

    unanswered = False

    def send(self, s: Any) -> None:
        super().send(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):  # the end of data (smtplib's data())
            self.unanswered = True

    def getreply(self) -> tuple[int, bytes]:
        reply = super().getreply()
        if 200 <= reply[0] < 600:  # a real reply; -1 (unreadable) answers nothing
            self.unanswered = False
        return reply


class _TrackedSSL(_Tracked, smtplib.SMTP_SSL):
    pass


@dataclass
class _Tally:
    """What became of a batch's readers so far."""

    accepted: int = 0
    rejected: list[str] = field(default_factory=list)
    in_doubt: list[str] = field(default_factory=list)
    why: str = ""

    def add(self, email: str, outcome: str, why: str) -> None:
        if outcome == "accepted":
            self.accepted += 1
        elif outcome == "rejected":
            self.rejected.append(email)
        elif outcome == "in_doubt":
            self.in_doubt.append(email)
            self.why = why

    def result(self, attempts: int, *, unsent: Sequence[Recipient] = (),
               stopped_by: DeliveryError | None = None) -> BatchResult:  # fmt: skip
        return BatchResult(accepted=self.accepted, rejected=tuple(self.rejected), attempts=attempts,
                           in_doubt=tuple(self.in_doubt), in_doubt_reason=self.why,
                           unsent=tuple(r.email for r in unsent), stopped_by=stopped_by)  # fmt: skip


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _quietly_close(conn: smtplib.SMTP) -> None:
    try:
        conn.close()
    except OSError:
        pass
