"""Provider webhooks, one module per provider (``sendgrid.py``), mounted by the
web app at ``/webhooks/<provider>`` from ``routes``.

A provider verifies and parses (``base.Provider``); ``effects.apply_events``
decides, for every provider alike, what the events do to the list and the
per-issue counts. See docs/webhooks.md.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from subscribers.webhooks.base import Provider, TrackingEvent, WebhookRejected
from subscribers.webhooks.endpoint import make_endpoint
from subscribers.webhooks.sendgrid import SendGridProvider

PROVIDERS: dict[str, Provider] = {"sendgrid": SendGridProvider()}


def get_provider(name: str) -> Provider:
    """The registered provider ``name``; ``KeyError`` lists the known ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise KeyError(f"no webhook provider {name!r} (known: {', '.join(PROVIDERS)})") from None


routes: list[BaseRoute] = [
    Route(f"/webhooks/{name}", make_endpoint(p), methods=["POST"], name=f"webhook_{name}")
    for name, p in PROVIDERS.items()
]

__all__ = ["PROVIDERS", "Provider", "TrackingEvent", "WebhookRejected", "get_provider", "routes"]
