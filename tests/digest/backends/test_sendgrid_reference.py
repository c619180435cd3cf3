"""Our SendGrid request is the document the official ``sendgrid`` library builds.

The transport is httpx (connection reuse, an injectable transport, orjson bodies: see
docs/sending.md); the official library is the reference for what goes in the body. The same
message is built with ``sendgrid.helpers.mail`` (tests/sendgrid_library.py) and its
``Mail.get()`` compared with ours, on both of our paths: ``Recipient``s (test copies,
confirmations) and the send loop's reader rows (a full batch of 1000).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from digest.backends.base import Message, Recipient, unsubscribe_headers
from digest.backends.sendgrid import SendGridBackend, build_payload
from digest.config import Secrets
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from tests.delivery_support import sample_config
from tests.sendgrid_library import library_document

MESSAGE = Message(
    subject="Talks resume in Geneva | Statecraft Weekly",
    html=f'<p>The week’s stories</p><a href="{UNSUBSCRIBE_PLACEHOLDER}">Unsubscribe</a>',
    text=f"The week's stories. Unsubscribe: {UNSUBSCRIBE_PLACEHOLDER}",
    from_email="newsletter@statecraft.example",
    from_name="Statecraft Weekly",
    reply_to="editors@statecraft.example",
    categories=("digest",),
    custom_args={"issue": "2026-W47"},
    headers={"X-Entity-Ref-ID": "2026-W47"},
)
FEW = [
    ("ada@example.com", "Ada Lovelace", "https://news.example/u/1"),
    ("grace@example.com", None, "https://news.example/u/2"),
    ("émile@example.com", "Émile", "https://news.example/u/3"),
]
BATCH = [
    (
        f"reader-{i}@example.com",
        f"Reader {i}" if i % 2 else None,
        f"https://news.example/u/{i}.AAAA",
    )
    for i in range(1000)
]
SECRETS = Secrets(
    secret_key="test-secret-0123456789",
    sendgrid_api_key="SG.test-key",
    sendgrid_api_host=None,
    smtp_password=None,
)


@pytest.mark.parametrize("sandbox", [False, True])
def test_a_body_built_from_recipients_is_the_librarys_document(sandbox: bool) -> None:
    recipients = [
        Recipient(email, name, {UNSUBSCRIBE_PLACEHOLDER: url}, unsubscribe_headers(url))
        for email, name, url in FEW
    ]
    ours = orjson.loads(orjson.dumps(build_payload(MESSAGE, recipients, sandbox_mode=sandbox)))
    assert ours == library_document(MESSAGE, FEW, sandbox=sandbox)


def test_a_full_batch_from_the_send_loop_is_the_librarys_document(tmp_path: Path) -> None:
    config = sample_config(tmp_path, "sqlite://", backend="sendgrid", api_host="http://127.0.0.1:9")
    body, refused = SendGridBackend(config, SECRETS).personalized_payload(MESSAGE, BATCH)
    assert body is not None and refused == ()
    assert orjson.loads(body) == library_document(MESSAGE, BATCH)
