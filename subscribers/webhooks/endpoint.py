"""The HTTP side of a provider webhook: read, verify, parse, apply, answer.

Answers: 200 with a JSON summary when applied (or all duplicates); 413 for a
body over the provider's limit (5 MB for SendGrid); 400 for a body that is
not a JSON array of objects; 403 for a missing, forged or stale signature;
503 when the verification key is not configured; 500 when the database
fails. Anything but 2xx makes the provider retry, and nothing is stored
unless the whole POST is applied (one transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from digest.clock import Clock
from digest.config import Config
from digest.store.database import Store
from subscribers.web.database import in_database
from subscribers.webhooks.base import Provider, TrackingEvent, WebhookRejected
from subscribers.webhooks.effects import Outcome, apply_events

log = logging.getLogger("digest.webhooks")

Endpoint = Callable[[Request], Awaitable[Response]]


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything over ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise WebhookRejected(413, f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookRejected(413, f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def store_events(
    store: Store, events: Sequence[TrackingEvent], config: Config, clock: Clock, provider: str
) -> Outcome:
    """Apply ``events`` in one transaction (all or nothing).

    Two deliveries of the same events at once (SendGrid retrying while the first is
    still being applied, or the same batch on two replicas) claim the event ids with
    ``INSERT … ON CONFLICT DO NOTHING`` (``digest.store.webhook_events``): the second
    waits for the first to commit and then finds them taken. An ``IntegrityError``
    (another constraint, in a race this code did not foresee) runs the transaction again.
    """
    for attempt in range(3):
        try:
            with store.session() as session:
                return apply_events(
                    session,
                    events,
                    now=clock(),
                    soft_bounce_limit=config.web.soft_bounce_limit,
                    provider=provider,
                )
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("%s webhook: events applied concurrently elsewhere; trying again", provider)
    raise AssertionError("unreachable")


def make_endpoint(provider: Provider) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        state = request.app.state
        config: Config = state.config
        clock: Clock = state.clock
        try:
            body = await read_body(request, provider.max_body_bytes)
            provider.verify(headers=request.headers, body=body, web=config.web, now=clock())
            events = provider.parse(body)
        except WebhookRejected as exc:
            level = logging.ERROR if exc.status >= 500 else logging.WARNING
            log.log(level, "%s webhook refused (%d): %s", provider.name, exc.status, exc.reason)
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        try:
            outcome = await in_database(
                request, store_events, state.store, events, config, clock, provider.name
            )
        except Exception:
            log.exception(
                "%s webhook: %d events not applied; the provider will retry",
                provider.name,
                len(events),
            )
            return JSONResponse({"error": "not applied, please retry"}, status_code=500)
        log.info(
            "%s webhook: %d events, %d new, %d duplicates, %d status changes",
            provider.name,
            outcome.received,
            outcome.applied,
            outcome.duplicates,
            outcome.status_changes,
        )
        return JSONResponse(outcome.summary())

    endpoint.__name__ = f"{provider.name}_webhook"
    return endpoint
