"""Why bytes are not a feed, in words an editor can act on.

``digest.feeds`` asks here when a source gives no entries and no feed version: the
answer names an XML error, a web page (and the feed it announces), binary data, or
quotes the start of what came instead.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from digest.feedtext import is_web_url

# the feed types a page announces with <link rel="alternate" type="…">
_FEED_TYPES = {
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
}


def is_xml_error(exc: object) -> bool:
    """Whether feedparser's ``bozo_exception`` is an XML syntax error (SAX gives a line)."""
    return exc is not None and hasattr(exc, "getLineNumber")


def xml_error(exc: Any) -> str:
    msg = exc.getMessage() if hasattr(exc, "getMessage") else str(exc)
    return f"XML error at line {exc.getLineNumber()}: {msg}"


def not_a_feed_reason(body: bytes, parsed: Any, url: str = "") -> str:
    """Why ``body`` (fetched from ``url``, read by feedparser into ``parsed``) is no feed."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:200].lower()
    looks_html = head.startswith((b"<!doctype html", b"<html")) or b"<html" in head
    exc = parsed.get("bozo_exception")
    if head.startswith(b"<") and not looks_html and is_xml_error(exc):
        return xml_error(exc)
    if looks_html:
        feed = announced_feed(body, url)
        if feed:
            return f"a web page, not a feed; the page names its feed: {feed} (use that as the url)"
    snippet = _snippet(body)
    if "\ufffd" in snippet or any(ord(c) < 32 for c in snippet):  # raw bytes are no message
        kind = "gzip-compressed data" if body.startswith(b"\x1f\x8b") else "binary data"
        return f"not a feed: {kind} ({len(body):,} bytes)"
    return f"not a feed: {snippet}"


def announced_feed(body: bytes, url: str) -> str | None:
    """The first web feed the page in ``body`` announces, resolved against ``url``."""
    finder = _FeedLinks()
    try:
        finder.feed(body[:200_000].decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 -- only a hint; a page too broken to read gives none
        return None
    for href in finder.hrefs:
        found = urljoin(url, href.strip())
        if is_web_url(found):
            return found
    return None


class _FeedLinks(HTMLParser):
    """The feeds a web page announces (``<link rel="alternate" type="application/rss+xml">``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        rel = (a.get("rel") or "").lower().split()
        kind = (a.get("type") or "").lower()
        if tag == "link" and "alternate" in rel and kind in _FEED_TYPES and a.get("href"):
            self.hrefs.append(a["href"] or "")


def _snippet(body: bytes, limit: int = 60) -> str:
    text = body.lstrip(b"\xef\xbb\xbf").decode("utf-8", "replace")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit] + ("…" if len(text) > limit else "")
