"""The archive as an Atom 1.0 feed (RFC 4287), built with ``xml.etree`` so every piece of
text (titles and summaries come from the sources' feeds) is escaped by the serializer.

Every id is a ``urn:uuid`` made from the absolute URL of what it names (UUID 5), so it
stays the same as long as ``newsletter.public_url`` does; dates are RFC 3339 in UTC;
every link is absolute.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

from digest.config_types import NewsletterConfig
from subscribers.issues import SentIssue

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
# characters XML 1.0 cannot carry at all, even escaped
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def rfc3339(moment: datetime) -> str:
    """``2026-11-28T09:00:00Z``: an aware datetime as an Atom date (RFC 3339, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_id(url: str) -> str:
    """A permanent ``urn:uuid:`` id for what lives at ``url``."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}"


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = _text(text)
    return el


def atom_feed(nl: NewsletterConfig, issues: Sequence[SentIssue], *, now: datetime) -> bytes:
    """The feed document (UTF-8 bytes with the XML declaration); ``issues`` newest first.
    ``now`` dates a feed that has no entry yet."""
    base = nl.public_url.rstrip("/")
    archive, self_url = f"{base}/issues", f"{base}/issues/feed.xml"
    # plain names under a default namespace written as an attribute: ElementTree would
    # otherwise invent a prefix for the Atom namespace
    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": nl.locale.replace("_", "-")})
    _sub(feed, "id", stable_id(archive))
    _sub(feed, "title", nl.name)
    if nl.tagline:
        _sub(feed, "subtitle", nl.tagline)
    updated = max((i.sent for i in issues), default=now)
    _sub(feed, "updated", rfc3339(updated))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=archive)
    author = _sub(feed, "author")
    _sub(author, "name", nl.name)
    if nl.site_url.startswith(("https://", "http://")):
        _sub(author, "uri", nl.site_url)
    _sub(feed, "icon", nl.logo_url or f"{base}/favicon.svg")
    if nl.logo_url:
        _sub(feed, "logo", nl.logo_url)
    _sub(feed, "generator", "digest")
    for issue in issues:
        url = f"{archive}/{issue.key}"
        entry = _sub(feed, "entry")
        _sub(entry, "id", stable_id(url))
        _sub(entry, "title", issue.title)
        _sub(entry, "updated", rfc3339(issue.sent))
        _sub(entry, "published", rfc3339(issue.sent))
        _sub(entry, "link", rel="alternate", type="text/html", href=url)
        _sub(entry, "summary", issue.summary)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
