"""The body of SendGrid's ``POST /v3/mail/send``, built by one class.

``SendGridPayload`` follows django-anymail's payload of the same name: it is made from a
``Message`` (a ``set_*`` method per field), takes one personalization per reader
(``add_recipient`` for a ``Recipient``, ``add_reader`` for the send loop's
``(email, name, unsubscribe URL)`` rows, both through ``add_personalization``), and
``serialize()`` turns it into the request's bytes (orjson).

The document is the one the official library's ``Mail.get()`` builds from the same message
(tests/digest/backends/test_sendgrid_reference.py) and SendGrid's published spec accepts
(tests/digest/backends/test_contract_sendgrid.py). It is also checked for what the spec
allows but the API refuses: each value as it comes in (an address without "@", a header,
substitution or custom arg that is not a string, substitutions over 10,000 bytes), and the
document as a whole in ``serialize()`` (no personalization or more than 1000, an empty
subject, an unknown field). ``validate_payload`` applies the same rules to a document built
elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from digest.backends.base import Message, Recipient, ascii_address, unsubscribe_headers
from digest.errors import PermanentDeliveryError
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from digest.safetext import header_value

MAX_PERSONALIZATIONS = 1000
# SendGrid documents a 10,000-byte limit on the substitutions of one personalization
MAX_SUBSTITUTION_BYTES = 10_000
# the longest unsubscribe URL ``add_reader`` takes: its substitution is the only one
_MAX_LINK = MAX_SUBSTITUTION_BYTES - len(UNSUBSCRIBE_PLACEHOLDER)
FIELDS = frozenset({
    "personalizations", "from", "reply_to", "reply_to_list", "subject", "content",
    "attachments", "template_id", "headers", "categories", "custom_args", "send_at",
    "batch_id", "asm", "ip_pool_name", "mail_settings", "tracking_settings",
})  # fmt: skip


def invalid(problem: str) -> PermanentDeliveryError:
    """A request SendGrid would refuse, caught before it is sent."""
    return PermanentDeliveryError(f"invalid SendGrid request: {problem}")


def address(email: str, name: str | None = None) -> dict[str, str]:
    """``{"email", "name"}`` as SendGrid takes it: the domain in its ASCII form (SendGrid
    refuses an internationalized one), the name fit for a header, left out when empty."""
    # both checks in C first: once per reader in a send
    if not email.isascii():
        email = ascii_address(email)
    if name and not name.isprintable():
        name = header_value(name)
    return {"email": email, "name": name} if name else {"email": email}


class SendGridPayload:
    """One /v3/mail/send document. ``data`` is the document; ``personalizations`` its
    list of readers."""

    def __init__(self, message: Message, *, sandbox_mode: bool = False) -> None:
        self.personalizations: list[dict[str, Any]] = []
        self.data: dict[str, Any] = {"personalizations": self.personalizations}
        self.custom_args: dict[str, str] | None = None  # copied into each personalization
        self.set_from(message.from_email, message.from_name)
        self.set_subject(message.subject)
        self.set_text_body(message.text)
        self.set_html_body(message.html)
        self.set_reply_to(message.reply_to)
        self.set_headers(message.headers)
        self.set_categories(message.categories)
        self.set_custom_args(message.custom_args)
        self.set_sandbox(sandbox_mode)

    # --- the message: the same for every reader ---------------------------------------

    def set_from(self, email: str, name: str | None) -> None:
        self.data["from"] = address(email, name)

    def set_subject(self, subject: str) -> None:
        self.data["subject"] = subject

    def set_text_body(self, text: str) -> None:
        # SendGrid wants text/plain before any other content
        self.data.setdefault("content", []).insert(0, {"type": "text/plain", "value": text})

    def set_html_body(self, html: str) -> None:
        self.data.setdefault("content", []).append({"type": "text/html", "value": html})

    def set_reply_to(self, email: str | None) -> None:
        if email:
            self.data["reply_to"] = {"email": email}

    def set_headers(self, headers: Mapping[str, str]) -> None:
        if headers:
            check_strings("headers", headers)
            self.data["headers"] = headers

    def set_categories(self, categories: Iterable[str]) -> None:
        categories = list(categories)
        if categories:
            self.data["categories"] = categories

    def set_custom_args(self, custom_args: dict[str, str]) -> None:
        """Custom args go in each personalization: SendGrid's spec types the top-level field
        as a string, and the Event Webhook reports them on every event either way."""
        if custom_args:
            check_strings("custom_args", custom_args)
            self.custom_args = custom_args

    def set_sandbox(self, enabled: bool) -> None:
        """SendGrid checks the request and delivers nothing."""
        if enabled:
            self.data["mail_settings"] = {"sandbox_mode": {"enable": True}}

    # --- the readers --------------------------------------------------------------------

    def add_recipient(self, recipient: Recipient) -> None:
        """A ``Recipient``: its substitutions and headers are checked as they come."""
        where = f"personalizations[{len(self.personalizations)}]"
        check_strings(f"{where}.substitutions", recipient.substitutions)
        check_strings(f"{where}.headers", recipient.headers)
        check_substitution_size(where, recipient.substitutions)
        self.add_personalization(
            recipient.email, recipient.name, recipient.substitutions, recipient.headers
        )

    def add_reader(self, email: str, name: str | None, unsubscribe_url: str) -> None:
        """A reader of the send loop (no ``Recipient`` made): the unsubscribe link is their
        one substitution, and gives them their List-Unsubscribe headers."""
        if not isinstance(unsubscribe_url, str) or len(unsubscribe_url) > _MAX_LINK:
            where = f"personalizations[{len(self.personalizations)}].substitutions"
            check_strings(where, {UNSUBSCRIBE_PLACEHOLDER: unsubscribe_url})  # not a string?
            raise invalid(f"{where} exceed 10,000 bytes")
        self.add_personalization(
            email,
            name,
            {UNSUBSCRIBE_PLACEHOLDER: unsubscribe_url},
            unsubscribe_headers(unsubscribe_url),
        )

    def add_personalization(
        self,
        email: str,
        name: str | None,
        substitutions: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """One reader: their address, their values for the placeholders, their headers."""
        to = address(email, name)
        if "@" not in to["email"]:
            i = len(self.personalizations)
            raise invalid(f"personalizations[{i}].to has a bad address {to!r}")
        personalization: dict[str, Any] = {"to": [to]}
        if substitutions:
            personalization["substitutions"] = substitutions
        if headers:
            personalization["headers"] = headers
        if self.custom_args:
            personalization["custom_args"] = self.custom_args
        self.personalizations.append(personalization)

    def serialize(self) -> bytes:
        """The request body; raises ``PermanentDeliveryError`` if SendGrid would refuse it."""
        check_document(self.data)
        return orjson.dumps(self.data)


def build_payload(
    message: Message, recipients: Iterable[Recipient], *, sandbox_mode: bool = False
) -> dict[str, Any]:
    """The document for ``message`` to ``recipients`` (not yet checked as a whole)."""
    payload = SendGridPayload(message, sandbox_mode=sandbox_mode)
    for recipient in recipients:
        payload.add_recipient(recipient)
    return payload.data


# --- the rules -----------------------------------------------------------------------------


def check_strings(where: str, mapping: object) -> None:
    """``mapping`` is an object of strings (headers, substitutions, custom args)."""
    if not isinstance(mapping, dict):
        raise invalid(f"{where} must be an object")
    for key, value in mapping.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise invalid(f"{where}[{key!r}] must be a string, got {value!r}")


def check_substitution_size(where: str, substitutions: Mapping[str, str]) -> None:
    size = sum(len(key) + len(value) for key, value in substitutions.items())
    if size > MAX_SUBSTITUTION_BYTES:
        raise invalid(f"{where}.substitutions exceed 10,000 bytes")


def check_document(payload: Mapping[str, Any]) -> None:
    """The rules for the document as a whole: known fields only, 1 to 1000
    personalizations, a subject, string headers, no top-level custom_args object."""
    unknown = sorted(set(payload) - FIELDS)
    if unknown:
        raise invalid(f"unknown field(s) {unknown}")
    personalizations = payload.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        raise invalid("personalizations is empty")
    if len(personalizations) > MAX_PERSONALIZATIONS:
        raise invalid(f"{len(personalizations)} personalizations (at most 1000)")
    subject = payload.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise invalid("the subject is empty")
    if "headers" in payload:
        check_strings("headers", payload["headers"])
    if "custom_args" in payload and not isinstance(payload["custom_args"], str):
        raise invalid("top-level custom_args must be a string (put them in each personalization)")


def check_personalization(i: int, personalization: object) -> None:
    """The rules for one personalization of a document built elsewhere."""
    where = f"personalizations[{i}]"
    if not isinstance(personalization, dict):
        raise invalid(f"{where}.to is empty")
    to = personalization.get("to")
    if not isinstance(to, list) or not to:
        raise invalid(f"{where}.to is empty")
    for addr in to:
        email = addr.get("email") if isinstance(addr, dict) else None
        if not isinstance(email, str) or "@" not in email:
            raise invalid(f"{where}.to has a bad address {addr!r}")
    for key in ("headers", "substitutions", "custom_args"):
        if key in personalization:
            check_strings(f"{where}.{key}", personalization[key])
    check_substitution_size(where, personalization.get("substitutions") or {})


def validate_payload(payload: Mapping[str, Any]) -> None:
    """Check a whole document, every personalization included, by the rules
    ``SendGridPayload`` applies as it builds one."""
    check_document(payload)
    for i, personalization in enumerate(payload["personalizations"]):
        check_personalization(i, personalization)
