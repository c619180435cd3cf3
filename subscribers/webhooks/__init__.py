"""Provider webhooks, one module per provider (``sendgrid.py``), mounted by the
web app at ``/webhooks/<provider>`` from ``routes``.

A provider verifies and parses (``base.Provider``); ``effects.apply_events``
decides, for every provider alike, what the events do to the list and the
per-issue counts. See docs/webhooks.md.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from digest.config import Config
from subscribers.webhooks.base import Provider, TrackingEvent, WebhookRejected
from subscribers.webhooks.endpoint import make_endpoint
from subscribers.webhooks.sendgrid import SendGridProvider, load_public_key

PROVIDERS: dict[str, Provider] = {"sendgrid": SendGridProvider()}


def get_provider(name: str) -> Provider:
    """The registered provider ``name``; ``KeyError`` lists the known ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise KeyError(f"no webhook provider {name!r} (known: {', '.join(PROVIDERS)})") from None


def config_warnings(config: Config, *, backend: str | None = None) -> list[str]:
    """For ``digest serve`` at start-up: a bad key is a ``ConfigError`` (exit 2, naming
    ``web.sendgrid_webhook_public_key``); a missing one, when delivery goes through
    SendGrid, is a warning (the webhook then answers 503 and SendGrid retries)."""
    key = config.web.sendgrid_webhook_public_key
    if key:
        load_public_key(key)  # raises ConfigError naming the key
        return []
    if (backend or config.delivery.backend) == "sendgrid":
        warning = (
            "[web] sendgrid_webhook_public_key is not set: /webhooks/sendgrid refuses events "
            "(503) until it is, so bounces and complaints are not acted on (docs/webhooks.md)"
        )
        return [warning]
    return []


routes: list[BaseRoute] = [
    Route(f"/webhooks/{name}", make_endpoint(p), methods=["POST"], name=f"webhook_{name}")
    for name, p in PROVIDERS.items()
]

__all__ = [
    "PROVIDERS",
    "Provider",
    "TrackingEvent",
    "WebhookRejected",
    "config_warnings",
    "get_provider",
    "routes",
]
