"""Bounded work per source: nesting, repeat and attribute limits before feedparser and nh3
(digest.feedlimits), and the per-source parse budget (digest.feeds, selection.parse_budget_seconds).

The pathological inputs of issue 11 took 20 s to over 300 s each; the time bounds below are
only there to catch a hang (real figures: docs/selection.md and the issue's report)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from digest.collect import collect
from digest.config import parse_config
from digest.feedlimits import (
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    MAX_ELEMENT_TEXT,
    MAX_REPEATS,
    MAX_TEXT,
    limit_html,
    limit_xml,
)
from digest.feeds import parse_feed
from tests.conftest import REPO

HANG = 30.0  # seconds: far above the real figures, far below the minutes it took before

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
    "<link>https://limits.example/</link><description>d</description>"
)
GOOD = (
    "<item><title>Good</title><link>https://limits.example/good</link>"
    "<pubDate>Thu, 19 Nov 2026 10:00:00 +0000</pubDate><description>Fine.</description></item>"
)
TAIL = "</channel></rss>"


def _feed(bad_item_body: str, *, items: str = GOOD) -> bytes:
    bad = (
        "<item><title>Bad</title><link>https://limits.example/bad</link>"
        f"<pubDate>Thu, 19 Nov 2026 11:00:00 +0000</pubDate>{bad_item_body}</item>"
    )
    return (HEAD + bad + items + TAIL).encode()


def _timed(body: bytes) -> tuple[float, list[str], dict[str, str]]:
    started = time.monotonic()
    parsed = parse_feed(body, source="Wire", url="https://limits.example/feed")
    took = time.monotonic() - started
    return took, parsed.warnings, {a.title: a.excerpt for a in parsed.articles}


def test_100k_categories_on_one_item_are_cut_with_a_warning() -> None:
    categories = "".join(f"<category>c{i}</category>" for i in range(100_000))  # 2.9 MB
    took, warnings, stories = _timed(_feed(categories))
    assert took < HANG
    assert set(stories) == {"Bad", "Good"}
    assert (
        f"Wire: 99,900 <category> elements beyond {MAX_REPEATS} in one element were left out"
        in warnings
    )


@pytest.mark.parametrize("n", [80_000, 1_000_000])  # 0.9 MB and 11 MB (the size cap is 20)
def test_html_nested_deep_is_unwrapped_with_a_warning(n: int) -> None:
    html = "<div>" * n + "deep text" + "</div>" * n
    took, warnings, stories = _timed(_feed(f"<description><![CDATA[{html}]]></description>"))
    assert took < HANG
    assert (
        "Wire: entry 'Bad': HTML nested deeper than 256 levels was unwrapped (its text kept)"
        in warnings
    )
    assert "Good" in stories
    if len(html) < MAX_TEXT:
        assert stories["Bad"] == "deep text"
    else:  # the words come after 5 MB of tags: past what is read of one text
        assert (
            "Wire: entry 'Bad': only the first 1,000,000 characters of its 11,000,009 were read"
            in warnings
        )


def test_xml_nested_a_million_levels_deep_is_unwrapped_with_a_warning() -> None:
    n = 1_000_000
    xml = "<div>" * n + "deep" + "</div>" * n
    took, warnings, stories = _timed(_feed(f"<description>{xml}</description>"))
    assert took < HANG
    assert set(stories) == {"Bad", "Good"}
    assert any(
        w.startswith("Wire: ") and f"nested deeper than {MAX_DEPTH} levels" in w for w in warnings
    )


def test_100k_attributes_on_one_element_are_cut_with_a_warning() -> None:
    attributes = " ".join(f'a{i}="v"' for i in range(100_000))
    took, warnings, stories = _timed(_feed(f"<description {attributes}>Fine too.</description>"))
    assert took < HANG
    assert stories["Bad"] == "Fine too."
    assert (
        f"Wire: 99,936 attributes beyond {MAX_ATTRIBUTES} on one element were left out" in warnings
    )


def test_megabytes_of_text_in_one_element_are_cut_before_feedparser() -> None:
    escaped = "&lt;b&gt;" * 2_000_000  # 18 MB of escaped markup in one description
    took, warnings, stories = _timed(_feed(f"<description>{escaped}deep</description>"))
    assert took < HANG
    assert set(stories) == {"Bad", "Good"}
    assert f"Wire: the text of 1 element(s) was cut at {MAX_ELEMENT_TEXT:,} bytes" in warnings


# --- limit_xml and limit_html on their own ---------------------------------------------


def test_a_document_within_the_limits_is_returned_as_it_is() -> None:
    body = (REPO / "examples" / "feed.xml").read_bytes()
    out, cut = limit_xml(body)
    assert out is body and not cut.notes()


@pytest.mark.parametrize("filler", ["é", "&lt;", "&#233;", "😀"])
def test_a_long_text_is_cut_between_characters_and_references(filler: str) -> None:
    body = f"<rss><channel><item><title>{filler * 1_000_003}</title></item></channel></rss>"
    out, cut = limit_xml(body.encode())
    ET.fromstring(out)  # still well-formed
    assert len(out) <= MAX_ELEMENT_TEXT + 100 and cut.long_texts == 1


def test_cuts_keep_the_document_well_formed_and_the_text_of_unwrapped_elements() -> None:
    body = _feed(
        "<description>"
        + "<b>" * 100
        + "kept"
        + "</b>" * 100
        + "</description>"
        + "<category>c</category>" * 150
    )
    out, cut = limit_xml(body)
    root = ET.fromstring(out)
    assert "kept" in "".join(root.itertext())
    assert len(root.findall("./channel/item[1]/category")) == MAX_REPEATS
    assert len(root.findall("./channel/item")) == 2  # entries are never capped
    assert cut.too_deep == 100 - (MAX_DEPTH - 4) and cut.repeats == {b"category": 50}


def test_stray_tags_of_a_broken_feed_never_cost_the_entries_after_them() -> None:
    # 300 unclosed <br> inside one description (HTML pasted unescaped): deep, but the
    # description's end closes them all, so the next entries are untouched
    body = _feed("<description>" + "line<br>" * 300 + "</description>", items=GOOD * 3)
    out, _ = limit_xml(body)
    assert out.count(b"<item>") == 4 and out.endswith(b"</item></channel></rss>")


def test_limit_html_caps_depth_keeps_text_and_leaves_paragraph_runs_alone() -> None:
    deep = "<div>" * 1000 + "text" + "</div>" * 1000
    out = limit_html(deep)
    assert out.count("<div>") == out.count("</div>") == 256 and "text" in out
    paragraphs = "<p>one" * 1000  # HTML closes each <p> at the next: only one level deep
    assert limit_html(paragraphs) == paragraphs


# --- the parse budget ----------------------------------------------------------------------


def _ticking(step: float) -> Callable[[], float]:
    """A clock that moves ``step`` seconds each time it is read: time passes as work is done."""
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def _many(n: int) -> bytes:
    items = "".join(
        f"<item><title>Story {i}</title><link>https://limits.example/{i}</link>"
        f"<pubDate>Thu, 19 Nov 2026 10:00:00 +0000</pubDate><description>Text {i}.</description>"
        "</item>"
        for i in range(n)
    )
    return (HEAD + items + TAIL).encode()


def test_when_the_budget_runs_out_the_entries_read_are_kept_with_a_warning() -> None:
    parsed = parse_feed(
        _many(500),
        source="Wire",
        url="https://limits.example/feed",
        budget=1.0,
        clock=_ticking(0.01),
    )
    titles = [a.title for a in parsed.articles]
    assert 0 < len(titles) < 500
    assert titles == [f"Story {i}" for i in range(len(titles))]  # the first ones, in order
    assert parsed.warnings == [
        (
            "Wire: reading stopped when its parse budget of 1 s ([selection] parse_budget_seconds)"
            " ran out; the entries read until then are kept, the rest of the feed is left out"
        )
    ]


def test_reading_the_document_stops_at_two_thirds_of_the_budget_between_pieces() -> None:
    body = _many(20_000)  # about 2.5 MB: many pieces of 64 KB
    parsed = parse_feed(
        body, source="Wire", url="https://limits.example/feed", budget=10.0, clock=_ticking(1.0)
    )
    titles = [a.title for a in parsed.articles]
    assert 0 < len(titles) < 2_000  # a few pieces were read, never a half-read entry
    assert titles == [f"Story {i}" for i in range(len(titles))]
    assert "parse budget of 10 s" in parsed.warnings[-1]


def test_the_budget_comes_from_the_config_and_the_warning_names_the_source(
    tmp_path: Path,
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(_many(50))
    cfg = parse_config(
        {
            "newsletter": {
                "name": "T",
                "from_email": "t@limits.example",
                "postal_address": "1 St",
                "site_url": "https://limits.example",
            },
            "sources": [{"name": "Slow", "url": str(feed)}],
            "selection": {"parse_budget_seconds": 1e-9},
        }
    )
    col = collect(cfg)
    assert any(
        w.startswith("Slow: reading stopped when its parse budget of 1e-09 s") for w in col.warnings
    ), col.warnings


@pytest.mark.parametrize("value", [0, -1])
def test_the_budget_must_be_positive(value: float) -> None:
    from digest.errors import ConfigError

    with pytest.raises(ConfigError, match=r"parse_budget_seconds\] must be more than 0"):
        parse_config(
            {
                "newsletter": {
                    "name": "T",
                    "from_email": "t@limits.example",
                    "postal_address": "1",
                    "site_url": "https://limits.example",
                },
                "sources": [{"name": "S", "url": "https://limits.example/feed"}],
                "selection": {"parse_budget_seconds": value},
            }
        )
