"""Our SendGrid request is the document the official ``sendgrid`` library builds.

The transport is httpx (connection reuse, an injectable transport, orjson bodies: see
docs/sending.md); the official library is the reference for what goes in the body. The same
message is built with ``sendgrid.helpers.mail`` and its ``Mail.get()`` compared with ours.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
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

from digest.backends.base import Message, Recipient, unsubscribe_headers
from digest.backends.sendgrid import build_payload
from digest.models import UNSUBSCRIBE_PLACEHOLDER

MESSAGE = Message(
    subject="Talks resume in Geneva | Statecraft Weekly",
    html="<p>The week’s stories</p>",
    text="The week's stories",
    from_email="newsletter@statecraft.example",
    from_name="Statecraft Weekly",
    reply_to="editors@statecraft.example",
    categories=("digest",),
    custom_args={"issue": "2026-W47"},
    headers={"X-Entity-Ref-ID": "2026-W47"},
)
READERS = [
    ("ada@example.com", "Ada Lovelace", "https://news.example/u/1"),
    ("grace@example.com", None, "https://news.example/u/2"),
    ("émile@example.com", "Émile", "https://news.example/u/3"),
]


def _recipients() -> list[Recipient]:
    return [
        Recipient(email, name, {UNSUBSCRIBE_PLACEHOLDER: url}, unsubscribe_headers(url))
        for email, name, url in READERS
    ]


def _library_document(*, sandbox: bool) -> dict[str, Any]:
    mail = LibraryMail()
    mail.from_email = From(MESSAGE.from_email, MESSAGE.from_name)
    mail.subject = MESSAGE.subject
    mail.reply_to = ReplyTo(MESSAGE.reply_to)
    for email, name, url in READERS:
        p = Personalization()
        p.add_to(To(email, name))
        p.add_substitution(Substitution(UNSUBSCRIBE_PLACEHOLDER, url))
        for key, value in unsubscribe_headers(url).items():
            p.add_header(Header(key, value))
        for key, value in MESSAGE.custom_args.items():
            p.add_custom_arg(CustomArg(key, value))
        mail.add_personalization(p)
    mail.add_content(Content("text/plain", MESSAGE.text))
    mail.add_content(Content("text/html", MESSAGE.html))
    for key, value in MESSAGE.headers.items():
        mail.add_header(Header(key, value))
    for category in MESSAGE.categories:
        mail.add_category(Category(category))
    if sandbox:
        settings = MailSettings()
        settings.sandbox_mode = SandBoxMode(True)
        mail.mail_settings = settings
    document: dict[str, Any] = mail.get()
    # the library prepends each personalization (its order is the reverse of the calls)
    document["personalizations"].reverse()
    return document


@pytest.mark.parametrize("sandbox", [False, True])
def test_our_request_body_is_the_official_librarys_document(sandbox: bool) -> None:
    ours = orjson.loads(orjson.dumps(build_payload(MESSAGE, _recipients(), sandbox_mode=sandbox)))
    reference = _library_document(sandbox=sandbox)
    assert ours == reference
