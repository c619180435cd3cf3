"""The archive list, its Atom feed, the favicon and the accent colour of the pages."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
from starlette.testclient import TestClient
from subscribers_support import NAME, T0, FakeClock, add_issue, make_config, secrets

from digest.backends.file import FileBackend
from digest.config import Config
from digest.store.database import Store
from digest.store.tables import IssueRecord
from subscribers.issues import sent_issues, strip_name
from subscribers.web.app import create_app

ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def client_for(cfg: Config, store: Store) -> TestClient:
    app = create_app(
        cfg,
        store=store,
        secrets=secrets(),
        clock=FakeClock(T0),
        backend=FileBackend(cfg, secrets()),
    )
    return TestClient(app)


@pytest.fixture
def archive(tmp_path: Path, store: Store) -> TestClient:
    add_issue(
        store,
        "2026-W47",
        lead="As Famine Spreads in the Sahel, Aid Stalls",
        as_of=datetime.fromisoformat("2026-11-20T14:00:00+00:00"),
        preheader="Donors pledged less than half of what is needed.",
        image_url="https://statecraft.example/img/sahel.jpg",
    )
    add_issue(
        store,
        "2026-W48",
        lead='Tariffs & "trade": <script>alert(1)</script> ]]> \x0b',
        as_of=datetime.fromisoformat("2026-11-27T14:00:00+00:00"),
    )
    add_issue(
        store,
        "2026-W49",
        lead=None,
        latest="No lead this week",
        as_of=datetime.fromisoformat("2026-12-04T14:00:00+00:00"),
    )
    add_issue(  # being sent: reachable by its key, neither listed nor in the feed
        store,
        "2026-W50",
        lead="Not yet",
        as_of=datetime.fromisoformat("2026-12-11T14:00:00+00:00"),
        status="sending",
    )
    return client_for(make_config(tmp_path), store)


# --- the list -------------------------------------------------------------------------


def test_the_list_reads_like_an_archive(archive: TestClient) -> None:
    page = archive.get("/issues")
    assert page.status_code == 200
    html = page.text
    # newest first, each with its lead's title (not the subject repeating the name)
    titles = re.findall(r'<h2 class="archive-title"><a href="/issues/([^"]+)">([^<]*)</a>', html)
    assert [key for key, _ in titles] == ["2026-W49", "2026-W48", "2026-W47"]
    assert titles[2][1] == "As Famine Spreads in the Sahel, Aid Stalls"
    assert titles[0][1] == "No lead this week"  # no lead: the first story, by position
    assert f"| {NAME}" not in html
    # the date in the newsletter's zone and locale (en_US by default), the key kept whole
    assert '<time datetime="2026-11-20">November 20, 2026</time>' in html
    assert '<span class="issue-key">2026-W47</span>' in html
    assert "Donors pledged less than half" in html  # the preheader under the title
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "2026-W50" not in html
    assert page.headers["cache-control"] == "public, max-age=300"


def test_each_entry_shows_its_leads_picture_when_it_was_kept(archive: TestClient) -> None:
    html = archive.get("/issues").text
    images = re.findall(r'<img class="archive-image" src="([^"]+)"', html)
    assert images == ["https://statecraft.example/img/sahel.jpg"]  # W47 only: the others had none


def test_the_date_follows_the_locale(tmp_path: Path, sqlite_store: Store) -> None:
    add_issue(
        sqlite_store,
        "2026-W47",
        lead="Lead",
        as_of=datetime.fromisoformat("2026-11-20T14:00:00+00:00"),
    )
    cfg = make_config(tmp_path)
    cfg = replace(cfg, newsletter=replace(cfg.newsletter, locale="fr_FR"))
    html = client_for(cfg, sqlite_store).get("/issues").text
    assert "20 novembre 2026" in html


def test_the_key_never_breaks_across_lines(archive: TestClient) -> None:
    css = archive.get("/static/site.css").text
    rule = re.search(r"\.issue-key \{([^}]*)\}", css)
    assert rule and "white-space: nowrap" in rule.group(1)


def test_an_empty_archive(tmp_path: Path, sqlite_store: Store) -> None:
    client = client_for(make_config(tmp_path), sqlite_store)
    assert "No issue has been sent yet" in client.get("/issues").text
    feed = feedparser.parse(client.get("/issues/feed.xml").content)
    assert not feed.bozo and feed.entries == [] and feed.feed.updated == "2026-01-05T09:00:00Z"


@pytest.mark.parametrize(
    ("subject", "title"),
    [
        (f"Lead story | {NAME}", "Lead story"),
        (f"{NAME}: Lead story", "Lead story"),
        (f"Lead story – {NAME.upper()}", "Lead story"),
        (NAME, NAME),
        ("Something else", "Something else"),
    ],
)
def test_strip_name(subject: str, title: str) -> None:
    assert strip_name(subject, NAME) == title


def test_without_stored_stories_the_subject_loses_the_name(sqlite_store: Store) -> None:
    with sqlite_store.session() as s:
        s.add(
            IssueRecord(
                key="2026-W01",
                status="sent",
                as_of=T0,
                subject=f"Old issue | {NAME}",
                archive_html="<p>x</p>",
                created_at=T0,
            )
        )
    [issue] = sent_issues(sqlite_store, name=NAME)
    assert issue.title == "Old issue" and issue.lead_url is None and issue.sent == T0


def test_an_archived_issue_links_back_to_the_list_and_the_feed(archive: TestClient) -> None:
    page = archive.get("/issues/2026-W47")
    assert page.status_code == 200
    assert '</issues>; rel="index"' in page.headers["link"]
    assert "</issues/feed.xml>" in page.headers["link"]


# --- the feed -------------------------------------------------------------------------


def test_the_feed_is_valid_atom(archive: TestClient) -> None:
    response = archive.get("/issues/feed.xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")

    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == NAME
    links = {(link.rel, link.href) for link in parsed.feed.links}
    assert ("self", "http://127.0.0.1:8000/issues/feed.xml") in links
    assert ("alternate", "http://127.0.0.1:8000/issues") in links
    assert [e.link for e in parsed.entries] == [
        "http://127.0.0.1:8000/issues/2026-W49",
        "http://127.0.0.1:8000/issues/2026-W48",
        "http://127.0.0.1:8000/issues/2026-W47",
    ]
    hostile = parsed.entries[1]
    assert hostile.title == 'Tariffs & "trade": <script>alert(1)</script> ]]>'  # text, intact
    assert parsed.entries[2].summary == "Donors pledged less than half of what is needed."
    assert parsed.entries[2].published == "2026-11-20T16:00:00Z"


def test_the_feed_keeps_the_rules_of_rfc_4287(archive: TestClient) -> None:
    """What the W3C validator checks that can be checked offline."""
    root = ET.fromstring(archive.get("/issues/feed.xml").content)
    assert root.tag == f"{ATOM}feed"

    def one(parent: ET.Element, tag: str) -> ET.Element:
        found = parent.findall(f"{ATOM}{tag}")
        assert len(found) == 1, f"{tag}: {len(found)}"
        return found[0]

    def absolute(url: str) -> None:
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.netloc, url

    ids = [one(root, "id").text]
    for tag in ("title", "updated"):
        assert (one(root, tag).text or "").strip()
    assert RFC3339.match(one(root, "updated").text or "")
    assert one(one(root, "author"), "name").text == NAME  # the feed's author covers entries
    for link in root.findall(f"{ATOM}link"):
        absolute(link.get("href", ""))
    assert {link.get("rel") for link in root.findall(f"{ATOM}link")} == {"self", "alternate"}
    newest = ""
    for entry in root.findall(f"{ATOM}entry"):
        ids.append(one(entry, "id").text)
        assert (one(entry, "title").text or "").strip()
        updated = one(entry, "updated").text or ""
        assert RFC3339.match(updated) and RFC3339.match(one(entry, "published").text or "")
        newest = max(newest, updated)
        alternate = [
            link
            for link in entry.findall(f"{ATOM}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        assert len(alternate) == 1  # at most one alternate per type (and one is needed
        absolute(alternate[0].get("href", ""))  # without content)
        assert (one(entry, "summary").text or "").strip()
    assert len(ids) == 4 and len(set(ids)) == 4  # unique
    for value in ids:
        assert value and re.match(r"^urn:uuid:[0-9a-f-]{36}$", value)
    assert one(root, "updated").text == newest  # the feed changed when its newest entry did


def test_feed_ids_are_stable(archive: TestClient) -> None:
    first = feedparser.parse(archive.get("/issues/feed.xml").content)
    again = feedparser.parse(archive.get("/issues/feed.xml").content)
    assert [e.id for e in first.entries] == [e.id for e in again.entries]
    assert first.feed.id == again.feed.id


def test_every_page_links_the_feed_and_the_icon(archive: TestClient) -> None:
    for path in ("/", "/issues", "/embed/thanks", "/nowhere"):
        html = archive.get(path).text
        assert '<link rel="alternate" type="application/atom+xml" href="/issues/feed.xml"' in html
        assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in html


# --- favicon and accent ---------------------------------------------------------------


def test_favicon_is_a_letter_mark_on_the_accent(archive: TestClient) -> None:
    svg = archive.get("/favicon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert "max-age" in svg.headers["cache-control"]
    root = ET.fromstring(svg.text)
    assert root.find("{http://www.w3.org/2000/svg}rect").get("fill") == "#b3202a"  # type: ignore[union-attr]
    assert root.find("{http://www.w3.org/2000/svg}text").text == "S"  # type: ignore[union-attr]
    ico = archive.get("/favicon.ico", follow_redirects=False)
    assert ico.status_code == 302 and ico.headers["location"] == "/favicon.svg"
    assert "max-age" in ico.headers["cache-control"]
    assert archive.get("/favicon.ico").status_code == 200


def test_favicon_is_the_logo_when_there_is_one(tmp_path: Path, sqlite_store: Store) -> None:
    cfg = make_config(tmp_path)
    logo = "https://statecraft.example/logo.png"
    cfg = replace(
        cfg,
        newsletter=replace(cfg.newsletter, logo_url=logo, accent_color="#1a5fb4", name="état"),
    )
    client = client_for(cfg, sqlite_store)
    assert client.get("/favicon.ico", follow_redirects=False).headers["location"] == logo
    html = client.get("/").text
    assert f'<link rel="icon" href="{logo}">' in html
    assert f'<img class="logo" src="{logo}" alt="état" width="200">' in html
    assert "--accent: #1a5fb4; --accent-dark: #154c90;" in html
    assert ">É</text>" in client.get("/favicon.svg").text


def test_the_pages_use_the_accent_colour(archive: TestClient) -> None:
    html = archive.get("/").text
    assert "<style>:root { --accent: #b3202a; --accent-dark: #8f1a22; }</style>" in html
