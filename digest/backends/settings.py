"""What each backend needs from ``[delivery]`` in the file, checked when the file is
loaded (``digest.config_checks``), whatever the command: a send must not be the first
to learn that the SMTP host is missing.

Secrets are not checked here: they come from the environment, and only the commands
that send (and ``digest check``) need them; the backends' constructors check those.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from digest.config import DeliveryConfig

# (key, message) for each problem
Problems = list[tuple[str, str]]


def _smtp(d: DeliveryConfig) -> Problems:
    out: Problems = []
    if not (d.host or "").strip():
        out.append(
            ("delivery.host", 'is required for the smtp backend (e.g. host = "smtp.example.com")')
        )
    if d.port is not None and not 1 <= d.port <= 65535:
        out.append(("delivery.port", f"must be a port number from 1 to 65535, got {d.port}"))
    return out


def _sendgrid(d: DeliveryConfig) -> Problems:
    if d.api_host is None:
        return []
    parts = urlsplit(d.api_host.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        message = f"must be an http(s) URL such as 'https://api.sendgrid.com', got {d.api_host!r}"
        return [("delivery.api_host", message)]
    return []


def _nothing(_d: DeliveryConfig) -> Problems:
    return []


# by backend name, as digest.backends.REGISTRY; a backend that needs nothing from the file
# is listed too, so a new backend without an entry here is caught by the tests
REQUIRED_SETTINGS: dict[str, Callable[[DeliveryConfig], Problems]] = {
    "file": _nothing,  # outbox has a default
    "console": _nothing,
    "smtp": _smtp,
    "sendgrid": _sendgrid,
}


def settings_problems(delivery: DeliveryConfig) -> Problems:
    """The problems of ``delivery`` for its backend: an unknown backend name, or a
    setting that backend needs missing or unusable."""
    from digest.backends import REGISTRY

    if delivery.backend not in REGISTRY:
        choices = ", ".join(sorted(REGISTRY))
        return [
            ("delivery.backend", f"unknown backend {delivery.backend!r} (choose one of: {choices})")
        ]
    check = REQUIRED_SETTINGS.get(delivery.backend, _nothing)
    return check(delivery)
