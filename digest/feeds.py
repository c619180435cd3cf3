"""Turning one feed's bytes into Articles (no network here).

feedparser reads RSS 0.9x/1.0/2.0 and Atom; it is always given bytes, never
a URL, so it never fetches anything itself. JSON Feed: ``digest.jsonfeed``
gives the same shape. Pictures: see ``digest.feedmedia``.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import feedparser

from digest.feedlimits import MAX_HTML_DEPTH, MAX_TEXT, limit_html
from digest.feedmedia import EntryMedia, entry_image, raw_media
from digest.feedtext import (
    canonical_url,
    excerpt,
    is_web_url,
    paragraphs,
    plain_text,
    safe_article,
    shorten,
    word_count,
)
from digest.feedxml import XmlRead, read_xml
from digest.jsonfeed import NotJsonFeed, looks_like_json_feed, parse_json_feed
from digest.models import Article
from digest.safetext import xml_safe
from digest.wording import plural

# feedparser reads RFC 822 zone names from a table of US zones and takes any other name
# for UTC: "10:00 CEST" became 10:00 UTC, two hours late. Unambiguous names publishers
# use are added (hours east of UTC); IST (India? Ireland? Israel?) stays unknown.
for _zone, _hours in {"wet": 0, "bst": 1, "west": 1, "cet": 1, "cest": 2, "eet": 2, "eest": 3,
                      "msk": 3, "hkt": 8, "sgt": 8, "awst": 8, "jst": 9, "kst": 9,
                      "aest": 10, "aedt": 11, "nzst": 12, "nzdt": 13}.items():
    feedparser.datetimes.rfc822.timezone_names.setdefault(_zone, _hours)

DEK_CHARS = 200
EXCERPT_CHARS = 600
TITLE_CHARS = 300
# The parse budget covers the whole source: its document is read for at most two thirds of
# it, so that the entries read can still become stories in the rest (feeds list the newest
# first, and those are the ones an issue wants).
READ_SHARE = 2 / 3


class FeedProblem(Exception):
    """The bytes are not a usable feed; the message is the reason an editor reads."""


@dataclass
class ParsedFeed:
    articles: list[Article]
    warnings: list[str] = field(default_factory=list)


# --- the whole feed -------------------------------------------------------------


def parse_feed(
    body: bytes,
    *,
    source: str,
    url: str,
    default_section: str | None = None,
    content_type: str | None = None,
    not_sections: Iterable[str] = (),
    local_tz: tzinfo = UTC,
    budget: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ParsedFeed:
    """Every dated entry of the feed in ``body`` as an Article.

    ``url`` is where the bytes came from (relative links resolve against it).
    A date written without any zone is read in ``local_tz`` (the newsletter's).
    Raises ``FeedProblem`` when the bytes are empty, not a feed, or XML so
    broken that no entry can be read. Entries without a date or a link are
    left out and named in ``warnings``. Past ``budget`` seconds (``clock``'s) no
    further entry is read (see ``READ_SHARE``); those read are kept, with a warning.
    Every Article's text is ``xml_safe``, and it is marked when the XML was broken.
    """
    if not body.strip():
        raise FeedProblem("empty response: no feed")
    if b"&#" in body:
        body = _without_surrogate_refs(body)
    if body[:1].isspace() and body.lstrip().startswith(b"<?xml"):
        body = body.lstrip()  # blank lines before the XML declaration (a WordPress plugin's echo)
    started = clock()
    json_feed = looks_like_json_feed(body)
    if json_feed:
        try:
            read = XmlRead(parse_json_feed(body), body)
        except NotJsonFeed as not_json:
            raise FeedProblem(f"not a feed: {not_json}") from None
    else:  # feedparser gets no URL: relative links resolve here, against the feed's
        deadline = None if budget is None else started + budget * READ_SHARE
        read = read_xml(body, content_type=content_type, deadline=deadline, clock=clock)
    parsed = read.parsed
    # Atom and JSON Feed titles say whether they are text; "<" in a text title is a character
    literal_titles = json_feed or str(parsed.get("version") or "").startswith("atom")
    warnings = [f"{source}: {note}" for note in read.limits.notes()]
    warnings += [f"{source}: {note}" for note in parsed.get("limited") or ()]  # JSON Feed's
    warnings += [f"{source}: entry {label!r} could not be read ({why}) and was left out"
                 for label, why in parsed.get("unreadable") or ()]
    entries = list(parsed.entries)
    if not entries and not read.complete:
        raise FeedProblem(f"cannot be read ({read.failure})" if read.failure
                          else f"no entry could be read within {_budget(budget)}")
    if not entries:
        if not parsed.get("version"):
            raise FeedProblem(_not_a_feed_reason(body, parsed, url))
        return ParsedFeed([], [f"{source}: the feed has no entries"])
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        if _is_xml_error(exc):
            warnings.append(
                f"{source}: the feed is not well-formed ({_xml_error(exc)}); "
                f"{plural(len(entries), 'entry', 'entries')} read anyway"
            )
    # Media RSS read from the XML itself, when it is all read (a cut one is not worth the time)
    media = None if json_feed or not read.complete else raw_media(read.document, len(entries))
    malformed = bool(parsed.get("bozo")) and _is_xml_error(parsed.get("bozo_exception"))
    skip = {s.casefold() for s in not_sections} | _NO_SECTION
    base = url
    if not is_web_url(url):  # a feed file on disk: relative links belong to its site
        site = str(parsed.feed.get("link") or "")
        if is_web_url(site):
            base = site
    articles: list[Article] = []
    first_entry_warning = len(warnings)
    for i, entry in enumerate(entries):
        if budget is not None and clock() > started + budget:
            read.complete = False
            break
        try:
            art = _article(
                entry,
                source=source,
                base=base,
                default_section=default_section,
                media=media[i] if media else None,
                not_sections=skip,
                warnings=warnings,
                literal_titles=literal_titles,
                local_tz=local_tz,
            )
        except Exception as exc:  # noqa: BLE001 -- one unreadable entry is left out, not the feed
            label = shorten(plain_text(str(entry.get("title") or "")), 80) or f"number {i + 1}"
            warnings.append(f"{source}: entry {label!r} could not be read ({exc}) and was left out")
            continue
        if art is not None:  # the one place Articles are made: their text is made safe here
            articles.append(safe_article(replace(art, from_malformed_feed=malformed)))
    if read.failure:
        warnings.append(f"{source}: reading stopped ({read.failure}); the entries before are "
                        "kept, the rest of the feed is left out")
    elif not read.complete:
        warnings.append(f"{source}: reading stopped when {_budget(budget)} ran out; the "
                        "entries read until then are kept, the rest of the feed is left out")
    # they quote entries' titles; content and summary may have said the same
    warnings = list(dict.fromkeys(xml_safe(w) for w in warnings))
    if not articles and parsed.get("bozo") and _is_xml_error(parsed.get("bozo_exception")):
        # what the forgiving parser recovered was unusable: report the XML error itself,
        # and why the entries it did read were left out (often the real cause)
        reason = _xml_error(parsed.get("bozo_exception"))
        left_out = warnings[first_entry_warning:]
        if left_out:
            why = left_out[0].removeprefix(f"{source}: ")
            what = ("its only entry could not be used" if len(entries) == 1
                    else f"none of its {len(entries):,} entries could be used")
            reason += f"; {what} ({why})"
        raise FeedProblem(reason)
    return ParsedFeed(articles, warnings)


def _budget(seconds: float | None) -> str:
    return f"its parse budget of {seconds or 0:g} s ([selection] parse_budget_seconds)"


# Emoji written as UTF-16 surrogate references ("&#55357;&#56832;", JavaScript-made
# feeds) make feedparser raise and lose the whole feed: each pair becomes its
# character, and a lone half U+FFFD.
_SURROGATE_REF = rb"&#(?:[xX]0*([dD][89a-fA-F][0-9a-fA-F]{2})|0*(5[5-7][0-9]{3}));"
_SURROGATE_PAIR = re.compile(_SURROGATE_REF + _SURROGATE_REF)
_SURROGATE_LONE = re.compile(_SURROGATE_REF)


def _code(hexa: bytes | None, dec: bytes | None) -> int:
    return int(hexa, 16) if hexa else int(dec or b"0")


def _pair(match: re.Match[bytes]) -> bytes:
    high, low = _code(match[1], match[2]), _code(match[3], match[4])
    if 0xD800 <= high <= 0xDBFF and 0xDC00 <= low <= 0xDFFF:
        return b"&#x%X;" % (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    return match[0]


def _lone(match: re.Match[bytes]) -> bytes:
    return b"&#xFFFD;" if 0xD800 <= _code(match[1], match[2]) <= 0xDFFF else match[0]


def _without_surrogate_refs(body: bytes) -> bytes:
    return _SURROGATE_LONE.sub(_lone, _SURROGATE_PAIR.sub(_pair, body))


def _is_xml_error(exc: object) -> bool:
    return exc is not None and hasattr(exc, "getLineNumber")


def _xml_error(exc: Any) -> str:
    msg = exc.getMessage() if hasattr(exc, "getMessage") else str(exc)
    return f"XML error at line {exc.getLineNumber()}: {msg}"


def _snippet(body: bytes, limit: int = 60) -> str:
    text = body.lstrip(b"\xef\xbb\xbf").decode("utf-8", "replace")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit] + ("…" if len(text) > limit else "")


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


_FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/rdf+xml",
               "application/feed+json"}


def _announced_feed(body: bytes, url: str) -> str | None:
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


def _not_a_feed_reason(body: bytes, parsed: Any, url: str = "") -> str:
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:200].lower()
    looks_html = head.startswith((b"<!doctype html", b"<html")) or b"<html" in head
    exc = parsed.get("bozo_exception")
    if head.startswith(b"<") and not looks_html and _is_xml_error(exc):
        return _xml_error(exc)
    if looks_html:
        feed = _announced_feed(body, url)
        if feed:
            return f"a web page, not a feed; the page names its feed: {feed} (use that as the url)"
    snippet = _snippet(body)
    if "\ufffd" in snippet or any(ord(c) < 32 for c in snippet):  # raw bytes are no message
        kind = "gzip-compressed data" if body.startswith(b"\x1f\x8b") else "binary data"
        return f"not a feed: {kind} ({len(body):,} bytes)"
    return f"not a feed: {snippet}"


# --- one entry ------------------------------------------------------------------


def _article(
    entry: Any,
    *,
    source: str,
    base: str,
    default_section: str | None,
    media: EntryMedia | None,
    not_sections: set[str],
    warnings: list[str],
    literal_titles: bool = False,
    local_tz: tzinfo = UTC,
) -> Article | None:
    raw_title = entry.get("title") or ""
    title_type = (entry.get("title_detail") or {}).get("type") or ""
    if literal_titles and title_type == "text/plain":  # Atom type="text": "<" is a character
        title = shorten(" ".join(raw_title.split()), TITLE_CHARS)
    else:  # RSS titles often carry markup and entities, whatever feedparser guesses
        title = shorten(plain_text(raw_title), TITLE_CHARS)
    # Feedburner's <feedburner:origLink> is the story's own address, not the redirect
    link = (entry.get("feedburner_origlink") or entry.get("link") or "").strip()
    guid = (entry.get("id") or "").strip()
    if not link and is_web_url(guid):
        link = guid
    if link:
        link = urljoin(base, link)
    label = title or link or guid or "(an untitled entry)"
    if not link or not is_web_url(link):
        warnings.append(f"{source}: entry {label!r} has no web link and was left out")
        return None
    url = canonical_url(link)
    published = _date(entry, "published", local_tz)
    updated = _date(entry, "updated", local_tz)
    if published is None:
        published, updated = updated, None
    if published is None:
        raw = dict.get(entry, "published") or dict.get(entry, "updated")
        detail = f" (unreadable date {raw!r})" if raw else ""
        warnings.append(
            f"{source}: entry {title or '(untitled)'!r} ({url}) has no date{detail} and was left out"
        )
        return None
    if updated is not None and updated <= published:
        updated = None

    media_texts = media.descriptions if media else set()
    content_html = _shallow(_content_html(entry, media_texts), source, label, warnings)
    summary_html = _shallow(entry.get("summary") or "", source, label, warnings)
    if summary_html.strip() in media_texts and not content_html:
        summary_html = ""
    body_paras = _story_text(paragraphs(content_html), title) if content_html else []
    summary_paras = _story_text(paragraphs(summary_html), title) if summary_html else []
    full = body_paras or summary_paras
    if summary_paras and (not body_paras or summary_paras != body_paras[: len(summary_paras)]):
        dek = shorten(" ".join(summary_paras), DEK_CHARS)
    else:
        dek = shorten(full[0], DEK_CHARS) if full else ""
    if not title:
        title = shorten(dek, 80) if dek else "(untitled)"

    categories = _categories(entry)
    section = next((c for c in categories if c.casefold() not in not_sections), None)
    return Article(
        url=url,
        guid=guid or url,
        title=title,
        dek=dek,
        excerpt=excerpt(full, EXCERPT_CHARS),
        section=section or default_section,
        categories=categories,
        authors=_authors(entry),
        published=published,
        updated=updated,
        image=entry_image(entry, media, content_html or summary_html, link),
        source=source,
        word_count=word_count(" ".join(full)),
    )


def _shallow(html: str, source: str, label: str, warnings: list[str]) -> str:
    """``html`` within ``MAX_TEXT`` and ``MAX_HTML_DEPTH`` (nh3 would take minutes over a
    deeper one), with a warning naming the entry when that changed it."""
    if len(html) > MAX_TEXT:
        warnings.append(f"{source}: entry {label!r}: only the first {MAX_TEXT:,} characters "
                        f"of its {len(html):,} were read")
        html = html[:MAX_TEXT]
    limited = limit_html(html)
    if limited is not html:
        warnings.append(f"{source}: entry {label!r}: HTML nested deeper than {MAX_HTML_DEPTH} "
                        "levels was unwrapped (its text kept)")
    return limited


# WordPress files a post it was given no category in "Uncategorized": no section label
_NO_SECTION = {"uncategorized", "uncategorised"}

# the footer WordPress SEO plugins (Yoast's default) append to every item's text
_POST_FOOTER = re.compile(r"^The post .+ appeared first on .+$", re.DOTALL)
_CUT_MARK = re.compile(r"\s*\[(?:…|\.\.\.)\]$")
# Substack's subscribe box, as its feeds carry it inside every post
_SUBSCRIBE_BOX = re.compile(
    r"^(?:Thanks for reading .{1,200}! Subscribe for free to receive new posts"
    r"(?: and support my work)?\.|.{1,200} is a reader-supported publication\. To receive new "
    r"posts and support my work, consider becoming a free or paid subscriber\.)$"
)


def _story_text(paras: list[str], title: str) -> list[str]:
    """The story's paragraphs without the feed's "The post … appeared first on …" footer,
    and without a first paragraph that only repeats the title (Medium's <h3>)."""
    named = title.casefold()[:30]  # Yoast's footer names the post: "The post <title> …"
    paras = [p for p in paras if not (_POST_FOOTER.match(p) and named in p.casefold())
             and not _SUBSCRIBE_BOX.match(p)]
    if paras and title and paras[0].casefold() == title.casefold():
        paras = paras[1:]
    cut = _CUT_MARK.search(paras[-1]) if paras else None
    if cut:  # WordPress ends a cut excerpt with " [&hellip;]": an ellipsis says it
        paras[-1] = paras[-1][: cut.start()].rstrip(" .,;:") + "…"
    return paras


# a date, or a time of day, with nothing after it: no zone (feedparser would say UTC)
_NO_ZONE = re.compile(r"(?:^\d{4}-\d{2}-\d{2}|(?<![+\-\d])\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)$")


def _date(entry: Any, key: str, local_tz: tzinfo = UTC) -> datetime | None:
    # dict.get: FeedParserDict.get would quietly map updated_parsed to published_parsed
    parsed: time.struct_time | None = dict.get(entry, f"{key}_parsed")
    raw = dict.get(entry, key)
    if not parsed:
        return _rfc822_date(raw, local_tz) if isinstance(raw, str) else None
    try:
        if isinstance(raw, str) and _NO_ZONE.search(raw.strip()):
            # the publisher's wall time: far likelier the newsletter's zone than UTC
            return datetime(*parsed[:6], tzinfo=local_tz).astimezone(UTC)
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _rfc822_date(raw: str, local_tz: tzinfo) -> datetime | None:
    """What feedparser gives up on: "Wed, 18 Nov 2026 10:00:00" (a weekday but no zone)."""
    try:
        found = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if found.tzinfo is None:
        found = found.replace(tzinfo=local_tz)
    try:
        return found.astimezone(UTC)
    except OverflowError:  # "31 Dec 9999 23:59:59 -0100" is past the last datetime in UTC
        return None


def _content_html(entry: Any, media_texts: set[str]) -> str:
    """The entry's full content (content:encoded, atom:content), preferring HTML."""
    items = [
        c
        for c in entry.get("content") or []
        if (c.get("value") or "").strip() and c.get("value", "").strip() not in media_texts
    ]
    if not items:
        return ""
    html = [c for c in items if "html" in (c.get("type") or "")]
    best = max(html or items, key=lambda c: len(c.get("value") or ""))
    return str(best.get("value") or "")


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        if v and v.casefold() not in seen:
            seen.add(v.casefold())
            out.append(v)
    return tuple(out)


def _categories(entry: Any) -> tuple[str, ...]:
    terms: list[str] = []
    for tag in entry.get("tags") or []:
        term = plain_text(tag.get("term") or tag.get("label") or "")
        if term:
            terms.append(shorten(term, 80))
    return _dedupe(terms)


def _authors(entry: Any) -> tuple[str, ...]:
    names = [plain_text(a.get("name") or "") for a in entry.get("authors") or []]
    if not any(names) and entry.get("author"):
        names = [plain_text(entry.get("author") or "")]
    return _dedupe(shorten(n, 120) for n in names)
