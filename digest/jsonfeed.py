"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1), read into feedparser's shape.

feedparser 6 reads RSS and Atom only. A JSON Feed is turned into the same
``FeedParserDict`` entries ``digest.feeds`` reads from feedparser, so every
rule there (dates without a zone, links, sections, pictures, text cleaning)
applies unchanged:

=====================  ===============================================
JSON Feed              feedparser's key
=====================  ===============================================
``title``              ``title`` (plain text: ``title_detail.type``)
``url``                ``link`` (``external_url`` when there is none)
``id``                 ``id``
``date_published``     ``published`` / ``published_parsed``
``date_modified``      ``updated`` / ``updated_parsed``
``summary``            ``summary`` (plain text, escaped)
``content_html``       ``content`` (``text/html``)
``content_text``       ``content`` (escaped, blank lines → paragraphs)
``image``              ``media_content`` (a picture)
``attachments``        ``enclosures`` (links with rel="enclosure")
``tags``               ``tags``
``authors``/``author`` ``authors``
=====================  ===============================================

Every value is untrusted and may have any JSON type: a value of the wrong type
is ignored, never an error. An item that still cannot be read (a date outside the years
datetime knows, anything unforeseen) is left out and named in the result's
``unreadable`` list of (label, reason); the rest of the feed is read.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from html import escape
from typing import Any

from feedparser import FeedParserDict

from digest.errors import NotJsonFeed
from digest.feedlimits import MAX_REPEATS

VERSION_PREFIX = "https://jsonfeed.org/version/"


def looks_like_json_feed(body: bytes) -> bool:
    """A JSON object (RSS and Atom start with "<"; a JSON Feed is an object), whatever the
    server calls it: a feed served as application/json is read; XML served so is not."""
    return body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def parse_json_feed(body: bytes) -> FeedParserDict:
    """The feed as feedparser would give it (``version`` "json1" or "json11")."""
    try:
        doc = json.loads(body.lstrip(b"\xef\xbb\xbf"))
    except RecursionError:
        raise NotJsonFeed("JSON nested too deeply to be a feed") from None
    except UnicodeDecodeError as exc:
        raise NotJsonFeed(f"JSON that is not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise NotJsonFeed(
            f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(doc, dict) or not _text(doc.get("version")).startswith(VERSION_PREFIX):
        raise NotJsonFeed(f'JSON, but not a JSON Feed (no "version": "{VERSION_PREFIX}…")')
    version = _text(doc.get("version")).removeprefix(VERSION_PREFIX)
    items = doc.get("items")
    entries: list[FeedParserDict] = []
    unreadable: list[tuple[str, str]] = []
    limited: dict[str, int] = {}
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        item = _capped(item, limited)
        try:
            entries.append(_entry(item))
        except Exception as exc:  # noqa: BLE001 -- one unreadable item is left out, not the feed
            label = _text(item.get("title")) or _text(item.get("url")) or f"number {i + 1}"
            unreadable.append((label[:80], str(exc) or type(exc).__name__))
    feed = FeedParserDict(title=_text(doc.get("title")), link=_text(doc.get("home_page_url")))
    notes = [
        f"{n:,} {key} beyond {MAX_REPEATS} on one item were left out" for key, n in limited.items()
    ]
    return FeedParserDict(
        version="json" + version.replace(".", ""),
        feed=feed,
        entries=entries,
        bozo=False,
        unreadable=unreadable,
        limited=notes,
    )


def _capped(item: dict[str, Any], limited: dict[str, int]) -> dict[str, Any]:
    """``item`` with at most ``MAX_REPEATS`` tags, authors and attachments, as RSS and Atom
    entries (digest.feedlimits): a million tags on one item took seconds to read."""
    for key in ("tags", "authors", "attachments"):
        value = item.get(key)
        if isinstance(value, list) and len(value) > MAX_REPEATS:
            limited[key] = limited.get(key, 0) + len(value) - MAX_REPEATS
            item = {**item, key: value[:MAX_REPEATS]}
    return item


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _entry(item: dict[str, Any]) -> FeedParserDict:
    entry = FeedParserDict()
    title = _text(item.get("title"))
    if title:
        entry["title"] = title
        entry["title_detail"] = FeedParserDict(type="text/plain", value=title)
    link = _text(item.get("url")) or _text(item.get("external_url"))
    if link:
        entry["link"] = link
    ident = item.get("id")
    if isinstance(ident, str | int | float):
        entry["id"] = str(ident).strip()
    for source, key in (("date_published", "published"), ("date_modified", "updated")):
        raw = _text(item.get(source))
        if raw:
            entry[key] = raw
            parsed = _struct_time(raw)
            if parsed is not None:
                entry[f"{key}_parsed"] = parsed
    summary = _text(item.get("summary"))
    if summary:
        entry["summary"] = escape(summary, quote=False)
    content = _text(item.get("content_html")) or _paragraphs_html(_text(item.get("content_text")))
    if content:
        entry["content"] = [FeedParserDict(type="text/html", value=content)]
    image = _text(item.get("image")) or _text(item.get("banner_image"))
    if image:
        entry["media_content"] = [FeedParserDict(url=image, medium="image")]
    attachments = item.get("attachments")
    entry["links"] = [  # feedparser's "enclosures" are its links with rel="enclosure"
        FeedParserDict(rel="enclosure", href=_text(a.get("url")), type=_text(a.get("mime_type")))
        for a in (attachments if isinstance(attachments, list) else [])
        if isinstance(a, dict) and _text(a.get("url"))
    ]
    tags = item.get("tags")
    if isinstance(tags, list):
        entry["tags"] = [
            FeedParserDict(term=t.strip()) for t in tags if isinstance(t, str) and t.strip()
        ]
    authors = item.get("authors")
    people: list[Any] = authors if isinstance(authors, list) else [item.get("author")]
    names = [_text(p.get("name")) for p in people if isinstance(p, dict)]
    if any(names):
        entry["authors"] = [FeedParserDict(name=n) for n in names if n]
    return entry


def _paragraphs_html(text: str) -> str:
    paras = (p.strip() for p in re.split(r"\n\s*\n", text))
    return "".join(f"<p>{escape(p, quote=False)}</p>" for p in paras if p)


def _struct_time(raw: str) -> time.struct_time | None:
    """RFC 3339 as feedparser gives dates: a UTC struct_time (a date without a zone keeps its
    wall time; ``digest.feeds`` reads such a date in the newsletter's zone)."""
    try:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            return moment.timetuple()
        return moment.astimezone(UTC).timetuple()
    except (ValueError, OverflowError):  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        return None
