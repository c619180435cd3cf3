"""A batch as the official ``sendgrid`` library builds it: the reference our SendGrid request
body is checked against (tests/digest/backends/test_sendgrid_reference.py) and timed against
(benchmarks/sendgrid_payload.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sendgrid.helpers.mail import (
    Category,
    Content,
    CustomArg,
    From,
    Header,
    MailSettings,
    Personalization,
    ReplyTo,
    SandBoxMode,
    Substitution,
    To,
)
from sendgrid.helpers.mail import Mail as LibraryMail

from digest.backends.base import Message, unsubscribe_headers
from digest.models import UNSUBSCRIBE_PLACEHOLDER

Reader = tuple[str, str | None, str]  # email, name, unsubscribe URL


def library_document(
    message: Message, readers: Sequence[Reader], *, sandbox: bool = False
) -> dict[str, Any]:
    """``Mail.get()`` for ``message`` to ``readers``, personalizations in the readers' order."""
    mail = LibraryMail()
    mail.from_email = From(message.from_email, message.from_name)
    mail.subject = message.subject
    if message.reply_to:
        mail.reply_to = ReplyTo(message.reply_to)
    for email, name, url in readers:
        p = Personalization()
        p.add_to(To(email, name))
        p.add_substitution(Substitution(UNSUBSCRIBE_PLACEHOLDER, url))
        for key, value in unsubscribe_headers(url).items():
            p.add_header(Header(key, value))
        for key, value in message.custom_args.items():
            p.add_custom_arg(CustomArg(key, value))
        mail.add_personalization(p)
    mail.add_content(Content("text/plain", message.text))
    mail.add_content(Content("text/html", message.html))
    for key, value in message.headers.items():
        mail.add_header(Header(key, value))
    for category in message.categories:
        mail.add_category(Category(category))
    if sandbox:
        settings = MailSettings()
        settings.sandbox_mode = SandBoxMode(True)
        mail.mail_settings = settings
    document: dict[str, Any] = mail.get()
    document["personalizations"].reverse()  # the library prepends each personalization
    return document
