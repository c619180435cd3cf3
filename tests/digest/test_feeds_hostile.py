"""Hostile text in any field of any format is made safe where Articles are built
(digest.feeds.parse_feed, digest.feedtext.safe_article), one bad date costs one entry,
and stories recovered from broken XML are marked."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

import pytest

from digest.feeds import parse_feed
from digest.feedtext import xml_safe
from digest.models import Article, Image

# every character XML 1.0 cannot carry, and the non-characters, as a regex over str
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")

RSS_FIELDS = (
    "title",
    "link",
    "guid",
    "description",
    "content",
    "author",
    "category",
    "media_alt",
    "media_credit",
    "enclosure",
)
# how a feed writes the character: raw bytes (the XML is then not well-formed) or a reference
XML_FORMS = (
    "\x1b",
    "\x00",
    "&#27;",
    "&#x1b;",
    "&#0;",
    "&#x1B;[2J",
    "&#xFFFE;",
    "&#xffff;",
    "&#xD800;",
    "&#55296;",
    "&#8;",
    "&#x85;",
)


def _rss(mark: dict[str, str]) -> bytes:
    """A two-item RSS feed; ``mark`` puts a string into one field of the first item."""
    m = {name: mark.get(name, "") for name in RSS_FIELDS}
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:media="http://search.yahoo.com/mrss/"><channel><title>T</title>
<link>https://hostile.example/</link><description>d</description>
<item><title>Bad{m["title"]} story</title><link>https://hostile.example/bad{m["link"]}</link>
<guid>bad-{m["guid"]}</guid><pubDate>Thu, 19 Nov 2026 10:00:00 +0000</pubDate>
<description>Dek{m["description"]} here.</description>
<content:encoded>&lt;p&gt;Body{m["content"]} text.&lt;/p&gt;</content:encoded>
<author>ed@hostile.example (Ed{m["author"]} Itor)</author><category>World{m["category"]}</category>
<media:content url="https://hostile.example/p.jpg" medium="image">
<media:description>Alt{m["media_alt"]} text</media:description>
<media:credit>Credit{m["media_credit"]}</media:credit></media:content>
<enclosure url="https://hostile.example/e{m["enclosure"]}.jpg" type="image/jpeg"/></item>
<item><title>Good story</title><link>https://hostile.example/good</link>
<pubDate>Thu, 19 Nov 2026 11:00:00 +0000</pubDate><description>Fine.</description></item>
</channel></rss>""".encode()


def _atom(field_name: str, bad: str) -> bytes:
    m = {
        name: bad if name == field_name else ""
        for name in ("title", "summary", "content", "author", "category", "id")
    }
    return f"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>A</title><id>tag:a</id><updated>2026-11-19T10:00:00Z</updated>
<entry><title type="text">Bad{m["title"]} story</title><id>tag:a,bad{m["id"]}</id>
<link href="https://atom-hostile.example/bad"/><updated>2026-11-19T10:00:00Z</updated>
<summary>Sum{m["summary"]}mary</summary>
<content type="html">&lt;p&gt;Bo{m["content"]}dy&lt;/p&gt;</content>
<author><name>An{m["author"]}na</name></author><category term="Wor{m["category"]}ld"/></entry>
<entry><title>Good story</title><id>tag:a,good</id><link href="https://atom-hostile.example/good"/>
<updated>2026-11-19T11:00:00Z</updated></entry></feed>""".encode()


def _json(field_name: str, bad: str) -> bytes:
    item: dict[str, Any] = {
        "id": "bad",
        "url": "https://json-hostile.example/bad",
        "title": "Bad story",
        "summary": "Summary",
        "content_html": "<p>Body</p>",
        "image": "https://json-hostile.example/i.jpg",
        "tags": ["World"],
        "authors": [{"name": "Anna"}],
        "date_published": "2026-11-19T10:00:00Z",
    }
    if field_name == "tags":
        item["tags"] = [f"Wor{bad}ld"]
    elif field_name == "authors":
        item["authors"] = [{"name": f"An{bad}na"}]
    else:
        item[field_name] = item[field_name][:3] + bad + item[field_name][3:]
    good = {
        "id": "good",
        "url": "https://json-hostile.example/good",
        "title": "Good story",
        "date_published": "2026-11-19T11:00:00Z",
    }
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [item, good]}
    ).encode()


def _texts(art: Article) -> list[str]:
    out: list[str] = []
    for f in fields(art):
        value = getattr(art, f.name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, Image):
                out += [s for s in (v.url, v.alt, v.credit) if s]
    return out


def _assert_safe_and_good_kept(body: bytes, source: str) -> list[Article]:
    parsed = parse_feed(body, source=source, url="https://hostile.example/feed")
    titles = [a.title for a in parsed.articles]
    assert "Good story" in titles, (titles, parsed.warnings)
    for art in parsed.articles:
        for text in _texts(art):
            assert not NOT_XML.search(text), (art.title, ascii(text))
    for warning in parsed.warnings:
        assert not NOT_XML.search(warning), ascii(warning)
    return parsed.articles


@pytest.mark.parametrize("form", XML_FORMS)
@pytest.mark.parametrize("field_name", RSS_FIELDS)
def test_rss_any_field_any_form_is_made_safe(field_name: str, form: str) -> None:
    arts = _assert_safe_and_good_kept(_rss({field_name: form}), "RSS")
    assert any(a.title.startswith("Bad") for a in arts)  # the story itself is kept, cleaned


@pytest.mark.parametrize("form", ("\x1b", "&#27;", "&#x1b;", "&#0;", "&#xFFFF;", "&#xDFFF;"))
@pytest.mark.parametrize("field_name", ("title", "summary", "content", "author", "category", "id"))
def test_atom_any_field_any_form_is_made_safe(field_name: str, form: str) -> None:
    _assert_safe_and_good_kept(_atom(field_name, form), "Atom")


@pytest.mark.parametrize(
    "char", ("\x1b", "\x00", "\x0c", "\ud800", "x\udfff", "\ufffe", "\U0001fffe", "\x9b")
)
@pytest.mark.parametrize(
    "field_name", ("title", "summary", "content_html", "url", "id", "image", "tags", "authors")
)
def test_json_feed_any_field_is_made_safe(field_name: str, char: str) -> None:
    _assert_safe_and_good_kept(_json(field_name, char), "JSON")


def test_the_title_keeps_its_text_around_the_removed_character() -> None:
    arts = parse_feed(_rss({"title": "&#27;[2J"}), source="S", url="https://hostile.example/f")
    assert [a.title for a in arts.articles if a.title.startswith("Bad")] == ["Bad[2J story"]


def test_xml_safe_keeps_printable_text_and_whitespace() -> None:
    text = "Zoë's café — 東京 😀 \t\n\r اَلْعَرَبِيَّةُ"
    assert xml_safe(text) == text
    assert xml_safe("a\x1bb\x00c\ud800d\ufffee\U0010ffff\x85") == "abcde"


# --- one bad date costs one entry, in every format -----------------------------------

BAD_DATES = (
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "Mon, 01 Jan 0001 00:00:00 +0100",
    "Fri, 31 Dec 9999 23:59:59 -0100",
)


@pytest.mark.parametrize("date", BAD_DATES)
@pytest.mark.parametrize("kind", ("rss", "atom"))
def test_an_out_of_range_date_costs_its_entry_only_in_rss_and_atom(kind: str, date: str) -> None:
    if kind == "rss":
        body = _rss({}).replace(b"Thu, 19 Nov 2026 10:00:00 +0000", date.encode())
    else:
        body = _atom("", "").replace(
            b"<updated>2026-11-19T10:00:00Z</updated>\n<summary>",
            f"<updated>{date}</updated>\n<summary>".encode(),
        )
    parsed = parse_feed(body, source="Src", url="https://hostile.example/feed")
    assert "Good story" in [a.title for a in parsed.articles]
    bad = [a for a in parsed.articles if a.title.startswith("Bad")]
    # either read as some far-off date (outside any window) or left out, named
    assert bad or any("Src: entry 'Bad story'" in w for w in parsed.warnings), parsed.warnings


# --- stories recovered from XML that is not well-formed ---------------------------------


def test_stories_from_a_malformed_feed_are_marked_and_others_are_not() -> None:
    broken = parse_feed(_rss({"title": "\x1b"}), source="S", url="https://hostile.example/f")
    assert any("not well-formed" in w for w in broken.warnings)
    assert broken.articles and all(a.from_malformed_feed for a in broken.articles)
    fine = parse_feed(_rss({"title": "&#233;"}), source="S", url="https://hostile.example/f")
    assert fine.articles and not any(a.from_malformed_feed for a in fine.articles)
