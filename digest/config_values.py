"""Checks of ``[newsletter]`` values that need more than a type: addresses that look like
addresses, http(s) URLs, a subject template with known fields. Typos fail when the file
is loaded, not mid-send. ``digest.config_parse`` calls them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from digest.errors import ConfigError

if TYPE_CHECKING:
    from digest.config_types import NewsletterConfig

EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]+$")


def check_addresses(nl: NewsletterConfig, where: str) -> None:
    """Addresses look like addresses and URLs are http(s): typos fail here, not mid-send."""
    emails = [("newsletter.from_email", nl.from_email), ("newsletter.reply_to", nl.reply_to)]
    emails += [("newsletter.editors", e) for e in nl.editors]
    for key, value in emails:
        if value is not None and not EMAIL.match(value.strip()):
            raise ConfigError(f"{value!r} is not an email address", path=where, key=key)
    for key, value in (
        ("newsletter.site_url", nl.site_url),
        ("newsletter.public_url", nl.public_url),
    ):
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("http", "https") or not rest.strip("/"):
            raise ConfigError(
                f"must be an http(s) URL such as 'https://example.com', got {value!r}",
                path=where,
                key=key,
            )


def check_subject(subject: str, where: str) -> None:
    try:
        subject.format(lead_title="", name="", date="", issue="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"bad placeholder {exc} (fields: lead_title, name, date, issue)",
            path=where,
            key="newsletter.subject",
        ) from None
