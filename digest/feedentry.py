"""One feed entry, as feedparser (or ``digest.jsonfeed``) gives it, turned into an Article.

``digest.feeds`` reads the whole feed and hands each entry here with a ``FeedContext``;
an entry that cannot be a story (no web link, no date) comes back as None, named in
the context's warnings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple
from urllib.parse import urljoin

from digest.feeddates import entry_date
from digest.feedlimits import MAX_HTML_DEPTH, MAX_TEXT, limit_html
from digest.feedmedia import EntryMedia, entry_image
from digest.feedtext import (
    canonical_url,
    excerpt,
    is_web_url,
    paragraphs,
    plain_text,
    shorten,
    word_count,
)
from digest.models import Article

DEK_CHARS = 200
EXCERPT_CHARS = 600
TITLE_CHARS = 300

# WordPress files a post it was given no category in "Uncategorized": no section label
NO_SECTION = {"uncategorized", "uncategorised"}

# the footer WordPress SEO plugins (Yoast's default) append to every item's text
_POST_FOOTER = re.compile(r"^The post .+ appeared first on .+$", re.DOTALL)
_CUT_MARK = re.compile(r"\s*\[(?:…|\.\.\.)\]$")
# Substack's subscribe box, as its feeds carry it inside every post
_SUBSCRIBE_BOX = re.compile(
    r"^(?:Thanks for reading .{1,200}! Subscribe for free to receive new posts"
    r"(?: and support my work)?\.|.{1,200} is a reader-supported publication\. To receive new "
    r"posts and support my work, consider becoming a free or paid subscriber\.)$"
)


@dataclass(frozen=True)
class FeedContext:
    """What turning one entry into an Article needs to know of its feed."""

    source: str
    base: str  # what the entry's relative links resolve against
    default_section: str | None
    not_sections: set[str]  # casefolded categories that are no section
    warnings: list[str]  # where entries left out, and text cut, are named
    literal_titles: bool = False  # the feed says which titles are plain text (Atom, JSON Feed)
    local_tz: tzinfo = UTC  # a date written without a zone is read in it


class _Text(NamedTuple):
    paragraphs: list[str]  # the story's own text: its content, else its summary
    dek: str
    html: str  # the HTML it came from, where a picture may be found


def entry_article(entry: Any, feed: FeedContext, media: EntryMedia | None) -> Article | None:
    """``entry`` as an Article; None, with a warning, when it has no web link or no date."""
    title = _title(entry, feed.literal_titles)
    guid = (entry.get("id") or "").strip()
    link = _link(entry, guid, feed.base)
    label = title or link or guid or "(an untitled entry)"
    if not link or not is_web_url(link):
        feed.warnings.append(f"{feed.source}: entry {label!r} has no web link and was left out")
        return None
    url = canonical_url(link)
    dates = _dates(entry, feed, title, url)
    if dates is None:
        return None
    text = _text(entry, feed, label, title, media)
    categories = _categories(entry)
    section = next((c for c in categories if c.casefold() not in feed.not_sections), None)
    return Article(
        url=url,
        guid=guid or url,
        title=title or (shorten(text.dek, 80) if text.dek else "(untitled)"),
        dek=text.dek,
        excerpt=excerpt(text.paragraphs, EXCERPT_CHARS),
        section=section or feed.default_section,
        categories=categories,
        authors=_authors(entry),
        published=dates[0],
        updated=dates[1],
        image=entry_image(entry, media, text.html, link),
        source=feed.source,
        word_count=word_count(" ".join(text.paragraphs)),
    )


def _title(entry: Any, literal: bool) -> str:
    raw_title = entry.get("title") or ""
    title_type = (entry.get("title_detail") or {}).get("type") or ""
    if literal and title_type == "text/plain":  # Atom type="text": "<" is a character
        return shorten(" ".join(raw_title.split()), TITLE_CHARS)
    # RSS titles often carry markup and entities, whatever feedparser guesses
    return shorten(plain_text(raw_title), TITLE_CHARS)


def _link(entry: Any, guid: str, base: str) -> str:
    """The story's address, absolute; "" when the entry gives none."""
    # Feedburner's <feedburner:origLink> is the story's own address, not the redirect
    link = (entry.get("feedburner_origlink") or entry.get("link") or "").strip()
    if not link and is_web_url(guid):
        link = guid
    return urljoin(base, link) if link else link


def _dates(
    entry: Any, feed: FeedContext, title: str, url: str
) -> tuple[datetime, datetime | None] | None:
    """When the entry was published, and updated if later; None, with a warning, when it
    gives no date that can be read."""
    published = entry_date(entry, "published", feed.local_tz)
    updated = entry_date(entry, "updated", feed.local_tz)
    if published is None:
        published, updated = updated, None
    if published is None:
        raw = dict.get(entry, "published") or dict.get(entry, "updated")
        detail = f" (unreadable date {raw!r})" if raw else ""
        feed.warnings.append(
            f"{feed.source}: entry {title or '(untitled)'!r} ({url}) has no date{detail} "
            "and was left out"
        )
        return None
    if updated is not None and updated <= published:
        updated = None
    return published, updated


def _text(entry: Any, feed: FeedContext, label: str, title: str, media: EntryMedia | None) -> _Text:
    """The story's paragraphs and its dek, from its content and its summary; a picture's
    caption that the feed also gives as the entry's text is not the story."""
    media_texts = media.descriptions if media else set()
    content_html = _shallow(_content_html(entry, media_texts), feed, label)
    summary_html = _shallow(entry.get("summary") or "", feed, label)
    if summary_html.strip() in media_texts and not content_html:
        summary_html = ""
    body_paras = _story_text(paragraphs(content_html), title) if content_html else []
    summary_paras = _story_text(paragraphs(summary_html), title) if summary_html else []
    full = body_paras or summary_paras
    if summary_paras and (not body_paras or summary_paras != body_paras[: len(summary_paras)]):
        dek = shorten(" ".join(summary_paras), DEK_CHARS)
    else:
        dek = shorten(full[0], DEK_CHARS) if full else ""
    return _Text(full, dek, content_html or summary_html)


def _shallow(html: str, feed: FeedContext, label: str) -> str:
    """``html`` within ``MAX_TEXT`` and ``MAX_HTML_DEPTH`` (nh3 would take minutes over a
    deeper one), with a warning naming the entry when that changed it."""
    if len(html) > MAX_TEXT:
        feed.warnings.append(
            f"{feed.source}: entry {label!r}: only the first {MAX_TEXT:,} characters "
            f"of its {len(html):,} were read"
        )
        html = html[:MAX_TEXT]
    limited = limit_html(html)
    if limited is not html:
        feed.warnings.append(
            f"{feed.source}: entry {label!r}: HTML nested deeper than {MAX_HTML_DEPTH} "
            "levels was unwrapped (its text kept)"
        )
    return limited


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


def _story_text(paras: list[str], title: str) -> list[str]:
    """The story's paragraphs without the feed's "The post … appeared first on …" footer,
    and without a first paragraph that only repeats the title (Medium's <h3>)."""
    named = title.casefold()[:30]  # Yoast's footer names the post: "The post <title> …"
    paras = [
        p
        for p in paras
        if not (_POST_FOOTER.match(p) and named in p.casefold()) and not _SUBSCRIBE_BOX.match(p)
    ]
    if paras and title and paras[0].casefold() == title.casefold():
        paras = paras[1:]
    cut = _CUT_MARK.search(paras[-1]) if paras else None
    if cut:  # WordPress ends a cut excerpt with " [&hellip;]": an ellipsis says it
        paras[-1] = paras[-1][: cut.start()].rstrip(" .,;:") + "…"
    return paras


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


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        if v and v.casefold() not in seen:
            seen.add(v.casefold())
            out.append(v)
    return tuple(out)
