"""The issue as the web archive serves it: the same rendering with no personal link."""

from __future__ import annotations

import re

from digest.config import Config
from digest.models import UNSUBSCRIBE_PLACEHOLDER


def subscribe_url(config: Config) -> str:
    """The subscribe page: where a link meant for no one in particular points."""
    return config.newsletter.public_url.rstrip("/") + "/"


_UNSUB_LINK = re.compile(
    r"(<a\b[^>]*\bhref=\""
    + re.escape(UNSUBSCRIBE_PLACEHOLDER)
    + r"\"[^>]*>)(\s*)Unsubscribe(\s*)(</a>)",
    re.IGNORECASE,
)


def archive_html(html: str, config: Config) -> str:
    """``html`` with the unsubscribe link turned into a neutral link to the subscribe
    page (a visitor of the archive has nothing to unsubscribe from), and any other
    unsubscribe placeholder pointing there too."""
    url = subscribe_url(config)

    def subscribe_link(m: re.Match[str]) -> str:
        opening = m.group(1).replace(UNSUBSCRIBE_PLACEHOLDER, url)
        return f"{opening}{m.group(2)}Subscribe{m.group(3)}{m.group(4)}"

    return _UNSUB_LINK.sub(subscribe_link, html).replace(UNSUBSCRIBE_PLACEHOLDER, url)
