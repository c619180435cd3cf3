"""The coming issue on the desk: what it shows, the changes (through digest.editor, in the
audit log, post/redirect/get), test copies, a sent issue read only, hostile feeds inert."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from desk.app import DESK_CSP
from desk.coming import PREVIEW_CSP, relative
from digest.editor import get_controls
from digest.store.database import Store
from digest.store.tables import IssueRecord
from tests.desk_support import (
    EDITOR,
    NOW,
    OTHER_EDITOR,
    make_app,
    make_desk_config,
    outbox,
    sign_in,
)
from tests.pipeline_support import AS_OF, SITE
from tests.subscribers_support import FakeClock

KEY = "2026-W47"
NEWEST = f"{SITE}/newest-story"
OLDEST = f"{SITE}/oldest-in-week"


@pytest.fixture
def client(tmp_path: Path, sqlite_store: Store) -> TestClient:
    return TestClient(make_app(make_desk_config(tmp_path), sqlite_store, FakeClock(NOW)))


def lead_title(html: str) -> str:
    """The lead's title in the rendered email (the first story heading)."""
    found = re.search(r'<a [^>]*href="https://statecraft\.example/([a-z-]+)[^"]*"[^>]*>', html)
    assert found
    return found.group(1)


def post(client: TestClient, csrf: str, path: str, **fields: str) -> httpx.Response:
    return client.post(path, data={"csrf": csrf, "key": KEY, **fields}, follow_redirects=False)


def test_relative_times() -> None:
    assert relative(AS_OF, AS_OF - timedelta(days=2)) == "in 2 days"
    assert relative(AS_OF, AS_OF - timedelta(hours=5)) == "in 5 hours"
    assert relative(AS_OF, AS_OF - timedelta(minutes=20)) == "in 20 minutes"
    assert relative(AS_OF, AS_OF + timedelta(hours=3)) == "3 hours ago"


def test_the_coming_issue_with_its_reasons(client: TestClient, tmp_path: Path) -> None:
    sign_in(client, tmp_path)
    page = client.get("/desk")
    assert page.status_code == 200
    html = page.text
    assert "Issue 2026-W47" in html
    assert "Friday, November 20, 2026" in html and "EST" in html and "in 2 days" in html
    assert "Featured story" in html and "newest in Featured" in html  # the lead and why
    assert "newest of 5 in the week" in html
    assert "Left out (1)" in html and "latest_count" in html
    assert html.count('<iframe sandbox="" src="/desk/coming/preview.html"') == 2
    assert 'width="375"' in html and 'width="640"' in html
    assert page.headers["content-security-policy"] == DESK_CSP
    assert page.headers["cache-control"] == "no-store"
    preview = client.get("/desk/coming/preview.html")
    assert preview.headers["content-security-policy"] == PREVIEW_CSP
    assert preview.headers["content-security-policy"].startswith("sandbox;")
    assert lead_title(preview.text) == "featured-story"
    assert "%%unsubscribe_url%%" not in preview.text


def test_pin_drop_note_and_the_audit_log(
    client: TestClient, tmp_path: Path, sqlite_store: Store
) -> None:
    csrf = sign_in(client, tmp_path)
    client.get("/desk")  # built and cached
    answer = post(client, csrf, "/desk/coming/pin", url=NEWEST + "?utm_source=x")
    assert answer.status_code == 303 and answer.headers["location"] == "/desk?done=pin"
    assert get_controls(sqlite_store, KEY).pin == NEWEST  # what `digest pin` stores
    page = client.get("/desk?done=pin").text
    assert "Pinned as the lead." in page and "pinned" in page and "Clear the pin" in page
    assert lead_title(client.get("/desk/coming/preview.html").text) == "newest-story"

    assert post(client, csrf, "/desk/coming/drop", url=OLDEST).status_code == 303
    assert OLDEST in get_controls(sqlite_store, KEY).drops
    assert "Restore" in client.get("/desk").text
    assert post(client, csrf, "/desk/coming/restore", url=OLDEST).status_code == 303
    assert not get_controls(sqlite_store, KEY).drops

    assert post(client, csrf, "/desk/coming/note", note="A quiet week.").status_code == 303
    assert get_controls(sqlite_store, KEY).note == "A quiet week."
    assert "A quiet week." in client.get("/desk/coming/preview.html").text
    assert post(client, csrf, "/desk/coming/note", note="  ").status_code == 303
    assert get_controls(sqlite_store, KEY).note is None

    assert post(client, csrf, "/desk/coming/unpin").status_code == 303
    assert lead_title(client.get("/desk/coming/preview.html").text) == "featured-story"

    audit = client.get("/desk/audit").text
    actions = re.findall(
        r"<td>(pinned as lead|dropped|restored|set the editor&#39;s note|"
        r"cleared the editor&#39;s note|cleared the pin|signed in)</td>",
        audit,
    )
    assert actions == [
        "cleared the pin",
        "cleared the editor&#39;s note",
        "set the editor&#39;s note",
        "restored",
        "dropped",
        "pinned as lead",
        "signed in",
    ]
    assert audit.count(EDITOR) >= 7 and audit.count(KEY) == 6


def test_only_the_issues_articles_can_be_pinned(client: TestClient, tmp_path: Path) -> None:
    csrf = sign_in(client, tmp_path)
    for url in ("https://elsewhere.example/story", "javascript:alert(1)"):
        answer = post(client, csrf, "/desk/coming/pin", url=url)
        assert answer.status_code == 400


def test_a_form_for_another_issue_changes_nothing(
    client: TestClient, tmp_path: Path, sqlite_store: Store
) -> None:
    csrf = sign_in(client, tmp_path)
    answer = client.post("/desk/coming/pin", data={"csrf": csrf, "key": "2026-W46", "url": NEWEST})
    assert answer.status_code == 409 and "Nothing was changed" in answer.text
    assert get_controls(sqlite_store, KEY).empty


def test_test_copies_to_me_and_to_every_editor(client: TestClient, tmp_path: Path) -> None:
    csrf = sign_in(client, tmp_path)
    before = {p.name for p in (tmp_path / "outbox").glob("*.eml")}
    answer = post(client, csrf, "/desk/coming/test", to="me")
    assert answer.status_code == 303 and answer.headers["location"] == "/desk?done=test_me"
    tests = [m for m in outbox(tmp_path) if str(m["Subject"]).startswith("[TEST] ")]
    assert [str(m["To"]) for m in tests] == [EDITOR]
    assert post(client, csrf, "/desk/coming/test", to="editors").status_code == 303
    tests = [m for m in outbox(tmp_path) if str(m["Subject"]).startswith("[TEST] ")]
    assert sorted(str(m["To"]).lower() for m in tests) == sorted(
        a.lower() for a in (EDITOR, OTHER_EDITOR)
    )
    assert {p.name for p in (tmp_path / "outbox").glob("*.eml")} > before
    assert "sent a test copy" in client.get("/desk/audit").text


def test_an_issue_already_sent_is_read_only(tmp_path: Path, sqlite_store: Store) -> None:
    config = make_desk_config(tmp_path)
    config = replace(config, selection=replace(config.selection, as_of="2026-11-20T09:00"))
    client = TestClient(make_app(config, sqlite_store, FakeClock(NOW)))
    csrf = sign_in(client, tmp_path)
    with sqlite_store.session() as s:
        s.add(
            IssueRecord(
                key=KEY,
                status="sent",
                as_of=AS_OF,
                subject="Sent",
                created_at=AS_OF,
                started_at=AS_OF,
                finished_at=AS_OF + timedelta(minutes=3),
            )
        )
    page = client.get("/desk").text
    assert "Issue 2026-W47 was sent on" in page and "read-only" in page
    assert "/desk/coming/pin" not in page and "Send a test" not in page
    answer = client.post("/desk/coming/pin", data={"csrf": csrf, "key": KEY, "url": NEWEST})
    assert answer.status_code == 409 and "Nothing was changed" in answer.text
    assert get_controls(sqlite_store, KEY).empty


HOSTILE_FEED = f"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>
<title>Hostile</title><link>{SITE}</link><description>d</description>
<item><title>&lt;script&gt;alert(1)&lt;/script&gt;Breaking</title>
<link>{SITE}/hostile-one</link><pubDate>Mon, 16 Nov 2026 10:00:00 -0500</pubDate>
<description>&lt;img src=x onerror="alert(2)"&gt;&lt;a href="javascript:alert(3)"&gt;click&lt;/a&gt;
&lt;script&gt;alert(4)&lt;/script&gt;</description></item>
<item><title>Second &lt;b onmouseover="alert(5)"&gt;story&lt;/b&gt;</title>
<link>javascript:alert(6)</link><guid>{SITE}/hostile-two</guid>
<pubDate>Mon, 16 Nov 2026 11:00:00 -0500</pubDate><description>x</description></item>
<item><title>Third story</title><link>{SITE}/third</link>
<pubDate>Mon, 16 Nov 2026 12:00:00 -0500</pubDate>
<description>&lt;iframe src="javascript:alert(7)"&gt;&lt;/iframe&gt;</description></item>
<item><title>Fourth story</title><link>{SITE}/fourth</link>
<pubDate>Mon, 16 Nov 2026 13:00:00 -0500</pubDate><description>y</description></item>
</channel></rss>"""


def test_hostile_feed_content_never_runs_on_the_desk(tmp_path: Path, sqlite_store: Store) -> None:
    config = make_desk_config(tmp_path, raw_feed=HOSTILE_FEED)
    client = TestClient(make_app(config, sqlite_store, FakeClock(NOW)))
    sign_in(client, tmp_path)
    page = client.get("/desk")
    assert page.status_code == 200
    html = page.text
    assert "<script" not in html and "onerror=" not in html and 'onmouseover="' not in html
    assert 'href="javascript:' not in html and "<iframe src=" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Breaking" in html or "alert(1)" not in html
    csp = page.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
    # the email itself is framed sandboxed, and served with a sandbox policy
    assert all(f.startswith('<iframe sandbox=""') for f in re.findall(r"<iframe[^>]*>", html))
    preview = client.get("/desk/coming/preview.html")
    assert preview.headers["content-security-policy"] == PREVIEW_CSP
    assert "script-src" not in PREVIEW_CSP and "default-src 'none'" in PREVIEW_CSP
    assert "<script" not in preview.text.lower()
    assert 'href="javascript:' not in preview.text.lower()
