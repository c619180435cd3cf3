"""The collect stage: real feedparser on the files in tests/data/feeds, and real
HTTP against a local threaded server (pytest-httpserver) on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

import digest
from digest.collect import collect
from digest.config import Config, parse_config
from digest.errors import CollectError
from digest.feedtext import canonical_url, plain_text, shorten
from digest.models import Article, Collection
from digest.store.database import Store
from digest.store.tables import FeedCacheEntry
from tests.conftest import DATA, REPO

FEEDS = DATA / "feeds"
EXAMPLES = REPO / "examples"
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
ACTIVE = re.compile(r"<\s*(script|iframe|img|svg|style)|on\w+\s*=|javascript:", re.IGNORECASE)


def fixed_clock() -> datetime:
    return NOW


def make_config(*sources: tuple[str, str] | tuple[str, str, str]) -> Config:
    srcs = []
    for s in sources:
        entry = {"name": s[0], "url": s[1]}
        if len(s) == 3:
            entry["section"] = s[2]
        srcs.append(entry)
    return parse_config(
        {
            "newsletter": {
                "name": "Test Weekly",
                "from_email": "news@test.example",
                "postal_address": "1 Test Street",
                "site_url": "https://test.example",
                "timezone": "America/New_York",
            },
            "sources": srcs,
        },
        path=FEEDS / "digest.toml",
    )


def _articles_of(tmp_path: Path, xml: str) -> list[Article]:
    """The articles of one feed document written to a file (a test unpacks the one it expects)."""
    feed = tmp_path / "feed.xml"
    feed.write_text(xml)
    return collect(make_config(("Feed", str(feed)))).articles


def collect_files(*names: str, **kwargs: Any) -> Collection:
    cfg = make_config(*((n, str(FEEDS / n)) for n in names))
    return collect(cfg, clock=fixed_clock, **kwargs)


def by_title(col: Collection) -> dict[str, Article]:
    return {a.title: a for a in col.articles}


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- reading feeds from files -----------------------------------------------------


def test_rss2_content_encoded_and_media_content() -> None:
    col = collect_files("rss2_media.xml")
    assert col.sources_ok == 1 and not col.problems
    art = by_title(col)["Harbour Talks Resume & Stall"]
    # utm_* and the fragment are gone, the other parameter and its order stay, host lower-cased
    assert art.url == "https://wire.example/world/harbour-talks?id=7"
    assert art.guid == "wire-1"
    assert art.dek == "Negotiators returned to the table — and left it again by noon."
    assert art.excerpt == (
        "First paragraph of the harbour story. Second paragraph, with a link. "
        "Third paragraph closes it."
    )
    assert art.word_count == 15
    assert art.section == "World"
    assert art.categories == ("World", "Featured")
    assert art.authors == ("Ana Ruiz", "Ben Cole")
    assert art.published == utc(2026, 11, 17, 14, 30)
    assert art.published.tzinfo is not None
    # the image, not the video, with the credit and description of that media:content
    assert art.image is not None
    assert art.image.url == "https://wire.example/media/small.jpg"
    assert art.image.alt == "Cranes over an empty quay"
    assert art.image.credit == "Photo: Lena Hart"


def test_images_from_thumbnail_enclosure_and_content() -> None:
    arts = by_title(collect_files("rss2_media.xml"))
    thumb = arts["Thumbnail Only"].image
    assert thumb is not None
    assert (thumb.url, thumb.alt, thumb.credit) == (
        "https://wire.example/media/thumb.jpg",
        "A thumbnail title used as alt",
        "Wire Photo Desk",
    )
    enc = arts["Enclosure Image"].image
    assert enc is not None and enc.url == "https://wire.example/media/enclosed.png"
    inline = arts["Image In The Content"].image
    # a relative src resolves against the entry's link, and the img alt is the alt text
    assert inline is not None
    assert inline.url == "https://wire.example/media/inline.jpg"
    assert inline.alt == "A map of the strait"
    # a content-only entry still gets a dek from its text
    assert arts["Image In The Content"].dek.startswith("The only text of this story")
    # an ftp: image is no image
    assert arts["Only Updated"].image is None


def test_entry_with_only_updated_uses_it_as_published() -> None:
    art = by_title(collect_files("rss2_media.xml"))["Only Updated"]
    assert art.published == utc(2026, 11, 13, 10, 0)


def test_entries_without_a_date_are_reported_and_left_out() -> None:
    col = collect_files("rss2_media.xml")
    titles = {a.title for a in col.articles}
    assert "No Date At All" not in titles and "Garbled Date" not in titles
    undated = [w for w in col.warnings if "No Date At All" in w]
    assert len(undated) == 1
    assert "rss2_media.xml" in undated[0]  # names the source
    assert "https://wire.example/world/undated" in undated[0]
    garbled = [w for w in col.warnings if "Garbled Date" in w]
    assert garbled and "sometime last week" in garbled[0]


def test_atom_html_titles_entities_and_cdata() -> None:
    arts = by_title(collect_files("atom_html.xml"))
    art = arts["Ceasefire holds & talks “resume”"]
    # xml:base resolves the relative link
    assert art.url == "https://atom.example/blog/posts/ceasefire.html"
    assert art.guid == "tag:atom.example,2026:ceasefire"
    assert art.dek == "Short summary & more."
    assert art.excerpt == "The ceasefire held overnight & into the morning. Envoys met at 9."
    assert art.authors == ("Dana Élise",)
    assert art.categories == ("Diplomacy", "Europe")
    assert art.published == utc(2026, 11, 18, 12, 15)
    assert art.updated == utc(2026, 11, 18, 20, 0)
    # a type="text" title keeps its angle brackets as text (the renderer escapes them)
    text_title = [t for t in arts if t.startswith("Plain")]
    assert text_title == ["Plain <text> title with 5 < 6"]
    assert arts[text_title[0]].excerpt == "XHTML body — with an entity."
    assert arts[text_title[0]].published == utc(2026, 11, 17, 10, 0)  # <updated> only


def test_rss_1_0_rdf_and_rss_0_91() -> None:
    col = collect_files("rss1.rdf", "rss091.xml")
    arts = by_title(col)
    first = arts["First RDF Story"]
    assert first.url == "https://rdf.example/one"
    assert first.published == utc(2026, 11, 12, 7, 0)
    assert first.authors == ("R. D. Eff",)
    assert first.section == "Science"
    assert arts["Vintage Item"].published == utc(2026, 11, 11, 10, 0)
    assert col.sources_ok == 2


def test_source_section_is_the_fallback_and_lead_categories_are_not_sections() -> None:
    cfg = make_config(("Wire", str(FEEDS / "rss2_media.xml"), "Wire desk"))
    arts = by_title(collect(cfg, clock=fixed_clock))
    assert arts["Thumbnail Only"].section == "Wire desk"  # no category in the feed
    assert arts["Harbour Talks Resume & Stall"].section == "World"
    featured_first = make_config(("Sample", str(EXAMPLES / "feed.xml")))
    for art in collect(featured_first, clock=fixed_clock).articles:
        assert art.section != "Featured"


def test_hostile_content_is_reduced_to_plain_text() -> None:
    col = collect_files("hostile.xml")
    assert len(col.articles) == 1
    art = col.articles[0]
    assert art.title == "Breaking news"
    assert art.dek == "Click here now"
    assert art.excerpt == "Real text survives as words."
    for value in (art.title, art.dek, art.excerpt, *art.categories, *art.authors):
        assert not ACTIVE.search(value), value
    # javascript: media is skipped; the real image is used
    assert art.image is not None and art.image.url == "https://evil.example/real.jpg"
    # an entry whose link is javascript: is left out, and said so
    assert any("has no web link" in w and "escaped" in w for w in col.warnings)


def test_duplicates_within_and_across_sources_are_merged() -> None:
    cfg = make_config(("A", str(FEEDS / "dupes_a.xml")), ("B", str(FEEDS / "dupes_b.xml")))
    col = collect(cfg, clock=fixed_clock)
    story = [a for a in col.articles if a.url == "https://news.example/story-1"]
    assert len(story) == 1  # three copies: twice in A (utm, host case, fragment), once in B
    assert story[0].title == "Same Story (rich copy)"  # the one with an image and more words
    assert story[0].image is not None
    tagged = [a for a in col.articles if a.guid == "tag:news.example,2026:tagged"]
    assert len(tagged) == 1 and tagged[0].source == "A"  # equal richness: earlier source wins
    # "42" is a feed-local guid: the two stories that share it are both kept
    assert {a.url for a in col.articles if a.guid == "42"} == {
        "https://a.example/numeric",
        "https://b.example/numeric",
    }
    assert len(col.articles) == 4
    # deterministic: same inputs, same result, newest first
    assert collect(cfg, clock=fixed_clock).articles == col.articles
    dates = [a.published for a in col.articles]
    assert dates == sorted(dates, reverse=True)


def test_merge_does_not_depend_on_source_order_for_the_richer_copy() -> None:
    cfg = make_config(("B", str(FEEDS / "dupes_b.xml")), ("A", str(FEEDS / "dupes_a.xml")))
    story = [a for a in collect(cfg).articles if a.url == "https://news.example/story-1"]
    assert [a.title for a in story] == ["Same Story (rich copy)"]


def test_malformed_xml_is_a_problem_naming_the_line_and_others_still_collected() -> None:
    col = collect_files("broken.xml", "rss091.xml")
    assert col.sources_ok == 1
    assert [a.title for a in col.articles] == ["Vintage Item"]
    [problem] = col.problems
    assert problem.source == "broken.xml"
    assert "XML error at line 5" in problem.reason
    assert "broken.xml" in problem.reason  # the file is named


def test_recoverable_xml_is_read_with_a_warning() -> None:
    col = collect_files("recoverable.xml")
    assert {a.title for a in col.articles} == {"Good entry", "Bare & ampersand"}
    assert any("not well-formed" in w and "line 6" in w for w in col.warnings)


def test_html_page_and_empty_file_are_not_feeds(tmp_path: Path) -> None:
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"  \n")
    cfg = make_config(
        ("Page", str(FEEDS / "page.html")),
        ("Empty", str(empty)),
        ("Good", str(FEEDS / "rss091.xml")),
    )
    col = collect(cfg)
    reasons = {p.source: p.reason for p in col.problems}
    assert reasons["Page"].startswith("not a feed: <!DOCTYPE html>")
    assert "empty" in reasons["Empty"]
    assert col.sources_ok == 1


def test_feed_without_entries_is_fine_but_noted() -> None:
    col = collect_files("empty_channel.xml", "rss091.xml")
    assert col.sources_ok == 2 and not col.problems
    assert any("no entries" in w for w in col.warnings)


def test_file_url_and_missing_file(tmp_path: Path) -> None:
    cfg = make_config(
        ("By URL", (FEEDS / "rss091.xml").as_uri()),
        ("Gone", str(tmp_path / "missing.xml")),
    )
    col = collect(cfg)
    assert [a.title for a in col.articles] == ["Vintage Item"]
    [problem] = col.problems
    assert problem.source == "Gone"
    assert problem.reason == f"file not found: {tmp_path / 'missing.xml'}"


def test_every_source_failing_raises_collect_error_listing_each(tmp_path: Path) -> None:
    cfg = make_config(("Broken", str(FEEDS / "broken.xml")), ("Gone", str(tmp_path / "no.xml")))
    with pytest.raises(CollectError) as info:
        collect(cfg)
    message = str(info.value)
    assert "Broken: XML error at line 5" in message
    assert "Gone: file not found" in message


def test_sample_feed_has_the_documented_shape() -> None:
    cfg = make_config(("Sample", str(EXAMPLES / "feed.xml")))
    col = collect(cfg)
    assert not col.problems and not col.warnings
    as_of = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # 09:00 in New York
    in_window = [a for a in col.articles if as_of - timedelta(days=7) < a.published <= as_of]
    assert len(in_window) == 13
    assert sum(a.published > as_of for a in col.articles) == 1
    assert sum(a.published <= as_of - timedelta(days=7) for a in col.articles) == 2
    featured = [a for a in in_window if "Featured" in a.categories]
    assert featured and featured[0] == in_window[0]  # the newest story is featured
    with_images = [a for a in in_window if a.image]
    assert 0 < len(in_window) - len(with_images) <= 2
    assert all(a.image.credit and a.image.alt for a in with_images if a.image)
    assert all(len(a.dek) <= 200 and len(a.excerpt) <= 600 for a in col.articles)


# --- HTTP ------------------------------------------------------------------------------

RSS2 = (FEEDS / "rss2_media.xml").read_bytes()
RSS091 = (FEEDS / "rss091.xml").read_bytes()


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    """A threaded local server, so slow handlers do not hold up the others."""
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    if srv.is_running():
        srv.stop()


@pytest.fixture
def http(server: HTTPServer) -> Iterator[HTTPServer]:
    server.clear()
    yield server
    server.clear()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as c:
        yield c


def _feed(body: bytes, **headers: str) -> Response:
    return Response(body, status=200, headers={"Content-Type": "application/rss+xml", **headers})


def test_fetches_with_user_agent_and_follows_redirects(http: HTTPServer) -> None:
    http.expect_request("/old.rss").respond_with_response(
        Response(status=301, headers={"Location": http.url_for("/feed.rss")})
    )
    http.expect_request("/temp.rss").respond_with_response(
        Response(status=302, headers={"Location": http.url_for("/feed.rss")})
    )
    http.expect_request("/feed.rss").respond_with_response(_feed(RSS091))
    cfg = make_config(("Moved", http.url_for("/old.rss")), ("Temp", http.url_for("/temp.rss")))
    col = collect(cfg, clock=fixed_clock)  # digest makes its own client
    assert [a.title for a in col.articles] == ["Vintage Item"]
    assert col.sources_ok == 2 and not col.problems
    agents = {req.headers.get("User-Agent") for req, _ in http.log}
    assert agents == {digest.USER_AGENT}
    # a permanent move is worth telling the editor; a temporary one is not
    moved = [w for w in col.warnings if "moved permanently" in w]
    assert len(moved) == 1 and moved[0].startswith("Moved: ") and "/feed.rss" in moved[0]


def test_http_errors_and_html_pages_are_source_problems(
    http: HTTPServer, client: httpx.Client
) -> None:
    http.expect_request("/missing.rss").respond_with_data("nope", status=404)
    http.expect_request("/down.rss").respond_with_data("oops", status=503)
    http.expect_request("/home").respond_with_data(
        (FEEDS / "page.html").read_bytes(), content_type="text/html"
    )
    http.expect_request("/good.rss").respond_with_response(_feed(RSS2))
    cfg = make_config(
        ("Missing", http.url_for("/missing.rss")),
        ("Down", http.url_for("/down.rss")),
        ("Home page", http.url_for("/home")),
        ("Good", http.url_for("/good.rss")),
    )
    col = collect(cfg, client=client, clock=fixed_clock)
    reasons = {p.source: p.reason for p in col.problems}
    assert reasons["Missing"].startswith("HTTP 404")
    assert http.url_for("/missing.rss") in reasons["Missing"]
    assert reasons["Down"].startswith("HTTP 503")
    assert reasons["Home page"].startswith("not a feed: <!DOCTYPE html>")
    assert col.sources_ok == 1
    assert "Harbour Talks Resume & Stall" in {a.title for a in col.articles}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_source_is_a_problem(http: HTTPServer, client: httpx.Client) -> None:
    http.expect_request("/good.rss").respond_with_response(_feed(RSS091))
    dead = f"http://127.0.0.1:{_free_port()}/feed.rss"
    cfg = make_config(("Dead", dead), ("Good", http.url_for("/good.rss")))
    col = collect(cfg, client=client)
    [problem] = col.problems
    assert problem.source == "Dead" and problem.reason.startswith("cannot connect")
    assert dead in problem.reason


def test_timeout_is_a_problem_and_does_not_block_the_others(http: HTTPServer) -> None:
    release = threading.Event()

    def slow(_request: Request) -> Response:
        release.wait(5)
        return _feed(RSS091)

    http.expect_request("/slow.rss").respond_with_handler(slow)
    http.expect_request("/fast.rss").respond_with_response(_feed(RSS2))
    cfg = make_config(("Slow", http.url_for("/slow.rss")), ("Fast", http.url_for("/fast.rss")))
    started = time.monotonic()
    with httpx.Client(timeout=0.5) as client:
        col = collect(cfg, client=client, clock=fixed_clock)
    elapsed = time.monotonic() - started
    release.set()  # let the handler finish now, so it does not answer into the next test
    for _ in range(100):
        if any(req.path == "/slow.rss" for req, _ in http.log):
            break
        time.sleep(0.02)
    assert [(p.source, p.reason.split(" (")[0]) for p in col.problems] == [
        ("Slow", "timed out after 0.5 s")
    ]
    assert col.sources_ok == 1 and len(col.articles) == 5
    assert elapsed < 1.4


def test_slow_sources_are_fetched_concurrently(http: HTTPServer) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(0.2)
        return _feed(RSS091)

    sources = []
    for i in range(20):
        http.expect_request(f"/feed{i}.rss").respond_with_handler(slow)
        sources.append((f"Feed {i}", http.url_for(f"/feed{i}.rss")))
    cfg = make_config(*sources)
    started = time.monotonic()
    with httpx.Client(timeout=5.0) as client:
        col = collect(cfg, client=client)
    elapsed = time.monotonic() - started
    assert col.sources_ok == 20
    assert len(col.articles) == 1  # the same story twenty times is one article
    assert elapsed < 1.0, f"20 sources of 200 ms took {elapsed:.2f} s"


def test_all_http_sources_failing_raises(http: HTTPServer, client: httpx.Client) -> None:
    http.expect_request("/a").respond_with_data("", status=500)
    http.expect_request("/b").respond_with_data("<html><body>hi</body></html>")
    cfg = make_config(("A", http.url_for("/a")), ("B", http.url_for("/b")))
    with pytest.raises(CollectError) as info:
        collect(cfg, client=client)
    assert info.value.exit_code == 1
    assert "A: HTTP 500" in str(info.value)
    assert "B: not a feed" in str(info.value)


def _conditional(
    etag: str | None, last_modified: str | None, body: bytes
) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        if etag and request.headers.get("If-None-Match") == etag:
            return Response(status=304)
        if last_modified and request.headers.get("If-Modified-Since") == last_modified:
            return Response(status=304)
        headers = {}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = last_modified
        return _feed(body, **headers)

    return handler


@pytest.mark.postgres
def test_unchanged_feed_costs_a_304_and_is_read_from_the_store(
    http: HTTPServer, client: httpx.Client, store: Store
) -> None:
    lm = "Tue, 17 Nov 2026 15:00:00 GMT"
    http.expect_request("/etag.rss").respond_with_handler(_conditional('"v1"', None, RSS2))
    http.expect_request("/lm.rss").respond_with_handler(_conditional(None, lm, RSS091))
    cfg = make_config(("Etag", http.url_for("/etag.rss")), ("LM", http.url_for("/lm.rss")))

    first = collect(cfg, store=store, client=client, clock=fixed_clock)
    later = NOW + timedelta(hours=2)
    second = collect(cfg, store=store, client=client, clock=lambda: later)

    assert second.articles == first.articles and len(first.articles) == 6
    assert not second.problems
    statuses: dict[str, list[int]] = {}
    for req, resp in http.log:
        statuses.setdefault(req.path, []).append(resp.status_code)
    assert statuses == {"/etag.rss": [200, 304], "/lm.rss": [200, 304]}
    second_requests = {req.path: req for req, _ in http.log[2:]}
    assert second_requests["/etag.rss"].headers["If-None-Match"] == '"v1"'
    assert second_requests["/lm.rss"].headers["If-Modified-Since"] == lm
    with store.session() as s:
        rows = {r.url: r for r in s.scalars(select(FeedCacheEntry))}
    etag_row = rows[http.url_for("/etag.rss")]
    assert etag_row.etag == '"v1"' and etag_row.body == RSS2
    assert etag_row.fetched_at == later
    assert rows[http.url_for("/lm.rss")].last_modified == lm


@pytest.mark.postgres
def test_changed_feed_replaces_the_cached_copy(
    http: HTTPServer, client: httpx.Client, store: Store
) -> None:
    http.expect_ordered_request("/feed.rss").respond_with_handler(
        _conditional('"v1"', None, RSS091)
    )
    http.expect_ordered_request("/feed.rss").respond_with_handler(_conditional('"v2"', None, RSS2))
    cfg = make_config(("Feed", http.url_for("/feed.rss")))
    assert [a.title for a in collect(cfg, store=store, client=client).articles] == ["Vintage Item"]
    second = collect(cfg, store=store, client=client)
    assert "Harbour Talks Resume & Stall" in {a.title for a in second.articles}
    with store.session() as s:
        row = s.get(FeedCacheEntry, http.url_for("/feed.rss"))
        assert row is not None and row.etag == '"v2"' and row.body == RSS2


def test_a_failed_fetch_reads_the_last_good_copy_and_keeps_it(
    http: HTTPServer, client: httpx.Client, sqlite_store: Store
) -> None:
    """A maintenance page where the feed was: the issue is built from the copy fetched
    the day before, the editor is told so, and the cache keeps that copy and its date."""
    http.expect_ordered_request("/feed.rss").respond_with_response(_feed(RSS091, ETag='"v1"'))
    http.expect_ordered_request("/feed.rss").respond_with_data(
        "<!DOCTYPE html><html>maintenance</html>", content_type="text/html"
    )
    cfg = make_config(("Feed", http.url_for("/feed.rss")), ("Local", str(FEEDS / "rss1.rdf")))
    first = collect(cfg, store=sqlite_store, client=client, clock=fixed_clock)
    later = NOW + timedelta(days=1)
    col = collect(cfg, store=sqlite_store, client=client, clock=lambda: later)
    assert not col.problems and col.sources_ok == 2
    assert {a.title for a in first.articles} == {a.title for a in col.articles}
    [note] = [w for w in col.warnings if w.startswith("Feed: ")]
    assert note.startswith("Feed: not a feed: <!DOCTYPE html>"), note
    assert "last good copy instead, fetched 2026-11-20 09:00 EST" in note  # local time
    assert "stories published since then are missing" in note
    with sqlite_store.session() as s:
        row = s.get(FeedCacheEntry, http.url_for("/feed.rss"))
        assert row is not None and row.body == RSS091 and row.etag == '"v1"'
        assert row.fetched_at == NOW  # not refreshed: the copy keeps its age


@pytest.mark.parametrize("status", [503, 404])
def test_an_error_status_reads_the_last_good_copy(
    http: HTTPServer, client: httpx.Client, sqlite_store: Store, status: int
) -> None:
    http.expect_ordered_request("/feed.rss").respond_with_response(_feed(RSS091))
    http.expect_ordered_request("/feed.rss").respond_with_data("down", status=status)
    cfg = make_config(("Feed", http.url_for("/feed.rss")))
    collect(cfg, store=sqlite_store, client=client, clock=fixed_clock)
    col = collect(cfg, store=sqlite_store, client=client, clock=lambda: NOW + timedelta(hours=6))
    assert [a.title for a in col.articles] == ["Vintage Item"]
    assert any(f"HTTP {status}" in w and "last good copy" in w for w in col.warnings)


def test_a_copy_older_than_the_window_is_not_used(
    http: HTTPServer, client: httpx.Client, sqlite_store: Store
) -> None:
    http.expect_ordered_request("/feed.rss").respond_with_response(_feed(RSS091))
    http.expect_ordered_request("/feed.rss").respond_with_data("down", status=503)
    cfg = make_config(("Feed", http.url_for("/feed.rss")), ("Local", str(FEEDS / "rss1.rdf")))
    collect(cfg, store=sqlite_store, client=client, clock=fixed_clock)
    col = collect(cfg, store=sqlite_store, client=client, clock=lambda: NOW + timedelta(days=8))
    assert [p.source for p in col.problems] == ["Feed"]
    assert "HTTP 503" in col.problems[0].reason
    assert not any("last good copy" in w for w in col.warnings)


# --- text and URL cleaning ------------------------------------------------------------------


def test_shorten_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    text = "The quick brown fox jumps over the lazy dog " * 10
    out = shorten(text, 50)
    assert len(out) <= 50 and out.endswith("…")
    assert text.startswith(out[:-1])
    assert out[:-1].split()[-1] in text.split()  # no word cut in half
    assert shorten("short enough", 50) == "short enough"


_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_val = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", max_size=8)


@given(
    host=st.sampled_from(["Example.COM", "news.example", "WWW.Site.Example"]),
    path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-/", max_size=20),
    params=st.lists(st.tuples(st.one_of(_key, _key.map(lambda k: "utm_" + k)), _val), max_size=6),
    fragment=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=8),
)
def test_canonical_url_properties(
    host: str, path: str, params: list[tuple[str, str]], fragment: str
) -> None:
    query = "&".join(f"{k}={v}" for k, v in params)
    url = (
        f"HTTPS://{host}/{path}"
        + (f"?{query}" if query else "")
        + (f"#{fragment}" if fragment else "")
    )
    out = canonical_url(url)
    assert canonical_url(out) == out  # idempotent
    assert "#" not in out
    assert out.startswith(f"https://{host.lower()}/")
    kept = [f"{k}={v}" for k, v in params if not k.startswith("utm_")]
    assert (out.split("?", 1)[1] if "?" in out else "") == "&".join(kept)


@given(st.text(alphabet=st.sampled_from(list("<>/=\"' &;abcdefgijlmnoprstuvxy:!-[]")), max_size=80))
def test_plain_text_never_contains_markup(html: str) -> None:
    out = plain_text(html)
    # no element a browser would read as one: "<" straight before a tag name or "!"
    assert not re.search(
        r"<(/?(a|b|p|i|img|div|span|script|style|iframe|svg)[\s/>]|!--)", out, re.IGNORECASE
    )
    assert out == " ".join(out.split())


def test_comparisons_and_angle_brackets_in_text_survive_while_double_escaped_markup_goes(
    tmp_path: Path,
) -> None:
    [art] = _articles_of(
        tmp_path,
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item>'
        "<title>Rents &amp;lt; 5% while wages &amp;gt; 3%</title>"
        "<link>https://x.example/1</link><pubDate>Tue, 17 Nov 2026 10:00:00 GMT</pubDate>"
        "<description>&lt;p&gt;Prices rose &amp;lt; 2% and pay &amp;gt; 4%. Write to "
        "&amp;lt;editor&amp;gt; with tips.&lt;/p&gt;"
        "&amp;lt;p&amp;gt;A second, double-escaped &amp;lt;b&amp;gt;paragraph&amp;lt;/b&amp;gt;."
        "&amp;lt;/p&amp;gt;</description></item></channel></rss>",
    )
    assert art.title == "Rents < 5% while wages > 3%"
    assert art.dek == (
        "Prices rose < 2% and pay > 4%. Write to <editor> with tips. "
        "A second, double-escaped paragraph."
    )


def test_entities_in_a_doctype_are_neither_expanded_nor_read_from_disk(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a")
    lols = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    feed = tmp_path / "entities.xml"
    feed.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY secret SYSTEM "{secret.as_uri()}">'
        f'<!ENTITY lol0 "lol">{lols}]>\n'
        '<rss version="2.0"><channel><title>x</title><item><title>Leak: &secret;</title>'
        "<link>https://x.example/1</link><pubDate>Tue, 17 Nov 2026 10:00:00 GMT</pubDate>"
        "<description>&lol9;</description></item></channel></rss>"
    )
    started = time.monotonic()
    col = collect(make_config(("Entities", str(feed))))
    assert time.monotonic() - started < 2
    [art] = col.articles
    for value in (art.title, art.dek, art.excerpt):
        assert "TOP-SECRET" not in value and "lollol" not in value


def test_a_paragraph_broken_over_source_lines_stays_one_paragraph(tmp_path: Path) -> None:
    [art] = _articles_of(
        tmp_path,
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        "<entry><title>Lines</title><id>tag:x,2026:1</id><link href='https://x.example/l'/>"
        "<updated>2026-11-17T10:00:00Z</updated><content type='html'>"
        "&lt;p&gt;A sentence written\nover three\n   source lines.&lt;/p&gt;"
        "&lt;p&gt;Second&lt;br&gt;paragraph.&lt;/p&gt;</content></entry></feed>",
    )
    assert art.dek == "A sentence written over three source lines."
    assert art.excerpt == "A sentence written over three source lines. Second paragraph."


# --- feeds in the wild (QA): WordPress, Medium, RSS 0.91, odd HTTP answers -----------------

WP_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Harbor Town Gazette</title><link>https://harbortown.example</link>
<item><title>Mayor&#8217;s budget &#038; parks</title>
<link>https://harbortown.example/2026/11/17/budget/</link>
<dc:creator><![CDATA[Jane O&#8217;Neil]]></dc:creator>
<pubDate>Tue, 17 Nov 2026 22:15:00 +0000</pubDate>
<category><![CDATA[Politics]]></category>
<description><![CDATA[<p>The plan trims parks.</p>
<p>The post <a href="https://harbortown.example/2026/11/17/budget/">Mayor&#8217;s budget &#038; parks</a>
appeared first on <a href="https://harbortown.example">Harbor Town Gazette</a>.</p>]]></description>
<content:encoded><![CDATA[<figure><img src="/wp-content/uploads/budget.jpg" alt="The mayor" />
<figcaption>Photo: Sam Lee / Gazette</figcaption></figure>
<p>The plan trims parks. Council votes Dec.&nbsp;3.</p>
<p>The post office on Main St. appeared first on the closure list.</p>
<p>The post <a href="https://harbortown.example/2026/11/17/budget/">Mayor&#8217;s budget &#038; parks</a>
appeared first on <a href="https://harbortown.example">Harbor Town Gazette</a>.</p>]]></content:encoded>
</item>
<item><title>Council meets tonight</title><link>/2026/11/16/council/</link>
<pubDate>Mon, 16 Nov 2026 18:30:00 PST</pubDate><category>Uncategorized</category>
<description>Agenda at six. [&#8230;]</description></item>
</channel></rss>
"""


def test_wordpress_footer_and_figure_captions_stay_out_of_dek_and_excerpt(tmp_path: Path) -> None:
    feed = tmp_path / "wp.xml"
    feed.write_text(WP_ITEM, encoding="utf-8")
    arts = by_title(collect(make_config(("WP", str(feed)))))
    art = arts["Mayor’s budget & parks"]
    assert art.dek == "The plan trims parks."
    # the story's own sentence that happens to look like the footer stays
    assert art.excerpt == (
        "The plan trims parks. Council votes Dec. 3. "
        "The post office on Main St. appeared first on the closure list."
    )
    assert "Harbor Town Gazette" not in art.dek + art.excerpt
    assert "Photo: Sam Lee" not in art.excerpt
    assert art.authors == ("Jane O’Neil",)


def test_relative_links_in_a_feed_file_resolve_against_the_feeds_site(tmp_path: Path) -> None:
    feed = tmp_path / "wp.xml"
    feed.write_text(WP_ITEM, encoding="utf-8")
    col = collect(make_config(("WP", str(feed))))
    arts = by_title(col)
    # a saved copy of a WordPress feed: relative links belong to the site, not to the disk
    assert arts["Council meets tonight"].url == "https://harbortown.example/2026/11/16/council/"
    assert arts["Council meets tonight"].published == utc(2026, 11, 17, 2, 30)
    assert arts["Council meets tonight"].dek == "Agenda at six…"  # WordPress's " [&hellip;]"
    # WordPress's default category is no section label (the source's section applies)
    assert arts["Council meets tonight"].section is None
    assert arts["Council meets tonight"].categories == ("Uncategorized",)
    image = arts["Mayor’s budget & parks"].image
    assert image is not None
    assert image.url == "https://harbortown.example/wp-content/uploads/budget.jpg"
    assert not [w for w in col.warnings if "no web link" in w]


def test_tracking_pixels_and_emoji_are_not_the_story_image(tmp_path: Path) -> None:
    feed = tmp_path / "pixels.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>M</title>'
        "<item><title>Medium text post</title><link>https://medium.example/p/1</link>"
        "<pubDate>Tue, 17 Nov 2026 10:00:00 GMT</pubDate><content:encoded><![CDATA["
        "<p>Words only.</p><img src='https://medium.example/_/stat?event=post.clientViewed'"
        " width='1' height='1' alt=''>]]></content:encoded></item>"
        "<item><title>Party</title><link>https://wp.example/p/2</link>"
        "<pubDate>Tue, 17 Nov 2026 11:00:00 GMT</pubDate><description><![CDATA[<p>Great "
        "<img class='wp-smiley emoji' alt='🎉' src='https://s.w.org/emoji/1f389.svg'> news</p>"
        "<img src='https://feeds.feedburner.example/~r/x/~4/abc' height='1px' width='1px'>"
        "<p><img src='https://wp.example/real.jpg' width='800' alt='The party'></p>"
        "]]></description></item></channel></rss>",
        encoding="utf-8",
    )
    arts = by_title(collect(make_config(("Pixels", str(feed)))))
    assert arts["Medium text post"].image is None
    party = arts["Party"].image
    assert party is not None and party.url == "https://wp.example/real.jpg"
    assert party.alt == "The party"


def test_feed_without_entry_dates_names_that_beside_its_xml_error(tmp_path: Path) -> None:
    # RSS 0.91 with the Netscape DTD's entities and (as that format allows) no item dates
    feed = tmp_path / "rss091.xml"
    feed.write_text(
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<rss version="0.91"><channel>'
        "<title>Old</title><link>http://old.example/</link>\n<item><title>Caf&eacute; opens"
        "</title><link>http://old.example/cafe.html</link></item></channel></rss>",
        encoding="latin-1",
    )
    good = tmp_path / "good.xml"
    good.write_text(WP_ITEM, encoding="utf-8")
    col = collect(make_config(("Old", str(feed)), ("WP", str(good))))
    [problem] = col.problems
    assert problem.source == "Old"
    assert "undefined entity" in problem.reason
    assert "has no date" in problem.reason and "Café opens" in problem.reason


def test_binary_answer_is_described_not_printed(http: HTTPServer, client: httpx.Client) -> None:
    import gzip

    http.expect_request("/feed.xml.gz").respond_with_data(
        gzip.compress(RSS2), content_type="application/x-gzip"
    )
    http.expect_request("/good.rss").respond_with_response(_feed(RSS091))
    cfg = make_config(("Gz", http.url_for("/feed.xml.gz")), ("Good", http.url_for("/good.rss")))
    col = collect(cfg, client=client)
    [problem] = col.problems
    assert problem.reason.startswith("not a feed: gzip-compressed data (")
    assert "\ufffd" not in problem.reason and "\x1f" not in problem.reason


def test_gzip_content_encoding_and_wrong_content_type_are_read(
    http: HTTPServer, client: httpx.Client
) -> None:
    import gzip

    http.expect_request("/gz.rss").respond_with_data(
        gzip.compress(RSS2),
        headers={"Content-Encoding": "gzip"},
        content_type="application/rss+xml",
    )
    http.expect_request("/html-typed.rss").respond_with_data(RSS091, content_type="text/html")
    cfg = make_config(("Gz", http.url_for("/gz.rss")), ("Typed", http.url_for("/html-typed.rss")))
    col = collect(cfg, client=client)
    assert not col.problems and col.sources_ok == 2
    titles = {a.title for a in col.articles}
    assert {"Harbour Talks Resume & Stall", "Vintage Item"} <= titles


def test_redirect_to_an_unreachable_place_names_where_it_led(
    http: HTTPServer, client: httpx.Client
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/feed"
    http.expect_request("/feed").respond_with_response(
        Response(status=301, headers={"Location": dead})
    )
    http.expect_request("/good.rss").respond_with_response(_feed(RSS091))
    cfg = make_config(("Moved", http.url_for("/feed")), ("Good", http.url_for("/good.rss")))
    [problem] = collect(cfg, client=client).problems
    assert problem.reason.startswith("cannot connect")
    assert f"{http.url_for('/feed')}, redirected to {dead}" in problem.reason


def test_youtube_video_description_is_the_dek(tmp_path: Path) -> None:
    feed = tmp_path / "videos.xml"
    feed.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"'
        ' xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">'
        "<title>Council TV</title><entry><id>yt:video:abc</id><title>Budget hearing</title>"
        '<link rel="alternate" href="https://www.youtube.com/watch?v=abc"/>'
        "<author><name>Council TV</name></author><published>2026-11-17T23:00:05+00:00</published>"
        "<media:group><media:title>Budget hearing</media:title>"
        '<media:content url="https://www.youtube.com/v/abc?version=3" '
        'type="application/x-shockwave-flash"/>'
        '<media:thumbnail url="https://i2.ytimg.com/vi/abc/hqdefault.jpg" width="480"/>'
        "<media:description>The full hearing, with public comment.</media:description>"
        "</media:group></entry></feed>",
        encoding="utf-8",
    )
    [video] = collect(make_config(("Videos", str(feed)))).articles
    assert video.dek == "The full hearing, with public comment."
    assert video.image is not None
    assert video.image.url == "https://i2.ytimg.com/vi/abc/hqdefault.jpg"
    assert video.url == "https://www.youtube.com/watch?v=abc"


def test_a_first_paragraph_repeating_the_title_is_not_the_dek(tmp_path: Path) -> None:
    feed = tmp_path / "medium.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>M</title>'
        "<item><title>Ten lessons from shipping</title><link>https://medium.example/p/10</link>"
        "<pubDate>Tue, 17 Nov 2026 10:00:00 GMT</pubDate><content:encoded><![CDATA["
        "<h3>Ten lessons from shipping</h3><p>Shipping is a habit.</p><p>Start small.</p>"
        "]]></content:encoded></item></channel></rss>",
        encoding="utf-8",
    )
    [story] = collect(make_config(("Medium", str(feed)))).articles
    assert story.title == "Ten lessons from shipping"
    assert story.dek == "Shipping is a habit."
    assert story.excerpt == "Shipping is a habit. Start small."


def test_a_home_page_instead_of_its_feed_names_the_feed_it_announces(
    http: HTTPServer, client: httpx.Client
) -> None:
    http.expect_request("/").respond_with_data(
        "<!DOCTYPE html><html><head><title>Harbor Town</title>"
        '<link rel="alternate" type="application/rss+xml" title="Feed" href="/feed/">'
        "</head><body>Home</body></html>",
        content_type="text/html",
    )
    http.expect_request("/plain").respond_with_data(
        (FEEDS / "page.html").read_bytes(), content_type="text/html"
    )
    http.expect_request("/good.rss").respond_with_response(_feed(RSS091))
    cfg = make_config(
        ("Home", http.url_for("/")),
        ("Plain", http.url_for("/plain")),
        ("Good", http.url_for("/good.rss")),
    )
    reasons = {p.source: p.reason for p in collect(cfg, client=client).problems}
    assert reasons["Home"].startswith("a web page, not a feed; the page names its feed: ")
    assert http.url_for("/feed/") in reasons["Home"]
    assert reasons["Plain"].startswith("not a feed: <!DOCTYPE html>")


def test_feedburner_orig_link_and_unencoded_urls(tmp_path: Path) -> None:
    feed = tmp_path / "links.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"><channel><title>L</title>'
        "<item><title>Proxied</title><link>http://feedproxy.example/~r/m/~3/abc/</link>"
        "<feedburner:origLink>https://m.example/story?utm_source=feedburner</feedburner:origLink>"
        "<pubDate>Thu, 19 Nov 2026 10:00:00 GMT</pubDate></item>"
        "<item><title>Spaced</title><link>https://m.example/café/two words?q=a b&amp;k=[1]</link>"
        "<pubDate>Thu, 19 Nov 2026 09:00:00 GMT</pubDate></item></channel></rss>",
        encoding="utf-8",
    )
    arts = by_title(collect(make_config(("Links", str(feed)))))
    assert arts["Proxied"].url == "https://m.example/story"
    # a raw space ends a link in many mail clients: encoded, the rest as the feed gave it
    assert arts["Spaced"].url == "https://m.example/caf%C3%A9/two%20words?q=a%20b&k=[1]"
    assert canonical_url("https://m.example/caf%C3%A9/x") == "https://m.example/caf%C3%A9/x"


def test_a_password_in_a_source_url_is_never_shown(http: HTTPServer, client: httpx.Client) -> None:
    http.expect_request("/private.rss").respond_with_data("no", status=401)
    url = http.url_for("/private.rss").replace("://", "://editor:s3cret-pw@")
    with pytest.raises(CollectError) as info:
        collect(make_config(("Private", url)), client=client)
    assert "s3cret-pw" not in str(info.value)
    assert "editor:***@" in str(info.value) and "HTTP 401" in str(info.value)
    [req] = [r for r, _ in http.log]
    assert req.authorization is not None  # the password was still used to fetch


def _published(tmp_path: Path, dates: dict[str, str]) -> dict[str, datetime]:
    """Each RSS pubDate in ``dates`` (title -> date text) as collect reads it."""
    items = "".join(
        f"<item><title>{name}</title><link>https://d.example/{name}</link>"
        f"<pubDate>{value}</pubDate></item>"
        for name, value in dates.items()
    )
    arts = _articles_of(
        tmp_path,
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>D</title>{items}</channel></rss>',
    )
    return {a.title: a.published for a in arts}


def test_dates_in_odd_formats_and_named_zones(tmp_path: Path) -> None:
    got = _published(tmp_path, {
        "offset": "Wed, 18 Nov 2026 10:00:00 +0530",
        "cest": "Wed, 18 Nov 2026 10:00:00 CEST",
        "aest": "Wed, 18 Nov 2026 10:00:00 AEST",
        "edt-no-seconds": "Wed, 18 Nov 2026 10:00 EDT",
        "lowercase": "wed, 18 nov 2026 10:00:00 gmt",
        "iso": "2026-11-18T10:00:00+01:00",
    })  # fmt: skip
    assert got == {
        "offset": utc(2026, 11, 18, 4, 30),
        "cest": utc(2026, 11, 18, 8, 0),
        "aest": utc(2026, 11, 18, 0, 0),
        "edt-no-seconds": utc(2026, 11, 18, 14, 0),
        "lowercase": utc(2026, 11, 18, 10, 0),
        "iso": utc(2026, 11, 18, 9, 0),
    }


def test_a_date_without_a_zone_is_the_newsletters_wall_time(tmp_path: Path) -> None:
    # make_config's newsletter is in America/New_York (UTC-5 in November)
    got = _published(tmp_path, {
        "rfc822-no-zone": "Wed, 18 Nov 2026 10:00:00",
        "iso-no-zone": "2026-11-18T10:00:00",
        "date-only": "2026-11-18",
        "iso-offset": "2026-11-18T10:00:00+01:00",
        "rfc822-gmt": "Wed, 18 Nov 2026 10:00:00 GMT",
    })  # fmt: skip
    assert got == {
        "rfc822-no-zone": utc(2026, 11, 18, 15, 0),
        "iso-no-zone": utc(2026, 11, 18, 15, 0),
        "date-only": utc(2026, 11, 18, 5, 0),
        "iso-offset": utc(2026, 11, 18, 9, 0),
        "rfc822-gmt": utc(2026, 11, 18, 10, 0),
    }


def test_one_entry_with_a_broken_link_costs_that_entry_not_the_feed(tmp_path: Path) -> None:
    links = {
        "ipv6": "http://[::1",
        "space-host": "https://exa mple.com/x",
        "bad-port": "https://example.com:99999/x",
        "good": "https://example.com/ok",
    }
    items = "".join(
        f"<item><title>{name}</title><link><![CDATA[{link}]]></link>"
        "<pubDate>Thu, 19 Nov 2026 10:00:00 GMT</pubDate>"
        # a broken picture costs only the picture
        "<enclosure url='http://[::1' type='image/jpeg' length='1'/>"
        "<description><![CDATA[<img src='/fine.jpg'>]]></description>"
        "</item>"
        for name, link in links.items()
    )
    feed = tmp_path / "links.xml"
    feed.write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{items}</channel></rss>'
    )
    col = collect(make_config(("Links", str(feed))))
    assert not col.problems
    assert [a.title for a in col.articles] == ["good"]
    image = col.articles[0].image
    assert image is not None and image.url == "https://example.com/fine.jpg"
    assert any("'ipv6' could not be read (Invalid IPv6 URL)" in w for w in col.warnings)
    assert any("'space-host' has no web link" in w for w in col.warnings)
    assert any("'bad-port' has no web link" in w for w in col.warnings)


def test_emoji_written_as_surrogate_references_do_not_lose_the_feed(tmp_path: Path) -> None:
    feed = tmp_path / "emoji.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        "<item><title>Party &#55357;&#56832; and &#xD83C;&#xDF89;</title>"
        "<link>https://x.example/a</link><pubDate>Thu, 19 Nov 2026 10:00:00 GMT</pubDate>"
        "<description>Half a pair: &#xD800; &#55000; stays.</description></item>"
        "<item><title>Other story</title><link>https://x.example/b</link>"
        "<pubDate>Thu, 19 Nov 2026 09:00:00 GMT</pubDate></item></channel></rss>"
    )
    col = collect(make_config(("Emoji", str(feed))))
    assert not col.problems
    arts = by_title(col)
    assert set(arts) == {"Party 😀 and 🎉", "Other story"}
    assert arts["Party 😀 and 🎉"].dek == "Half a pair: \ufffd \ud6d8 stays."


def test_substacks_subscribe_box_is_not_story_text(tmp_path: Path) -> None:
    feed = tmp_path / "substack.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>F</title>'
        "<item><title>On walking</title><link>https://fieldnotes.example/p/on-walking</link>"
        "<description>Notes from a 300-mile hike</description>"
        "<pubDate>Thu, 19 Nov 2026 15:31:22 GMT</pubDate><content:encoded><![CDATA["
        "<p>I started at dawn.</p><div class='subscription-widget-wrap'><div class='preamble'>"
        "<p>Thanks for reading Field Notes! Subscribe for free to receive new posts and support "
        "my work.</p></div><form><input type='email' placeholder='Type your email…'>"
        "<input type='submit' value='Subscribe'></form></div><p>By noon it rained.</p>"
        "<p>Field Notes is a reader-supported publication. To receive new posts and support my "
        "work, consider becoming a free or paid subscriber.</p>]]></content:encoded></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    [post] = collect(make_config(("Substack", str(feed)))).articles
    assert post.dek == "Notes from a 300-mile hike"
    assert post.excerpt == "I started at dawn. By noon it rained."


def test_blank_lines_before_the_xml_declaration_are_no_warning(tmp_path: Path) -> None:
    feed = tmp_path / "wp.xml"
    feed.write_text("\n\n  " + WP_ITEM, encoding="utf-8")
    col = collect(make_config(("WP", str(feed))))
    assert not col.problems and len(col.articles) == 2
    assert not [w for w in col.warnings if "well-formed" in w]
