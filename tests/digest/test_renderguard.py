"""The second line of defence (digest.renderguard): a story that still makes the email fail
to render is left out, named by source and entry, and the issue goes out with the rest.

Collection removes every character known to break the MJML, so these tests let one through
on purpose (``safe_article`` replaced by the identity), as an unforeseen one would be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import digest.feeds
from digest.cli import cli
from digest.config import load_config
from digest.errors import RenderError
from digest.models import Article
from digest.pipeline import build_issue, preview_json
from tests.pipeline_support import AS_OF, SITE, Item, rss, write_config

BAD_URL = f"{SITE}/bad-story"


@pytest.fixture
def unsafe_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Collection lets feed text through as it is (raising=False: a check on old code)."""

    def same(article: Article) -> Article:
        return article

    monkeypatch.setattr(digest.feeds, "safe_article", same, raising=False)


def _two_sources(tmp_path: Path) -> Path:
    """The healthy "Main feed" of pipeline_support and a "Wire" source whose one story has an
    ESC in its title."""
    wire = rss([Item("bad-story", 5, section="Asia", title="TITLE")])
    (tmp_path / "wire.xml").write_text(wire.replace("TITLE", "Bad &#27;[2J story"))
    return write_config(tmp_path, extra_sources='[[sources]]\nname = "Wire"\nurl = "wire.xml"\n')


def _run(*args: str) -> Result:
    env: dict[str, str | None] = {
        "DIGEST_DATABASE_URL": None,
        "DIGEST_CONFIG": None,
        "DIGEST_NOW": None,
    }
    return CliRunner().invoke(cli, list(args), env=env)


def test_a_story_that_breaks_the_email_is_left_out_and_named(
    tmp_path: Path, unsafe_text: None
) -> None:
    built = build_issue(load_config(_two_sources(tmp_path)), store=None, as_of=AS_OF)
    assert built.rendered is not None
    picked = {p.article.url for p in built.issue.picks}
    assert BAD_URL not in picked and f"{SITE}/newest-story" in picked
    assert "Newest Story" in built.rendered.html and "Bad" not in built.rendered.subject
    note = next(w for w in built.warnings if BAD_URL in w)
    assert note.startswith("Wire: entry ") and "the email cannot be rendered with it" in note
    data = preview_json(built)
    assert any(BAD_URL in w and "Wire" in w for w in data["warnings"])
    assert {
        "title": "Bad \x1b[2J story",
        "url": BAD_URL,
        "reason": "the email cannot be rendered with it",
    } in data["left_out"]


def test_preview_prints_the_warning_and_exits_0(tmp_path: Path, unsafe_text: None) -> None:
    config = _two_sources(tmp_path)
    result = _run("preview", "--config", str(config), "--out", str(tmp_path / "pv"))
    assert result.exit_code == 0, result.output
    assert "Wire: entry" in result.output and BAD_URL in result.output
    assert "Newest Story" in (tmp_path / "pv" / "issue.html").read_text()
    as_json = _run("preview", "--config", str(config), "--out", str(tmp_path / "pv"), "--json")
    assert as_json.exit_code == 0, as_json.output
    warnings = json.loads(as_json.stdout)["warnings"]
    assert any(w.startswith("Wire: entry") and BAD_URL in w for w in warnings)


def test_the_issue_fails_only_below_min_articles_naming_the_story(
    tmp_path: Path, unsafe_text: None
) -> None:
    # the healthy feed has five stories in the window: with the bad one, six; six are needed
    path = _two_sources(tmp_path)
    path.write_text(path.read_text().replace("min_articles = 3", "min_articles = 6"))
    with pytest.raises(RenderError) as err:
        build_issue(load_config(path), store=None, as_of=AS_OF)
    assert "Wire: entry" in str(err.value) and BAD_URL in str(err.value)
    assert "min_articles is 6" in str(err.value)


def test_a_broken_template_is_its_own_error_not_a_storys(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "issue.mjml.j2").write_text(
        "<mjml><mj-body><mj-section>{{ lead.title }}</mj-body></mjml>"
    )  # mj-section never closed
    path = write_config(tmp_path)
    text = path.read_text().replace("[[sources]]", 'templates_dir = "templates"\n\n[[sources]]', 1)
    path.write_text(text)
    with pytest.raises(RenderError) as err:
        build_issue(load_config(path), store=None, as_of=AS_OF)
    assert "issue.mjml.j2" in str(err.value) and "entry" not in str(err.value)
