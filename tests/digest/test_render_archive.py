"""`digest.archive`: the copy of an issue the web archive serves has a footer for a
visitor of the web, nothing meant for a reader of the email."""

from __future__ import annotations

from pathlib import Path

from digest.archive import archive_html
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from digest.render import render
from tests.conftest import REPO
from tests.digest.test_render import NOTE, assert_inert, parse
from tests.render_samples import make_config, make_issue

PERSONAL = ("You're receiving this", "View in browser", "Unsubscribe", "subscribed to")


def test_the_archived_copy_has_a_footer_for_the_web() -> None:
    config = make_config()
    email = render(make_issue(6, note=NOTE), config).html
    archived = archive_html(email, config)
    assert_inert(archived)
    page = parse(archived)
    for words in PERSONAL:
        assert words not in page.visible, words
    assert UNSUBSCRIBE_PLACEHOLDER not in archived and "%%" not in archived
    assert "/issues/2026-W47" not in archived  # no "view in browser": this is the browser
    links = page.links()
    assert "https://news.statecraft.example/issues" in links  # back to the list
    assert "https://news.statecraft.example/" in links  # subscribe
    assert "https://statecraft.example" in links  # the publication's site
    for words in ("From the archive of Statecraft Weekly", "All issues", "Subscribe by email"):
        assert words in page.visible, words
    assert "1 Example Street, Washington, DC 20001" in page.visible  # the postal address stays
    # Everything but the footer is the email as sent.
    cut = email.index('<div class="reader-footer">')
    assert archived[:cut] == email[:cut]
    assert archived.count('<div class="web-footer">') == 1


def test_the_names_in_the_web_footer_are_escaped() -> None:
    config = make_config(name="Tom & <b>Jerry</b>")
    archived = archive_html(render(make_issue(2), config).html, config)
    assert "From the archive of Tom & <b>Jerry</b>" in parse(archived).visible
    assert "b" not in [t for t, _ in parse(archived).tags]  # text, never a tag
    assert_inert(archived)


def test_a_users_template_can_word_the_web_footer(tmp_path: Path) -> None:
    (tmp_path / "issue.mjml.j2").write_text(
        (REPO / "templates/email/issue.mjml.j2").read_text()
        + '{% block web_footer_text %}<p>Our archive: <a href="{{ issues_url }}">every issue</a>'
        "</p>{% endblock %}\n"
    )
    config = make_config(templates_dir=tmp_path)
    archived = archive_html(render(make_issue(2), config).html, config)
    page = parse(archived)
    assert "Our archive: every issue" in page.visible
    assert "All issues" not in page.visible and "View in browser" not in page.visible


def test_a_layout_without_the_readers_footer_still_loses_the_personal_link(
    tmp_path: Path,
) -> None:
    # a user's layout from before the web footer: only the unsubscribe link is rewritten
    layout = (REPO / "templates/email/layout.mjml.j2").read_text()
    start, end = (
        layout.index("{% if for_web %}"),
        layout.index("{% endif %}\n          <p>{{ newsletter.postal"),
    )
    old = (
        layout[:start]
        + "{% block footer_text %}{% endblock %}\n"
        + layout[end + len("{% endif %}") :]
    )
    (tmp_path / "layout.mjml.j2").write_text(old)
    config = make_config(templates_dir=tmp_path)
    email = render(make_issue(2), config).html
    assert "reader-footer" not in email and UNSUBSCRIBE_PLACEHOLDER in email
    archived = archive_html(email, config)
    assert UNSUBSCRIBE_PLACEHOLDER not in archived
    page = parse(archived)
    assert "Unsubscribe" not in page.visible and "Subscribe" in page.visible
    assert "https://news.statecraft.example/" in page.links()
