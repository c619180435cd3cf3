"""digest.feedxml.read_xml reads what feedparser.parse reads, a piece at a time, and a
deadline stops it between pieces keeping only complete entries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest

import digest.feedxml
from digest.feedxml import read_xml
from tests.conftest import REPO

ROOT = REPO
DOCUMENTS = sorted((ROOT / "tests" / "data" / "feeds").iterdir()) + [ROOT / "examples" / "feed.xml"]


def _view(parsed: Any) -> tuple[Any, ...]:
    entries = [
        (
            e.get("title"),
            e.get("link"),
            e.get("id"),
            e.get("published"),
            e.get("summary"),
            [t.get("term") for t in e.get("tags", [])],
            [c.get("value") for c in e.get("content", [])],
            e.get("media_content"),
        )
        for e in parsed.entries
    ]
    return (
        parsed.get("version"),
        bool(parsed.get("bozo")),
        str(parsed.get("bozo_exception")),
        dict(parsed.get("feed", {})).get("title"),
        entries,
    )


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
@pytest.mark.parametrize("piece", [64 * 1024, 97])
def test_reads_what_feedparser_reads(
    path: Path, piece: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digest.feedxml, "PIECE", piece)  # 97: many pieces, even in small files
    body = path.read_bytes()
    expected = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    read = read_xml(body)
    assert read.complete and _view(read.parsed) == _view(expected)


def _ticking(step: float) -> Callable[[], float]:
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def _items(n: int, *, broken: bool = False) -> bytes:
    items = "".join(
        f"<item><title>Story {i}</title><link>https://x.example/{i}</link></item>" for i in range(n)
    )
    title = "T & co" if broken else "T"  # a bare "&": the loose parser reads it
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}'
        "</channel></rss>".encode()
    )


@pytest.mark.parametrize("broken", [False, True], ids=["strict", "loose"])
def test_a_deadline_keeps_the_complete_entries_read_before_it(
    broken: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digest.feedxml, "PIECE", 1000)
    body = _items(1000, broken=broken)
    read = read_xml(body, deadline=5.0, clock=_ticking(1.0))  # past it after about 5 pieces
    titles = [e.get("title") for e in read.parsed.entries]
    assert not read.complete and 0 < len(titles) < 100
    assert titles == [f"Story {i}" for i in range(len(titles))]
    assert all(e.get("link") for e in read.parsed.entries)  # no entry cut in the middle
    assert bool(read.parsed.get("bozo")) is broken


def test_where_feedparser_itself_fails_the_entries_before_are_kept() -> None:
    from digest.feeds import parse_feed

    # a broken tag feedparser's loose parser trips over (KeyError 'media_credit'): feedparser
    # .parse raises, and the whole source used to be lost
    doc = b"""<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>T & co</title>
<item><title>One</title><link>https://x.example/1</link>
<pubDate>Thu, 19 Nov 2026 10:00:00 +0000</pubDate></item>
<item><title>Two</title><link>https://x.example/2</link><pubDate>Thu, 19 Nov 2026 10:00:00 +0000</pubDate>
<media:content url="https://x.example/p.jpg"><media:credit</item> role="x">S</media:credit>
</media:content></item>
<item><title>Three</title><link>https://x.example/3</link></item></channel></rss>"""
    with pytest.raises(KeyError):
        feedparser.parse(doc)
    parsed = parse_feed(doc, source="Wire", url="https://x.example/feed")
    assert [a.title for a in parsed.articles] == ["One", "Two"]
    assert (
        "Wire: reading stopped (feedparser failed: KeyError: 'media_credit'); the entries "
        "before are kept, the rest of the feed is left out"
    ) in parsed.warnings
