"""A full batch built by our payload and by the official ``sendgrid`` library: the same
document, and, run as a script, the time each takes to build and serialize it.

    python -m tests.test_sendgrid_vs_library

prints the figures docs/sending.md quotes ("Why httpx and not the official library").
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sendgrid.helpers.mail import (
    Category,
    Content,
    CustomArg,
    From,
    Header,
    Personalization,
    ReplyTo,
    Substitution,
    To,
)
from sendgrid.helpers.mail import Mail as LibraryMail

from digest.backends.base import Message, Recipient, unsubscribe_headers
from digest.backends.sendgrid import SendGridBackend
from digest.config import Secrets
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from tests.delivery_support import sample_config

BATCH = 1000
STORY = "<p>Talks resume in Geneva: what each side wants, and what it would give up.</p>\n"
MESSAGE = Message(
    subject="Talks resume in Geneva | Statecraft Weekly",
    html=STORY * 500 + f'<a href="{UNSUBSCRIBE_PLACEHOLDER}">Unsubscribe</a>',  # ~40 KB
    text=STORY * 125 + f"Unsubscribe: {UNSUBSCRIBE_PLACEHOLDER}",  # ~10 KB
    from_email="newsletter@statecraft.example",
    from_name="Statecraft Weekly",
    reply_to="editors@statecraft.example",
    categories=("digest",),
    custom_args={"issue": "2026-W47"},
)
READERS = [
    (f"reader-{i}@example.com", f"Reader {i}" if i % 2 else None,
     f"https://news.statecraft.example/unsubscribe/{i}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    for i in range(BATCH)
]  # fmt: skip
SECRETS = Secrets(secret_key="test-secret-0123456789", sendgrid_api_key="SG.test-key",
                  sendgrid_api_host=None, smtp_password=None)  # fmt: skip


def _backend(folder: Path) -> SendGridBackend:
    config = sample_config(folder, "sqlite://", backend="sendgrid", api_host="http://127.0.0.1:9")
    return SendGridBackend(config, SECRETS)


def library_document() -> dict[str, Any]:
    """The batch as ``sendgrid.helpers.mail`` builds it."""
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
    for category in MESSAGE.categories:
        mail.add_category(Category(category))
    document: dict[str, Any] = mail.get()
    return document


def library_body() -> bytes:
    return json.dumps(library_document()).encode()


def test_a_full_batch_is_the_librarys_document(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    body, refused = backend.personalized_payload(MESSAGE, READERS)
    assert body is not None and refused == ()
    reference = json.loads(library_body())
    reference["personalizations"].reverse()  # the library prepends each personalization
    assert orjson.loads(body) == reference


def _time(build: Callable[[], object], number: int) -> tuple[float, float]:
    """Best and median seconds per call, over 7 runs of ``number`` calls."""
    runs = [t / number for t in timeit.repeat(build, number=number, repeat=7)]
    return min(runs), statistics.median(runs)


def main() -> None:
    backend = _backend(Path(tempfile.gettempdir()))
    recipients = [Recipient(e, n, {UNSUBSCRIBE_PLACEHOLDER: u}, unsubscribe_headers(u))
                  for e, n, u in READERS]  # fmt: skip
    body, _ = backend.personalized_payload(MESSAGE, READERS)
    assert body is not None
    document = library_document()
    rows = [
        ("digest: SendGridPayload from reader rows + orjson (the send loop)",
         _time(lambda: backend.personalized_payload(MESSAGE, READERS), 50)),
        ("digest: SendGridPayload from Recipients + orjson",
         _time(lambda: backend.build_payload(MESSAGE, recipients), 50)),
        ("sendgrid: Mail(...).get() + json.dumps", _time(library_body, 5)),
        ("  of which json.dumps(document)", _time(lambda: json.dumps(document), 20)),
    ]  # fmt: skip
    print(f"{BATCH} personalizations, a {len(body):,}-byte body; Python {sys.version.split()[0]}")
    print("per batch: best / median of 7 runs")
    for label, (best, median) in rows:
        print(f"  {label:<66} {best * 1e3:7.2f} ms / {median * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
