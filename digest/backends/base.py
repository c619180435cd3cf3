"""The delivery backend interface (after django-anymail).

A backend takes one ``Message`` (the same HTML and text for everyone, with
placeholders) and a batch of ``Recipient`` (each with their own values for
the placeholders and their own headers), and delivers it. Backends are
chosen by name from ``delivery.backend`` through the registry in
``digest.backends``; never by if/elif on names.

Template method: ``send_batch`` = ``build_payload`` → ``post`` → ``parse_response``.
Subclasses that talk to one API per batch (SendGrid) implement the three
steps; per-recipient transports (file, smtp, console) override ``send_batch``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as _default_policy
from email.utils import formataddr, formatdate, make_msgid
from typing import Any, ClassVar

import idna

from digest.config import Config, Secrets
from digest.errors import DeliveryError
from digest.safetext import header_value


@dataclass(slots=True)  # not frozen: a million of these are made per send, cheaply
class Recipient:
    email: str
    name: str | None = None
    substitutions: dict[str, str] = field(default_factory=dict)  # placeholder -> value
    headers: dict[str, str] = field(default_factory=dict)  # List-Unsubscribe, …

    def __post_init__(self) -> None:
        # names come from sign-up forms and CSV files: cleaned here, where every backend
        # gets them (SendGrid's batch path, which skips Recipient, calls header_value too)
        if self.name and not self.name.isprintable():
            self.name = header_value(self.name)


@dataclass(frozen=True)
class Message:
    """One message for many recipients."""

    subject: str
    html: str
    text: str
    from_email: str
    from_name: str | None = None
    reply_to: str | None = None
    categories: tuple[str, ...] = ()
    custom_args: dict[str, str] = field(default_factory=dict)  # e.g. {"issue": "2026-W02"}
    headers: dict[str, str] = field(default_factory=dict)  # the same for every recipient

    def __post_init__(self) -> None:
        # the subject carries a feed's title: no control character reaches any backend
        for name in ("subject", "from_name"):
            value = getattr(self, name)
            if value and not value.isprintable():
                object.__setattr__(self, name, header_value(value))


HEADER_POLICY = _default_policy.clone(max_line_length=998)


def unsubscribe_headers(unsubscribe_url: str) -> dict[str, str]:
    """The RFC 2369 / RFC 8058 one-click unsubscribe headers for one recipient: the one
    place they are written (the send loop's Recipients, SendGrid's personalizations)."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def ascii_address(address: str) -> str:
    """``address`` with an internationalized domain in its ASCII form
    (``reader@bücher.example`` → ``reader@xn--bcher-kva.example``): what mail headers,
    SMTP envelopes and SendGrid's API take. ASCII addresses come back unchanged."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except (idna.IDNAError, UnicodeError):
        return address


def undeliverable(address: str) -> bool:
    """An address none of the backends can carry: a non-ASCII local part (``jörg@…``)
    needs SMTPUTF8, which neither these messages nor SendGrid's API support. Backends
    report such a reader as refused (``BatchResult.rejected``) and deliver the rest."""
    return not ascii_address(address).isascii()


def to_email_message(
    message: Message, recipient: Recipient, *, domain: str | None = None
) -> EmailMessage:
    """The RFC 5322 message one recipient gets (multipart/alternative: text, then HTML)."""
    html, text = message.html, message.text
    for placeholder, value in recipient.substitutions.items():
        html = html.replace(placeholder, value)
        text = text.replace(placeholder, value)
    msg = EmailMessage()
    msg["Subject"] = message.subject
    msg["From"] = formataddr((message.from_name or "", ascii_address(message.from_email)))
    msg["To"] = formataddr((recipient.name or "", ascii_address(recipient.email)))
    if message.reply_to:
        msg["Reply-To"] = message.reply_to
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=domain or message.from_email.rpartition("@")[2])
    for name, value in {**message.headers, **recipient.headers}.items():
        msg[name] = value
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    # bodies are encoded (76-character lines) by now; headers are folded when the message
    # is written, and a URL header such as List-Unsubscribe must stay on one line
    msg.policy = HEADER_POLICY
    return msg


@dataclass(frozen=True)
class BatchResult:
    accepted: int
    provider_id: str | None = None  # e.g. SendGrid's X-Message-Id
    # addresses the transport refused one by one (SMTP 5xx on RCPT); the rest went out
    rejected: tuple[str, ...] = ()
    attempts: int = 1  # requests it took (retries included)
    # per-recipient transports (SMTP): addresses whose message went out but whose answer was
    # lost (perhaps delivered: never sent again without delivery.resend_in_flight), and why
    in_doubt: tuple[str, ...] = ()
    in_doubt_reason: str = ""
    # the batch ended early (``stopped_by``): these addresses were never sent; the rest were
    unsent: tuple[str, ...] = ()
    stopped_by: DeliveryError | None = None


class Backend(ABC):
    """Delivers a Message to a batch of Recipients. Raise ``TransientDeliveryError``
    for what is worth retrying and ``PermanentDeliveryError`` for a refusal."""

    name: ClassVar[str]
    max_batch_size: ClassVar[int] = 1000

    def __init__(self, config: Config, secrets: Secrets, **options: Any):
        self.config = config
        self.secrets = secrets
        self.options = options

    def send_batch(self, message: Message, recipients: Sequence[Recipient]) -> BatchResult:
        payload = self.build_payload(message, recipients)
        response = self.post(payload)
        return self.parse_response(response, recipients)

    def build_payload(self, message: Message, recipients: Sequence[Recipient]) -> Any:
        raise NotImplementedError

    def post(self, payload: Any) -> Any:
        raise NotImplementedError

    def parse_response(self, response: Any, recipients: Sequence[Recipient]) -> BatchResult:
        raise NotImplementedError

    def check_batch(self, message: Message, recipients: Sequence[Recipient]) -> None:
        """Build what ``send_batch`` would send, without sending (dry runs): raises if
        the batch is invalid. Per-recipient transports build the first message."""
        first = next((r for r in recipients if not undeliverable(r.email)), None)
        if first is not None:
            to_email_message(message, first)

    def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def describe(self) -> str:
        """One line for the editor: where the mail goes."""
