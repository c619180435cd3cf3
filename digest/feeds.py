"""Turning one feed's bytes into Articles (no network here).

feedparser reads RSS 0.9x/1.0/2.0 and Atom; it is always given bytes, never
a URL, so it never fetches anything itself. JSON Feed: ``digest.jsonfeed``
gives the same shape. One entry's conversion: ``digest.feedentry``; why bytes
are not a feed: ``digest.feeddiagnosis``; pictures: ``digest.feedmedia``.

``parse_feed`` reads as its steps: the bytes prepared (``_prepared``), the
document read (``_read``), its entries converted (``_articles``), and, when
none could be used in a feed with broken XML, the verdict (``_unusable``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, tzinfo
from typing import Any

from digest.errors import FeedProblem, NotJsonFeed
from digest.feeddiagnosis import is_xml_error, not_a_feed_reason, xml_error
from digest.feedentry import NO_SECTION, FeedContext, entry_article
from digest.feedmedia import EntryMedia, raw_media
from digest.feedtext import is_web_url, plain_text, safe_article, shorten
from digest.feedxml import XmlRead, read_xml
from digest.jsonfeed import looks_like_json_feed, parse_json_feed
from digest.models import Article
from digest.safetext import xml_safe
from digest.wording import plural

# The parse budget covers the whole source: its document is read for at most two thirds of
# it, so that the entries read can still become stories in the rest (feeds list the newest
# first, and those are the ones an issue wants).
READ_SHARE = 2 / 3


@dataclass
class ParsedFeed:
    articles: list[Article]
    warnings: list[str] = field(default_factory=list)


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
    body = _prepared(body)
    started = clock()
    read, json_feed = _read(body, content_type, budget, started, clock)
    entries = list(read.parsed.entries)
    if not entries:
        return _without_entries(body, read, source=source, url=url, budget=budget)
    broken = _xml_failure(read.parsed)
    warnings = _reading_notes(read, source, broken, len(entries))
    feed = FeedContext(
        source=source,
        base=_link_base(read.parsed, url),
        default_section=default_section,
        not_sections={s.casefold() for s in not_sections} | NO_SECTION,
        warnings=warnings,
        literal_titles=_literal_titles(read.parsed, json_feed),
        local_tz=local_tz,
    )
    # Media RSS read from the XML itself, when it is all read (a cut one is not worth the time)
    media = None if json_feed or not read.complete else raw_media(read.document, len(entries))
    first_entry_warning = len(warnings)
    deadline = None if budget is None else started + budget
    articles = _articles(entries, feed, media, broken is not None, read, deadline, clock)
    warnings += _stop_notes(read, source, budget)
    # they quote entries' titles; content and summary may have said the same
    warnings = list(dict.fromkeys(xml_safe(w) for w in warnings))
    if not articles and broken is not None:
        left_out = warnings[first_entry_warning:]
        raise FeedProblem(_unusable(broken, left_out, source, len(entries)))
    return ParsedFeed(articles, warnings)


# --- the steps ------------------------------------------------------------------


def _prepared(body: bytes) -> bytes:
    """``body`` as the parsers should see it; ``FeedProblem`` when it is empty."""
    if not body.strip():
        raise FeedProblem("empty response: no feed")
    if b"&#" in body:
        body = _without_surrogate_refs(body)
    if body[:1].isspace() and body.lstrip().startswith(b"<?xml"):
        body = body.lstrip()  # blank lines before the XML declaration (a WordPress plugin's echo)
    return body


def _read(
    body: bytes,
    content_type: str | None,
    budget: float | None,
    started: float,
    clock: Callable[[], float],
) -> tuple[XmlRead, bool]:
    """The document, and whether it is a JSON Feed; XML is read within its share of
    ``budget``."""
    if looks_like_json_feed(body):
        try:
            return XmlRead(parse_json_feed(body), body), True
        except NotJsonFeed as not_json:
            raise FeedProblem(f"not a feed: {not_json}") from None
    # feedparser gets no URL: relative links resolve in digest.feedentry, against the feed's
    deadline = None if budget is None else started + budget * READ_SHARE
    return read_xml(body, content_type=content_type, deadline=deadline, clock=clock), False


def _without_entries(
    body: bytes, read: XmlRead, *, source: str, url: str, budget: float | None
) -> ParsedFeed:
    """An empty feed, with a warning; ``FeedProblem`` when the bytes are no feed, or
    could not be read far enough to find an entry."""
    if not read.complete:
        raise FeedProblem(
            f"cannot be read ({read.failure})"
            if read.failure
            else f"no entry could be read within {_budget(budget)}"
        )
    if not read.parsed.get("version"):
        raise FeedProblem(not_a_feed_reason(body, read.parsed, url))
    return ParsedFeed([], [f"{source}: the feed has no entries"])


def _reading_notes(read: XmlRead, source: str, broken: Any, entries: int) -> list[str]:
    """What reading the document left out or cut, and whether its XML was broken."""
    parsed = read.parsed
    notes = [f"{source}: {note}" for note in read.limits.notes()]
    notes += [f"{source}: {note}" for note in parsed.get("limited") or ()]  # JSON Feed's
    notes += [
        f"{source}: entry {label!r} could not be read ({why}) and was left out"
        for label, why in parsed.get("unreadable") or ()
    ]
    if broken is not None:
        notes.append(
            f"{source}: the feed is not well-formed ({xml_error(broken)}); "
            f"{plural(entries, 'entry', 'entries')} read anyway"
        )
    return notes


def _articles(
    entries: list[Any],
    feed: FeedContext,
    media: list[EntryMedia] | None,
    malformed: bool,
    read: XmlRead,
    deadline: float | None,
    clock: Callable[[], float],
) -> list[Article]:
    """Each entry that is a story, until ``deadline`` (then ``read`` is marked incomplete)."""
    articles: list[Article] = []
    for i, entry in enumerate(entries):
        if deadline is not None and clock() > deadline:
            read.complete = False
            break
        art = _entry_article(i, entry, feed, media[i] if media else None)
        if art is not None:  # the one place Articles are made: their text is made safe here
            articles.append(safe_article(replace(art, from_malformed_feed=malformed)))
    return articles


def _entry_article(
    index: int, entry: Any, feed: FeedContext, media: EntryMedia | None
) -> Article | None:
    try:
        return entry_article(entry, feed, media)
    except Exception as exc:  # noqa: BLE001 -- one unreadable entry is left out, not the feed
        label = shorten(plain_text(str(entry.get("title") or "")), 80) or f"number {index + 1}"
        feed.warnings.append(
            f"{feed.source}: entry {label!r} could not be read ({exc}) and was left out"
        )
        return None


def _stop_notes(read: XmlRead, source: str, budget: float | None) -> list[str]:
    """Why the rest of the feed was left out, when it was."""
    if read.failure:
        note = (
            f"{source}: reading stopped ({read.failure}); the entries before are "
            "kept, the rest of the feed is left out"
        )
        return [note]
    if not read.complete:
        note = (
            f"{source}: reading stopped when {_budget(budget)} ran out; the "
            "entries read until then are kept, the rest of the feed is left out"
        )
        return [note]
    return []


def _unusable(broken: Any, left_out: list[str], source: str, entries: int) -> str:
    """The verdict on a feed whose forgiving parse gave nothing usable: the XML error
    itself, and why the entries it did read were left out (often the real cause)."""
    reason = xml_error(broken)
    if left_out:
        why = left_out[0].removeprefix(f"{source}: ")
        what = (
            "its only entry could not be used"
            if entries == 1
            else f"none of its {entries:,} entries could be used"
        )
        reason += f"; {what} ({why})"
    return reason


# --- what the steps consult -------------------------------------------------------


def _xml_failure(parsed: Any) -> Any:
    """The XML error feedparser read past (its ``bozo_exception``), or None."""
    exc = parsed.get("bozo_exception")
    return exc if parsed.get("bozo") and is_xml_error(exc) else None


def _literal_titles(parsed: Any, json_feed: bool) -> bool:
    # Atom and JSON Feed titles say whether they are text; "<" in a text title is a character
    return json_feed or str(parsed.get("version") or "").startswith("atom")


def _link_base(parsed: Any, url: str) -> str:
    """What the entries' relative links resolve against: where the feed came from, or,
    for a feed file on disk, the site the feed names."""
    if is_web_url(url):
        return url
    site = str(parsed.feed.get("link") or "")
    return site if is_web_url(site) else url


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
