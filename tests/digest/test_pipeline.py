"""build_issue: collect → editor controls and sent URLs from the store → select → render."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer

from digest import editor
from digest.config import load_config
from digest.errors import CollectError
from digest.pipeline import build_issue, preview_json
from digest.store.database import Store
from digest.store.tables import IssueArticle, IssueRecord
from tests.pipeline_support import AS_OF, SITE, Item, rss, write_config

STORY_KEYS = {"title", "url", "section", "published", "reason"}


def test_builds_lead_latest_and_render(tmp_path: Path, store: Store) -> None:
    cfg = load_config(write_config(tmp_path))
    built = build_issue(cfg, store=store, as_of=AS_OF)
    issue = built.issue
    assert issue.key == "2026-W47" and not issue.skipped
    assert issue.lead is not None and issue.lead.article.url == f"{SITE}/featured-story"
    assert issue.lead.reason == "newest in Featured"
    assert [p.article.url.rsplit("/", 1)[1] for p in issue.latest] == [
        "newest-story",
        "middle-story",
        "older-story",
        "oldest-in-week",
    ]
    assert built.rendered is not None
    assert "Featured Story" in built.rendered.subject
    assert f"{SITE}/newest-story" in built.rendered.text
    assert built.warnings == []


def test_editor_controls_and_sent_issues_apply(tmp_path: Path, store: Store) -> None:
    cfg = load_config(write_config(tmp_path))
    editor.set_pin(store, "2026-W47", f"{SITE}/older-story?utm_campaign=x")
    editor.add_drop(store, "2026-W47", f"{SITE}/newest-story")
    editor.set_note(store, "2026-W47", "Happy Thanksgiving from the desk.")
    editor.set_pin(store, "2026-W48", f"{SITE}/middle-story")  # another week: ignored
    with store.session() as s:
        s.add(
            IssueRecord(
                key="2026-W46", status="sent", as_of=AS_OF - timedelta(days=7), created_at=AS_OF
            )
        )
        s.flush()
        s.add(
            IssueArticle(
                issue_key="2026-W46",
                url=f"{SITE}/middle-story",
                role="lead",
                position=0,
                title="m",
                reason="r",
            )
        )
    built = build_issue(cfg, store=store, as_of=AS_OF)
    issue = built.issue
    assert issue.lead is not None and issue.lead.article.url == f"{SITE}/older-story"
    assert issue.lead.reason == "pinned by the editor"
    picked = {p.article.url for p in issue.picks}
    assert f"{SITE}/newest-story" not in picked and f"{SITE}/middle-story" not in picked
    assert issue.note == "Happy Thanksgiving from the desk."
    assert built.rendered is not None and "Happy Thanksgiving from the desk." in built.rendered.text
    data = preview_json(built)
    reasons = {d["url"]: d["reason"] for d in data["left_out"]}
    assert reasons[f"{SITE}/newest-story"] == "dropped by the editor"
    assert reasons[f"{SITE}/middle-story"] == "already sent in 2026-W46"


def test_resending_the_same_issue_keeps_its_articles(tmp_path: Path, sqlite_store: Store) -> None:
    cfg = load_config(write_config(tmp_path))
    first = build_issue(cfg, store=sqlite_store, as_of=AS_OF)
    with sqlite_store.session() as s:
        s.add(IssueRecord(key="2026-W47", status="sent", as_of=AS_OF, created_at=AS_OF))
        s.flush()
        for i, pick in enumerate(first.issue.picks):
            s.add(
                IssueArticle(
                    issue_key="2026-W47",
                    url=pick.article.url,
                    role=pick.role,
                    position=i,
                    title="t",
                    reason="r",
                )
            )
    again = build_issue(cfg, store=sqlite_store, as_of=AS_OF)
    assert [p.article.url for p in again.issue.picks] == [p.article.url for p in first.issue.picks]
    assert again.rendered is not None and first.rendered is not None
    assert again.rendered.html == first.rendered.html


def test_skipped_issue_is_not_rendered(tmp_path: Path, sqlite_store: Store) -> None:
    cfg = load_config(write_config(tmp_path, [Item("lonely", 5), Item("ancient", 24 * 20)]))
    built = build_issue(cfg, store=sqlite_store, as_of=AS_OF)
    assert built.issue.skipped and built.rendered is None
    data = preview_json(built)
    assert data["skipped"] is True and data["lead"] is None and data["latest"] == []
    assert data["skip_reason"] == "only 1 new article since Fri 13 Nov 09:00; min_articles is 3"
    json.dumps(data)  # serialisable


def test_preview_json_shape(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path))
    data = preview_json(build_issue(cfg, store=None, as_of=AS_OF))
    assert {
        "issue",
        "subject",
        "as_of",
        "lead",
        "latest",
        "skipped",
        "skip_reason",
        "warnings",
    } <= set(data)
    assert data["issue"] == "2026-W47"
    assert data["as_of"] == "2026-11-20T09:00:00-05:00"
    assert set(data["lead"]) == STORY_KEYS and all(set(s) == STORY_KEYS for s in data["latest"])
    assert data["lead"]["published"] == "2026-11-19T03:00:00-05:00"
    assert all(s["reason"] for s in [data["lead"], *data["latest"]])


def test_broken_source_is_a_warning_and_all_broken_is_an_error(tmp_path: Path) -> None:
    extra = '[[sources]]\nname = "Gone"\nurl = "missing.xml"\n'
    cfg = load_config(write_config(tmp_path, extra_sources=extra))
    built = build_issue(cfg, store=None, as_of=AS_OF)
    assert not built.issue.skipped
    assert any(w.startswith("source 'Gone' skipped:") for w in built.warnings)
    (tmp_path / "feed.xml").unlink()
    with pytest.raises(CollectError):
        build_issue(cfg, store=None, as_of=AS_OF)


def test_http_source_through_an_injected_client(tmp_path: Path, httpserver: HTTPServer) -> None:
    items = [Item("remote-a", 3), Item("remote-b", 4), Item("remote-c", 5, featured=True)]
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    path = write_config(tmp_path, [])
    path.write_text(
        path.read_text().replace('url = "feed.xml"', f'url = "{httpserver.url_for("/feed.xml")}"')
    )
    cfg = load_config(path)
    with httpx.Client(timeout=5) as client:
        built = build_issue(cfg, store=None, as_of=AS_OF, client=client)
    assert built.issue.lead is not None and built.issue.lead.article.url == f"{SITE}/remote-c"
    assert len(built.issue.latest) == 2


# --- one bad story never stops the issue (issue 11) ------------------------------------

WIRE = '[[sources]]\nname = "Wire"\nurl = "wire.xml"\n'


@pytest.mark.parametrize("reference", ["&#27;", "&#x1b;", "&#0;", "&#xFFFE;", "\x1b"])
def test_a_control_character_in_one_title_no_longer_stops_the_issue(
    tmp_path: Path, reference: str
) -> None:
    wire = rss([Item("wire-story", 3, section="Asia", title="TITLE")])
    (tmp_path / "wire.xml").write_text(wire.replace("TITLE", f"Wire{reference}[2J story"))
    built = build_issue(
        load_config(write_config(tmp_path, extra_sources=WIRE)), store=None, as_of=AS_OF
    )
    assert built.rendered is not None
    html, text = built.rendered.html, built.rendered.text
    assert "Newest Story" in html and "Featured Story" in text  # the healthy source's stories
    assert "Wire[2J story" in text  # the story itself goes out, without the character
    for part in (html, text, built.rendered.subject):
        assert not any(c in part for c in "\x00\x1b\ufffe")


def test_stories_from_a_malformed_feed_say_so_in_the_preview(tmp_path: Path) -> None:
    broken = rss([Item("wire-story", 1, section="Asia", title="Wire & story")])
    (tmp_path / "wire.xml").write_text(broken.replace("&amp;", "&"))  # a bare "&": not XML
    built = build_issue(
        load_config(write_config(tmp_path, extra_sources=WIRE)), store=None, as_of=AS_OF
    )
    data = preview_json(built)
    reasons = {s["url"]: s["reason"] for s in [data["lead"], *data["latest"]]}
    assert reasons[f"{SITE}/wire-story"] == "newest of 6 in the week; from a malformed feed"
    assert reasons[f"{SITE}/newest-story"] == "2nd newest of 6 in the week"
    assert any(w.startswith("Wire: the feed is not well-formed") for w in data["warnings"])


def test_the_preview_table_marks_stories_from_a_malformed_feed(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from digest.cli import cli

    broken = rss([Item("wire-story", 1, section="Asia", title="Wire & story")])
    (tmp_path / "wire.xml").write_text(broken.replace("&amp;", "&"))
    config = write_config(tmp_path, extra_sources=WIRE)
    result = CliRunner().invoke(
        cli,
        ["preview", "--config", str(config), "--out", str(tmp_path / "pv")],
        env={"DIGEST_DATABASE_URL": None, "DIGEST_CONFIG": None, "DIGEST_NOW": None},
    )
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if "Wire & story" in ln)
    assert "from a malformed feed" in line
