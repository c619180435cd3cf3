"""Feed text made safe to put in an email.

Feed text is data, never a template: it reaches a template only as a variable and
is escaped there. What escaping cannot cover is handled here: links and pictures
only for absolute http(s) URLs, HTML fragments cut down to inert formatting, and
no per-recipient placeholder anywhere in the issue's own text.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from typing import Any
from urllib.parse import quote, urlsplit

import nh3
from markupsafe import Markup

from digest.models import PLACEHOLDERS, Article, Image, Issue, Pick

# Control characters and whitespace a browser would ignore inside a URL
# ("java\tscript:" is javascript:), so they are never allowed through.
_URL_JUNK = re.compile(r"[\x00-\x20\x7f]")

_FRAGMENT_TAGS = {"p", "br", "a", "em", "strong", "b", "i", "ul", "ol", "li", "blockquote"}


def safe_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host, else ``None``.

    Used for every link and image taken from a feed: ``javascript:``, ``data:``,
    ``vbscript:``, protocol-relative and relative URLs are all refused.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or _URL_JUNK.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def sanitize_fragment(html: str) -> Markup:
    """An HTML fragment from a feed, cut down to inert formatting and http(s) links.

    Nothing the bundled templates render needs this (they take plain text), but a
    user template that wants feed HTML must pass it through ``|sanitize``.
    """
    clean = nh3.clean(
        html,
        tags=_FRAGMENT_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return Markup(clean)


# Send time replaces every placeholder in the HTML and text with the recipient's own
# value. A feed (or note) that contains one would get it filled too: a story link
# "https://elsewhere.example/?u=%%unsubscribe_url%%" would hand each reader's
# unsubscribe link to that site. So the issue's own text never holds one verbatim.

_WORD_JOINER = "\u2060"  # invisible: the text reads the same, the placeholder is broken


def without_placeholders(issue: Issue) -> Issue:
    """``issue`` with any placeholder in its stories or note made inert (see above)."""

    def pick(p: Pick) -> Pick:
        art = _inert_article(p.article)
        return p if art is p.article else replace(p, article=art)

    return replace(
        issue,
        lead=pick(issue.lead) if issue.lead else None,
        latest=tuple(pick(p) for p in issue.latest),
        note=_inert(issue.note) if issue.note else issue.note,
    )


def _inert(value: str, *, url: bool = False) -> str:
    for placeholder in PLACEHOLDERS:
        if placeholder in value:
            if url:
                safe = quote(placeholder, safe="")
            else:
                safe = placeholder[0] + _WORD_JOINER + placeholder[1:]
            value = value.replace(placeholder, safe)
    return value


def _inert_article(a: Article) -> Article:
    changes: dict[str, Any] = {}
    for f in fields(a):
        value = getattr(a, f.name)
        if isinstance(value, str):
            new: Any = _inert(value, url=f.name == "url")
        elif isinstance(value, tuple):
            new = tuple(_inert(v) if isinstance(v, str) else v for v in value)
        elif isinstance(value, Image):
            new = Image(
                url=_inert(value.url, url=True),
                alt=_inert(value.alt) if value.alt else value.alt,
                credit=_inert(value.credit) if value.credit else value.credit,
            )
        else:
            continue
        if new != value:
            changes[f.name] = new
    return replace(a, **changes) if changes else a
