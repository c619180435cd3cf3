"""Pictures of feed entries, with their credit and alt text.

Media RSS details feedparser flattens or loses (which credit and description
belong to which image) are read from the XML directly when the document is
well-formed and declares no entities; otherwise feedparser's view is used.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from digest.feedtext import canonical_url, is_web_url, plain_text, shorten
from digest.models import Image

MEDIA_NS = "http://search.yahoo.com/mrss/"
_ATOM_NS = "http://www.w3.org/2005/Atom"
_RSS1_NS = "http://purl.org/rss/1.0/"
_IMAGE_EXT = re.compile(r"\.(jpe?g|png|gif|webp|avif)(\?|$)", re.IGNORECASE)


@dataclass(frozen=True)
class _Media:
    url: str
    medium: str | None
    type: str | None
    alt: str | None
    credit: str | None


@dataclass
class EntryMedia:
    """One entry's Media RSS, as the XML gives it."""

    contents: list[_Media] = field(default_factory=list)
    thumbnails: list[_Media] = field(default_factory=list)
    descriptions: set[str] = field(default_factory=set)


def _clean_optional(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    cleaned = shorten(plain_text(text), limit)
    return cleaned or None


def _is_image(m: _Media) -> bool:
    if m.medium:
        return m.medium.lower() == "image"
    if m.type:
        return m.type.lower().startswith("image/")
    return bool(_IMAGE_EXT.search(m.url))


def entry_image(entry: Any, media: EntryMedia | None, html: str, link: str) -> Image | None:
    """The entry's picture: media:content, media:thumbnail, an image enclosure, or the
    first <img> of ``html``; only http(s), relative URLs resolved against ``link``."""
    if media is None:
        media = _feedparser_media(entry)
    candidates = [m for m in media.contents if _is_image(m)] + media.thumbnails
    for enc in entry.get("enclosures") or []:
        etype = (enc.get("type") or "").lower()
        href = enc.get("href") or enc.get("url") or ""
        if etype.startswith("image/") or (not etype and _IMAGE_EXT.search(href)):
            candidates.append(_Media(href, None, etype, None, None))
    img = _first_img(html)
    if img:
        candidates.append(_Media(img[0], None, None, img[1], None))
    for m in candidates:
        if not m.url.strip():
            continue
        try:
            url = urljoin(link, m.url.strip())
        except ValueError:  # "http://[::1": not an address; the next candidate may be
            continue
        if is_web_url(url):
            return Image(
                url=canonical_url(url),
                alt=_clean_optional(m.alt, 300),
                credit=_clean_optional(m.credit, 200),
            )
    return None


def _feedparser_media(entry: Any) -> EntryMedia:
    """Media from feedparser's flattened view (used when the XML is not well-formed)."""
    credits = [c.get("content") for c in entry.get("media_credit") or [] if c.get("content")]
    credit = credits[0] if credits else None
    out = EntryMedia()
    for m in entry.get("media_content") or []:
        out.contents.append(
            _Media(m.get("url") or "", m.get("medium"), m.get("type"), None, credit)
        )
    for m in entry.get("media_thumbnail") or []:
        out.thumbnails.append(_Media(m.get("url") or "", "image", None, None, credit))
    return out


class _FirstImg(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: tuple[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is None and tag == "img":
            a = dict(attrs)
            src = a.get("src")
            if src and not _is_decoration(a):
                self.found = (src, a.get("alt"))


_TINY_PX = 32  # smaller than this (width or height) is a tracking pixel or an icon


def _is_decoration(attrs: dict[str, str | None]) -> bool:
    """A tracking pixel (Medium, Feedburner: 1x1) or an emoji (WordPress), not a picture."""
    if "emoji" in (attrs.get("class") or "").lower().split():
        return True
    for dim in ("width", "height"):
        value = (attrs.get(dim) or "").strip().lower().removesuffix("px")
        if value.isdigit() and int(value) < _TINY_PX:
            return True
    return False


def _first_img(html: str) -> tuple[str, str | None] | None:
    if "<img" not in html.lower():
        return None
    p = _FirstImg()
    p.feed(html)
    p.close()
    return p.found


def raw_media(body: bytes, count: int) -> list[EntryMedia] | None:
    """Media RSS per entry, read from the XML itself (None if it cannot be read exactly).

    Documents that declare entities are not parsed here (no entity expansion
    of untrusted input); feedparser's flattened view is used instead.
    """
    if b"<!ENTITY" in body or MEDIA_NS.encode() not in body:
        return None
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError):
        return None
    items = [
        el
        for el in root.iter()
        if el.tag in ("item", f"{{{_RSS1_NS}}}item", f"{{{_ATOM_NS}}}entry")
    ]
    if len(items) != count:
        return None
    return [_item_media(item) for item in items]


def _text(el: ET.Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _item_media(item: ET.Element) -> EntryMedia:
    m = f"{{{MEDIA_NS}}}"
    out = EntryMedia()
    # item-level (or group-level) credit/description apply to media that give none
    item_credit = _text(item.find(f"{m}credit"))
    item_alt = _text(item.find(f"{m}description")) or _text(item.find(f"{m}title"))
    for el in item.iter():
        if el.tag == f"{m}description" and _text(el):
            out.descriptions.add(_text(el) or "")
    for group in item.findall(f"{m}group"):
        # a video's description (YouTube) is the entry's text, not a picture's caption
        contents = group.findall(f"{m}content")
        if contents and not any(
            _is_image(_Media(c.get("url") or "", c.get("medium"), c.get("type"), None, None))
            for c in contents
        ):
            out.descriptions.discard(_text(group.find(f"{m}description")) or "")
    groups = [item] + item.findall(f"{m}group")
    for group in groups:
        g_credit = _text(group.find(f"{m}credit")) or item_credit
        g_alt = _text(group.find(f"{m}description")) or _text(group.find(f"{m}title")) or item_alt
        for el in group.findall(f"{m}content"):
            alt = _text(el.find(f"{m}description")) or _text(el.find(f"{m}title")) or g_alt
            credit = _text(el.find(f"{m}credit")) or g_credit
            out.contents.append(
                _Media(el.get("url") or "", el.get("medium"), el.get("type"), alt, credit)
            )
            for th in el.findall(f"{m}thumbnail"):
                out.thumbnails.append(_Media(th.get("url") or "", "image", None, alt, credit))
        for th in group.findall(f"{m}thumbnail"):
            out.thumbnails.append(_Media(th.get("url") or "", "image", None, g_alt, g_credit))
    return out
