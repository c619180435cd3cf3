"""Delivery backends, chosen by name from ``delivery.backend``.

Each backend module registers its class here; ``get_backend`` looks the name
up in the registry (never an if/elif on names).
"""

from __future__ import annotations

import importlib
from typing import Any

from digest.backends.base import Backend, BatchResult, Message, Recipient, to_email_message
from digest.config import Config, Secrets
from digest.errors import DeliveryConfigError

# name -> "module:Class"; imported lazily so a missing optional dependency of
# one backend does not break the others.
REGISTRY: dict[str, str] = {
    "file": "digest.backends.file:FileBackend",
    "console": "digest.backends.console:ConsoleBackend",
    "smtp": "digest.backends.smtp:SMTPBackend",
    "sendgrid": "digest.backends.sendgrid:SendGridBackend",
}


def backend_class(name: str) -> type[Backend]:
    try:
        target = REGISTRY[name]
    except KeyError:
        raise DeliveryConfigError(
            f"[delivery.backend] unknown backend {name!r} (choose one of: {', '.join(sorted(REGISTRY))})"
        ) from None
    module_name, _, cls_name = target.partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module_name), cls_name)
    return cls


def get_backend(config: Config, secrets: Secrets | None = None, **options: Any) -> Backend:
    """The configured backend. ``options`` are injected dependencies (e.g. an HTTP client)."""
    return backend_class(config.delivery.backend)(config, secrets or Secrets.from_env(), **options)


__all__ = [
    "REGISTRY",
    "Backend",
    "BatchResult",
    "Message",
    "Recipient",
    "get_backend",
    "to_email_message",
]
