"""JSON Feed sources (digest.jsonfeed): read from a file and over HTTP like RSS and Atom,
with the same cleaning, dates, sections and pictures; a broken document is a named warning."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from digest.collect import collect
from tests.digest.test_collect import ACTIVE, fixed_clock, make_config

ITEMS: list[Any] = [  # the last one is no object: ignored
    {
        "id": "https://json.example/2026/11/18/rents",
        "url": "https://json.example/2026/11/18/rents?utm_source=feed",
        "title": "Rents rise < 5% as <wages> stall",
        "summary": "Landlords held back & tenants noticed.",
        "content_html": "<p>First paragraph of the story.</p><script>alert(1)</script>"
        '<p onclick="x()">Second <a href="javascript:alert(1)">paragraph</a>.</p>',
        "date_published": "2026-11-18T10:00:00-05:00",
        "date_modified": "2026-11-18T12:30:00-05:00",
        "image": "/media/rents.jpg",
        "tags": ["Economy", 7, ""],
        "authors": [{"name": "Ada Lovelace"}, {"url": "https://x.example"}, "nobody"],
    },
    {
        "id": 42,
        "external_url": "https://elsewhere.example/report",
        "title": 12345,
        "content_text": "A plain text story.\n\nIts second paragraph & more.",
        "date_published": "2026-11-19T08:00:00",  # no zone: the newsletter's wall time
        "author": {"name": "Grace Hopper"},
        "attachments": [{"url": "https://json.example/chart.png", "mime_type": "image/png"}],
    },
    {"id": "no-link", "title": "Left out: no link", "date_published": "2026-11-19T08:00:00Z"},
    {"id": "no-date", "url": "https://json.example/undated", "title": "Left out: no date"},
    "not an object",
]


def _document(**extra: Any) -> bytes:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON News",
        "home_page_url": "https://json.example/",
        "items": ITEMS,
        **extra,
    }
    return json.dumps(doc).encode()


def test_a_json_feed_file_is_read_like_any_feed(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_bytes(_document())
    col = collect(make_config(("JSON", str(path))), clock=fixed_clock)
    assert not col.problems and col.sources_ok == 1
    by_url = {a.url: a for a in col.articles}
    assert set(by_url) == {
        "https://json.example/2026/11/18/rents",
        "https://elsewhere.example/report",
    }
    rents = by_url["https://json.example/2026/11/18/rents"]
    assert rents.title == "Rents rise < 5% as <wages> stall"  # a JSON title is text
    assert rents.dek == "Landlords held back & tenants noticed."
    assert rents.excerpt == "First paragraph of the story. Second paragraph."
    assert rents.published == datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
    assert rents.updated == datetime(2026, 11, 18, 17, 30, tzinfo=UTC)
    assert rents.section == "Economy" and rents.authors == ("Ada Lovelace",)
    # a relative picture resolves against the story's own address
    assert rents.image is not None and rents.image.url == "https://json.example/media/rents.jpg"
    report = by_url["https://elsewhere.example/report"]
    assert report.excerpt == "A plain text story. Its second paragraph & more."
    assert report.title == "A plain text story."  # none given: its first paragraph
    assert report.published == datetime(2026, 11, 19, 13, 0, tzinfo=UTC)  # 08:00 New York
    assert report.authors == ("Grace Hopper",)
    assert report.image is not None and report.image.url == "https://json.example/chart.png"
    for art in col.articles:
        for value in (art.title, art.dek, art.excerpt):
            assert not ACTIVE.search(value), value
    left_out = " ".join(col.warnings)
    assert "Left out: no link" in left_out and "Left out: no date" in left_out


@pytest.fixture
def httpserver() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


def test_a_json_feed_over_http_is_read_whatever_json_type_it_is_served_as(
    httpserver: HTTPServer,
) -> None:
    for path, kind in (("/feed.json", "application/feed+json"), ("/api", "application/json")):
        httpserver.expect_request(path).respond_with_response(
            Response(_document(), status=200, headers={"Content-Type": kind})
        )
    cfg = make_config(("A", httpserver.url_for("/feed.json")), ("B", httpserver.url_for("/api")))
    col = collect(cfg, clock=fixed_clock)
    assert col.sources_ok == 2 and not col.problems
    # the same two stories from both sources, merged
    assert sorted(a.title for a in col.articles) == [
        "A plain text story.",
        "Rents rise < 5% as <wages> stall",
    ]


def test_broken_json_and_json_that_is_not_a_feed_are_warnings_naming_the_source(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "https://jsonfeed.org/version/1.1",\n "items": [}')
    other = tmp_path / "api.json"
    other.write_text('{"error": "rate limited"}')
    good = tmp_path / "good.json"
    good.write_bytes(_document())
    cfg = make_config(("Broken", str(broken)), ("Api", str(other)), ("Good", str(good)))
    col = collect(cfg, clock=fixed_clock)
    reasons = {p.source: p.reason for p in col.problems}
    assert "not valid JSON: line 2, column" in reasons["Broken"]
    assert "not a JSON Feed" in reasons["Api"]
    assert col.sources_ok == 1 and len(col.articles) == 2  # the issue is built from the rest


@pytest.mark.parametrize("date", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_one_item_dated_out_of_range_costs_that_item_not_the_feed(
    tmp_path: Path, date: str
) -> None:
    odd = {
        "id": "odd",
        "url": "https://json.example/odd",
        "title": "Odd date",
        "date_published": date,
    }
    path = tmp_path / "feed.json"
    path.write_bytes(_document(items=[odd, *ITEMS]))
    col = collect(make_config(("JSON", str(path))), clock=fixed_clock)
    assert not col.problems, col.problems
    assert len(col.articles) == 2  # the good items, as without the odd one
    assert any(
        w.startswith("JSON: entry 'Odd date' (https://json.example/odd)") and date in w
        for w in col.warnings
    ), col.warnings


def test_an_item_that_cannot_be_read_for_any_reason_is_left_out_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import digest.jsonfeed

    def paragraphs_html(text: str) -> str:
        if "poison" in text:
            raise ValueError("something nobody foresaw")
        return f"<p>{text}</p>"

    monkeypatch.setattr(digest.jsonfeed, "_paragraphs_html", paragraphs_html)
    poisoned = {
        "id": "p",
        "url": "https://json.example/p",
        "title": "Poisoned",
        "content_text": "poison",
        "date_published": "2026-11-19T08:00:00Z",
    }
    path = tmp_path / "feed.json"
    path.write_bytes(_document(items=[poisoned, *ITEMS]))
    col = collect(make_config(("JSON", str(path))), clock=fixed_clock)
    assert not col.problems and len(col.articles) == 2
    assert (
        "JSON: entry 'Poisoned' could not be read (something nobody foresaw) and was left out"
        in col.warnings
    )


def test_json_nested_too_deeply_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    deep, good = tmp_path / "deep.json", tmp_path / "good.json"
    deep.write_text(
        '{"version": "https://jsonfeed.org/version/1.1", "items": '
        + "[" * 100_000
        + "]" * 100_000
        + "}"
    )
    good.write_bytes(_document())
    col = collect(make_config(("Deep", str(deep)), ("Good", str(good))), clock=fixed_clock)
    assert "nested too deeply" in {p.source: p.reason for p in col.problems}["Deep"]
    assert len(col.articles) == 2


def test_a_million_tags_on_one_item_are_cut_with_a_warning(tmp_path: Path) -> None:
    import time

    tagged = dict(ITEMS[0], tags=[f"t{i}" for i in range(1_000_000)])
    path = tmp_path / "feed.json"
    path.write_bytes(_document(items=[tagged, *ITEMS[1:]]))
    started = time.monotonic()
    col = collect(make_config(("JSON", str(path))), clock=fixed_clock)
    assert time.monotonic() - started < 30  # only a hang detector
    assert "JSON: 999,900 tags beyond 100 on one item were left out" in col.warnings
    assert len(col.articles) == 2
