"""Building one SendGrid request: our SendGridPayload against the official library.

    python -m benchmarks.sendgrid_payload

Builds and serializes the same 1000-reader batch (a ~50 KB issue) with our payload (from the
send loop's reader rows, and from Recipients) and with ``sendgrid.helpers.mail``'s
``Mail(...).get()`` + ``json.dumps``, side by side in one run; docs/sending.md quotes it.
Needs the test extras (the ``sendgrid`` library is the reference, not a dependency).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

from digest.backends.base import Message, Recipient, unsubscribe_headers
from digest.backends.sendgrid import SendGridBackend
from digest.config import Secrets
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from tests.delivery_support import sample_config
from tests.sendgrid_library import library_document

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
    (
        f"reader-{i}@example.com",
        f"Reader {i}" if i % 2 else None,
        f"https://news.statecraft.example/unsubscribe/{i}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    for i in range(BATCH)
]


def _time(build: Callable[[], object], number: int) -> tuple[float, float]:
    """Best and median seconds per call, over 7 runs of ``number`` calls."""
    runs = [t / number for t in timeit.repeat(build, number=number, repeat=7)]
    return min(runs), statistics.median(runs)


def main() -> None:
    secrets = Secrets(
        secret_key="bench-secret-0123456789",
        sendgrid_api_key="SG.bench",
        sendgrid_api_host=None,
        smtp_password=None,
    )
    config = sample_config(
        Path(tempfile.gettempdir()), "sqlite://", backend="sendgrid", api_host="http://127.0.0.1:9"
    )
    backend = SendGridBackend(config, secrets)
    recipients = [
        Recipient(e, n, {UNSUBSCRIBE_PLACEHOLDER: u}, unsubscribe_headers(u)) for e, n, u in READERS
    ]
    body, _ = backend.personalized_payload(MESSAGE, READERS)
    assert body is not None
    document = library_document(MESSAGE, READERS)
    rows = [
        (
            "digest: SendGridPayload from reader rows + orjson (the send loop)",
            _time(lambda: backend.personalized_payload(MESSAGE, READERS), 50),
        ),
        (
            "digest: SendGridPayload from Recipients + orjson",
            _time(lambda: backend.build_payload(MESSAGE, recipients), 50),
        ),
        (
            "sendgrid: Mail(...).get() + json.dumps",
            _time(lambda: json.dumps(library_document(MESSAGE, READERS)).encode(), 5),
        ),
        ("  of which json.dumps(document)", _time(lambda: json.dumps(document), 20)),
    ]
    print(f"{BATCH} personalizations, a {len(body):,}-byte body; Python {sys.version.split()[0]}")
    print("per batch: best / median of 7 runs")
    for label, (best, median) in rows:
        print(f"  {label:<66} {best * 1e3:7.2f} ms / {median * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
