"""What one batch carries: the issue's one ``Message``, each reader's own values (their
unsubscribe link and headers), and the request a backend builds from them.

The HTML and text are rendered once with placeholders (``digest.models.PLACEHOLDERS``);
the per-reader work here is one signed unsubscribe link, so it is kept to that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from digest.backends.base import Backend, BatchResult, Message, Recipient, unsubscribe_headers
from digest.config import Config
from digest.errors import DeliveryError
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from digest.store.ledger import RecipientRow
from digest.tokens import UnsubscribeLinks

# what ``batch_request`` takes for a batch: Recipients, or (email, name, unsubscribe URL)
# triples for a backend with ``personalized_sender``
People = list[Any]
Personalize = Callable[[Sequence[RecipientRow]], People]


def issue_message(config: Config, *, key: str, subject: str, html: str, text: str) -> Message:
    nl = config.newsletter
    return Message(
        subject=subject,
        html=html,
        text=text,
        from_email=nl.from_email,
        from_name=nl.from_name or nl.name,
        reply_to=nl.reply_to,
        categories=tuple(config.delivery.categories),
        custom_args={"issue": key},
    )


def recipients_for(rows: Sequence[RecipientRow], links: Callable[[int], str]) -> list[Recipient]:
    """Each reader with their own unsubscribe link (the placeholder's value) and the
    RFC 8058 one-click headers pointing to it."""
    return [
        Recipient(
            row.email,
            row.name,
            {UNSUBSCRIBE_PLACEHOLDER: (url := links(row.subscriber_id))},
            unsubscribe_headers(url),
        )
        for row in rows
    ]


def personalizer(backend: Backend, links: UnsubscribeLinks) -> Personalize:
    """Rows -> the people ``batch_request`` takes: (email, name, unsubscribe URL) triples
    for a backend that builds its request from them (no Recipient object per reader),
    else Recipients."""
    if getattr(backend, "personalized_sender", None) is None:
        return lambda rows: recipients_for(rows, links)
    return lambda rows: list(
        zip(
            [r.email for r in rows],
            [r.name for r in rows],
            links.many([r.subscriber_id for r in rows]),
        )
    )


def batch_request(backend: Backend, message: Message, people: People) -> Callable[[], BatchResult]:
    """The batch's request, built now; calling the result posts it (on the request thread).

    A backend that builds one request per batch (SendGrid's ``personalized_sender``)
    builds it here, in the calling thread, so the request thread only waits on the
    network and never holds the interpreter while the calling thread talks to the
    database. A request refused while it is built raises when it is posted, so it fails
    the batch it belongs to."""
    personalized = getattr(backend, "personalized_sender", None)
    if personalized is None:
        return lambda: backend.send_batch(message, people)
    try:
        send: Callable[[], BatchResult] = personalized(message, people)
    except DeliveryError as exc:
        return _raising(exc)
    return send


def _raising(error: DeliveryError) -> Callable[[], BatchResult]:
    def fail() -> BatchResult:
        raise error

    return fail
