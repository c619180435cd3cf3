"""The render stage: golden files, hostile feed content, size budget, overrides.

Regenerate the golden files after a deliberate template change with
``DIGEST_UPDATE_GOLDEN=1 python -m pytest tests/digest/test_render.py`` and review
the diff (and the screenshots of tests/digest/test_render_browser.py) before committing.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from digest.errors import RenderError
from digest.models import UNSUBSCRIBE_PLACEHOLDER, Article, Image, Issue, Pick
from digest.render import Renderer, render, render_email, safe_url, sanitize_fragment
from tests.conftest import GOLDEN, REPO
from tests.render_samples import articles, make_config, make_issue

GMAIL_CLIP_BYTES = 102 * 1024


# --- helpers ---------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects what a mail client would see: tags, attributes and visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if not self._stack or self._stack[-1] not in ("style", "title"):
            self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())

    def links(self) -> list[str]:
        return [a["href"] for t, a in self.tags if t == "a" and "href" in a]


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def assert_inert(html: str) -> None:
    """Nothing active: no script/iframe/object/embed, no on* handler, no
    javascript:/data:/vbscript: URL in any attribute."""
    page = parse(html)
    for tag, attrs in page.tags:
        assert tag not in ("script", "iframe", "object", "embed", "form", "base"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}={value!r}>"
            squashed = re.sub(r"[\x00-\x20]", "", value).lower()
            for scheme in ("javascript:", "vbscript:", "data:"):
                assert not squashed.startswith(scheme), f"<{tag} {name}={value!r}>"
    lowered = html.lower()
    assert "<script" not in lowered and "<iframe" not in lowered
    assert re.search(r"<[^>]*\son\w+\s*=", html) is None


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DIGEST_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
        return
    assert path.exists(), f"{path} is missing: run with DIGEST_UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        split = (
            (lambda s: s.replace("><", ">\n<").splitlines())
            if name.endswith(".html")
            else str.splitlines
        )
        diff = "\n".join(
            difflib.unified_diff(split(expected), split(actual), "golden", "now", lineterm="", n=1)
        )
        pytest.fail(
            f"{name} differs from the golden file (DIGEST_UPDATE_GOLDEN=1 to accept):\n{diff[:4000]}"
        )


def hostile_article(**changes: object) -> Article:
    base = articles()[1]
    return replace(base, **changes)  # type: ignore[arg-type]


# --- golden files -----------------------------------------------------------------

NOTE = "Thanks for reading our first issue.\n\nWe read every reply: tell us what we missed."


def test_golden_html_and_text() -> None:
    rendered = render(make_issue(6, note=NOTE), make_config())
    check_golden("issue.html", rendered.html)
    check_golden("issue.txt", rendered.text)
    assert rendered.subject == (
        "As Famine Spreads in the Sahel, Donors Argue Over Who Pays | Statecraft Weekly"
    )
    assert rendered.archive_url == "https://news.statecraft.example/issues/2026-W47"
    assert rendered.key == "2026-W47"


@pytest.mark.parametrize(
    ("locale", "date", "words"),
    [
        ("en_GB", "Friday, 20 November 2026", ("Keep reading", "View in browser", "Latest")),
        (
            "fr_FR",
            "vendredi 20 novembre 2026",
            ("Lire la suite", "Voir dans le navigateur", "Se désabonner", "Derniers articles"),
        ),
    ],
)
def test_golden_html_and_text_per_locale(locale: str, date: str, words: tuple[str, ...]) -> None:
    """The same issue in another locale: its dates (CLDR) and fixed words (the catalogs);
    the feed's text stays as the feed wrote it."""
    config = make_config(locale=locale, subject="{name} · {date}")
    rendered = render(make_issue(6, note=NOTE), config)
    check_golden(f"issue.{locale}.html", rendered.html)
    check_golden(f"issue.{locale}.txt", rendered.text)
    lang = locale.replace("_", "-")
    assert f'<html lang="{lang}"' in rendered.html
    assert rendered.subject == f"Statecraft Weekly · {date}"
    for text in (parse(rendered.html).visible, rendered.text):
        assert date in text
        assert "As Famine Spreads in the Sahel, Donors Argue Over Who Pays" in text
        for word in words:
            assert word.lower() in text.lower(), (locale, word)


def test_rendering_is_byte_identical_twice_and_across_renderers() -> None:
    issue, config = make_issue(12, note=NOTE), make_config()
    first = render(issue, config)
    again = Renderer(make_config()).render(issue)
    assert first == again


# --- what every reader sees ---------------------------------------------------------


def test_the_email_has_what_mail_clients_and_readers_need() -> None:
    rendered = render(make_issue(6, note=NOTE), make_config())
    html = rendered.html
    page = parse(html)
    metas = [a for t, a in page.tags if t == "meta"]
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in metas
    assert {"name": "color-scheme", "content": "light only"} in metas  # no forced dark inversion
    assert page.tags[0] == ("html", page.tags[0][1]) and page.tags[0][1].get("lang") == "en-US"
    # The preheader: hidden, first in the body, from the lead's dek.
    body = html[html.index("<body") :]
    hidden = re.search(r'<div style="display:none;[^"]*">([^<]*)</div>', body)
    assert hidden and hidden.group(1).startswith("Aid agencies say three million people")
    assert rendered.preheader.startswith("Aid agencies say three million people")
    assert len(rendered.preheader) <= 150
    # Masthead, date in the newsletter's zone, note, lead, latest, footer.
    text = page.visible
    for expected in (
        "Statecraft Weekly",
        "The week in foreign policy, from Statecraft",
        "Friday, November 20, 2026",
        "From the editor",
        "We read every reply: tell us what we missed.",
        "Top image credit: Issa Ouédraogo for Statecraft",
        "Global Crises",
        "As Famine Spreads in the Sahel, Donors Argue Over Who Pays",
        "Keep reading",
        "Latest",
        "Brussels & Beijing Strike a Fragile Truce on Electric Vehicles",
        "You're receiving this because you subscribed to Statecraft Weekly at statecraft.example",
        "View in browser",
        "Unsubscribe",
        "1 Example Street, Washington, DC 20001",
    ):
        assert expected in text, expected
    lead_img = next(a for t, a in page.tags if t == "img")
    assert lead_img["alt"] == "A grain seller waits for customers at a market in Kaya, Burkina Faso"
    links = page.links()
    assert UNSUBSCRIBE_PLACEHOLDER in links
    assert "https://news.statecraft.example/issues/2026-W47" in links
    assert (
        links.count("https://statecraft.example/global-crises/2026/11/20/sahel-famine-donors") >= 3
    )
    assert_inert(html)


def test_the_section_label_styles_are_inlined_and_media_queries_stay_in_head() -> None:
    html = render(make_issue(3), make_config()).html
    page = parse(html)
    labels = [a for t, a in page.tags if t == "p" and a.get("class") == "label"]
    assert labels and all("text-transform: uppercase" in a["style"] for a in labels)
    head = html[: html.index("</head>")]
    assert "@media only screen and (max-width: 479px)" in head  # the template's own rule
    assert "mj-column-per-100" in head  # mjml's responsive columns
    assert ".label {" not in head  # inlined, not left behind as a rule


def test_text_part_writes_out_every_link() -> None:
    issue = make_issue(12, note=NOTE)
    rendered = render(issue, make_config())
    text = rendered.text
    for pick in issue.picks:
        assert pick.article.url in text, pick.article.url
        assert pick.article.title in text.replace("\n", " ")
    assert "View in browser: https://news.statecraft.example/issues/2026-W47" in text
    assert f"Unsubscribe: {UNSUBSCRIBE_PLACEHOLDER}" in text
    assert "https://statecraft.example" in text
    assert "Friday, November 20, 2026" in text
    assert "1 Example Street, Washington, DC 20001" in text
    assert "<" not in text  # plain text, no markup
    # Every link in the HTML is written out in the text part.
    for href in set(parse(rendered.html).links()):
        assert href in text, href


def test_one_render_serves_every_recipient() -> None:
    rendered = render(make_issue(3), make_config())
    html, text = rendered.personalize({UNSUBSCRIBE_PLACEHOLDER: "https://x.example/u/abc?t=1&x=2"})
    assert UNSUBSCRIBE_PLACEHOLDER not in html + text
    assert "Unsubscribe: https://x.example/u/abc?t=1&x=2" in text
    assert 'href="https://x.example/u/abc?t=1&x=2"' in html


def test_a_placeholder_in_feed_text_is_never_filled_with_a_readers_link() -> None:
    # a feed cannot collect every reader's unsubscribe link through a story URL or text
    p = UNSUBSCRIBE_PLACEHOLDER
    lead = replace(
        articles()[0],
        title=f"Read {p} now",
        dek=f"dek {p}",
        url=f"https://elsewhere.example/track?u={p}",
        image=Image(url=f"https://elsewhere.example/i.jpg?u={p}", alt=p, credit=p),
    )
    story = replace(articles()[1], excerpt=f"Excerpt {p}.", authors=(p,), section=p)
    rendered = render(make_issue(1, lead=lead, stories=[story], note=f"Note {p}"), make_config())
    secret = "https://x.example/u/SECRET-TOKEN"
    html, text = rendered.personalize({p: secret})
    assert html.count(secret) == 1  # the footer's Unsubscribe link, nothing else
    assert text.count(secret) == 1
    assert p not in rendered.subject
    assert "Read" in rendered.subject and "now" in rendered.subject
    assert "https://elsewhere.example/track?u=%25%25unsubscribe_url%25%25" in html


def test_issue_date_is_the_as_of_in_the_newsletters_zone() -> None:
    # 03:00 UTC on Saturday is still Friday evening in New York.
    late = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    issue = replace(make_issue(2), as_of=late)
    rendered = render(issue, make_config(subject="{name} for {date} ({issue})"))
    assert "Friday, November 20, 2026" in rendered.text
    assert rendered.subject == "Statecraft Weekly for Friday, November 20, 2026 (2026-W47)"
    tokyo = render(issue, make_config(timezone="Asia/Tokyo"))
    assert "Saturday, November 21, 2026" in tokyo.text


def test_subject_is_one_line_whatever_the_feed_title_holds() -> None:
    lead = replace(articles()[0], title="Breaking\r\nBcc: everyone@example.com\n  news")
    rendered = render(make_issue(2, lead=lead), make_config())
    assert rendered.subject == "Breaking Bcc: everyone@example.com news | Statecraft Weekly"
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


def test_an_issue_without_tagline_note_images_or_dek_still_renders_cleanly() -> None:
    plain = [replace(a, image=None, dek="", section=None) for a in articles()[:4]]
    issue = make_issue(3, lead=plain[0], stories=plain[1:])
    config = make_config(tagline=None)
    rendered = render(issue, config)
    page = parse(rendered.html)
    assert not [t for t, _ in page.tags if t == "img"]
    assert "From the editor" not in page.visible
    assert "Top image credit" not in page.visible + rendered.text
    assert "None" not in page.visible and "None" not in rendered.text
    assert rendered.preheader.startswith("Aid agencies working across Burkina Faso")


def test_a_skipped_issue_is_an_error_not_an_empty_email() -> None:
    skipped = replace(make_issue(0), lead=None, skipped=True, skip_reason="only 0 articles")
    with pytest.raises(RenderError, match="2026-W47.*only 0 articles"):
        render(skipped, make_config())


# --- hostile feed content ------------------------------------------------------------

EVIL_TITLE = "<script>alert(1)</script> {{ 7*7 }} {% raw %}x{% endraw %} ${7*7}"
EVIL_DEK = '"><img src=x onerror=alert(1)> <iframe src="https://evil.example"></iframe>'
EVIL_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example/protocol-relative",
    "/relative/path",
]


def _hostile_issue() -> Issue:
    stories = [
        hostile_article(
            title=EVIL_TITLE,
            dek=EVIL_DEK,
            excerpt=EVIL_DEK,
            url=url,
            section='<b onmouseover="alert(1)">Europe</b>',
            image=Image(url=url, alt='" onload="alert(1)', credit="<iframe src=x></iframe>"),
        )
        for url in EVIL_URLS
    ]
    lead = hostile_article(
        title=EVIL_TITLE,
        dek=EVIL_DEK,
        excerpt=EVIL_DEK + "\n\n{{ config.newsletter.from_email }}",
        url='https://ok.example/a"onmouseover="alert(1)',
        image=Image(url="javascript:alert(2)", alt="x", credit='<script>alert("credit")</script>'),
    )
    return replace(
        make_issue(len(stories), lead=lead, stories=stories),
        note="<script>alert('note')</script> {{ 7*7 }}",
    )


def test_hostile_feed_content_is_shown_literally_and_nothing_is_active() -> None:
    rendered = render(_hostile_issue(), make_config())
    assert_inert(rendered.html)
    page = parse(rendered.html)
    visible = page.visible
    # Shown as text, exactly, and never evaluated as a template.
    assert EVIL_TITLE in visible
    assert EVIL_DEK in visible
    assert "{{ config.newsletter.from_email }}" in visible
    assert "<script>alert('note')</script> {{ 7*7 }}" in visible
    assert "newsletter@statecraft.example" not in rendered.html + rendered.text
    assert " 49 " not in visible and "49" not in rendered.text
    assert EVIL_TITLE in rendered.text and "{{ 7*7 }}" in rendered.subject
    # No link or image from a non-http(s) URL; the story itself is still listed.
    srcs = [a["src"] for t, a in page.tags if t == "img"]
    assert srcs == []
    hrefs = page.links()
    assert all(h.startswith(("https://", "http://")) or h == UNSUBSCRIBE_PLACEHOLDER for h in hrefs)
    assert visible.count(EVIL_TITLE) == 1 + len(EVIL_URLS)
    for url in EVIL_URLS:
        assert url.strip() not in rendered.text
    # The quote in an http URL cannot break out of its attribute.
    assert 'https://ok.example/a"onmouseover="alert(1)' in hrefs
    assert 'a"onmouseover' not in rendered.html


def test_text_part_never_evaluates_feed_text() -> None:
    rendered = render(_hostile_issue(), make_config())
    assert "{% raw %}x{% endraw %}" in rendered.text
    assert "<script>alert('note')</script>" in rendered.text  # plain text: shown as is


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://statecraft.example/a?b=1&c=2", True),
        ("HTTP://STATECRAFT.EXAMPLE/", True),
        ("  https://statecraft.example/padded  ", True),
        ("https://", False),
        ("ftp://statecraft.example/file", False),
        ("mailto:editor@statecraft.example", False),
        *[(u, False) for u in EVIL_URLS],
        ("https://statecraft.example/\x00", False),
        (None, False),
    ],
)
def test_safe_url(url: str | None, ok: bool) -> None:
    assert (safe_url(url) is not None) is ok


def test_sanitize_fragment_keeps_formatting_and_drops_everything_active() -> None:
    dirty = (
        '<p onclick="x()">Hi <strong>there</strong> <a href="javascript:alert(1)">bad</a> '
        '<a href="https://ok.example/" target="_top" style="color:red">good</a>'
        '<script>alert(1)</script><iframe src="https://evil.example"></iframe>'
        "<img src=x onerror=alert(1)></p>"
    )
    clean = str(sanitize_fragment(dirty))
    assert_inert(clean)
    assert "<strong>there</strong>" in clean
    assert '<a href="https://ok.example/" rel="noopener noreferrer">good</a>' in clean
    assert "<img" not in clean and "style=" not in clean and "alert(1)" not in clean


# --- size ------------------------------------------------------------------------------


def test_a_1_plus_12_issue_stays_under_gmails_clipping_limit() -> None:
    rendered = render(make_issue(12, note=NOTE), make_config())
    size = len(rendered.html.encode("utf-8"))
    assert size < GMAIL_CLIP_BYTES, size
    assert len(parse(rendered.html).links()) > 12


def test_even_oversized_feed_text_cannot_push_the_issue_past_the_limit() -> None:
    long_words = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 60
    huge = [
        replace(
            a,
            title=long_words,
            dek=long_words,
            excerpt="\n\n".join([long_words] * 8),
            section=long_words,
            image=Image(url=a.url + "/img.jpg", alt=long_words, credit=long_words),
        )
        for a in articles()
    ]
    issue = make_issue(12, lead=huge[0], stories=huge[1:], note=NOTE)
    rendered = render(issue, make_config())
    size = len(rendered.html.encode("utf-8"))
    assert size < GMAIL_CLIP_BYTES, size
    assert "…" in parse(rendered.html).visible  # shortened, visibly


# --- templates: user overrides and errors --------------------------------------------


def test_a_users_template_wins_over_the_bundled_one(tmp_path: Path) -> None:
    (tmp_path / "issue.txt.j2").write_text(
        "Our own text part: {{ lead.title }} {{ lead.url }}\n{{ unsubscribe_url }}\n"
    )
    rendered = render(make_issue(2), make_config(templates_dir=tmp_path))
    assert rendered.text == (
        "Our own text part: As Famine Spreads in the Sahel, Donors Argue Over Who Pays "
        "https://statecraft.example/global-crises/2026/11/20/sahel-famine-donors\n"
        f"{UNSUBSCRIBE_PLACEHOLDER}\n"
    )
    assert "Statecraft Weekly" in parse(rendered.html).visible  # the bundled HTML still serves


def test_a_users_layout_in_an_email_subfolder_is_used_by_the_bundled_issue(tmp_path: Path) -> None:
    email = tmp_path / "email"
    email.mkdir()
    bundled = (REPO / "templates/email/layout.txt.j2").read_text()
    (email / "layout.txt.j2").write_text(
        bundled.replace("{{ newsletter.postal_address }}", "PO Box 9")
    )
    rendered = render(make_issue(2), make_config(templates_dir=tmp_path))
    assert "PO Box 9" in rendered.text
    assert "1 Example Street" not in rendered.text


def test_template_errors_name_the_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "issue.mjml.j2").write_text("<mjml>\n<mj-body>\n{% if lead %}\n</mj-body></mjml>\n")
    with pytest.raises(RenderError, match=r"issue\.mjml\.j2.*line \d"):
        render(make_issue(2), make_config(templates_dir=tmp_path))


def test_an_undefined_variable_is_an_error_naming_the_template(tmp_path: Path) -> None:
    (tmp_path / "issue.txt.j2").write_text("{{ lead.titel }}\n")
    with pytest.raises(RenderError, match=r"issue\.txt\.j2.*titel"):
        render(make_issue(2), make_config(templates_dir=tmp_path))


def test_invalid_mjml_is_an_error_naming_the_template(tmp_path: Path) -> None:
    (tmp_path / "issue.mjml.j2").write_text("<mjml><mj-body><mj-section></mjml>\n")
    with pytest.raises(RenderError, match=r"issue\.mjml\.j2.*invalid"):
        render(make_issue(2), make_config(templates_dir=tmp_path))


# --- render_email (the confirmation email and friends) --------------------------------


def test_render_email_extends_the_shared_layout(tmp_path: Path) -> None:
    (tmp_path / "welcome.mjml.j2").write_text(
        '{% extends "layout.mjml.j2" %}\n'
        "{% block preheader %}Confirm {{ email }}{% endblock %}\n"
        "{% block content %}<mj-section><mj-column><mj-text><p>Hello {{ email }}</p></mj-text>"
        '<mj-button href="{{ link }}">Confirm</mj-button></mj-column></mj-section>{% endblock %}\n'
    )
    (tmp_path / "welcome.txt.j2").write_text(
        '{% extends "layout.txt.j2" %}\n{% block content %}Confirm: {{ link }}\n{% endblock %}\n'
    )
    config = make_config(templates_dir=tmp_path)
    html, text = render_email(
        config, "welcome", {"email": "<b>a@example.com</b>", "link": "https://x.example/c?t=1&u=2"}
    )
    assert_inert(html)
    page = parse(html)
    assert "Hello <b>a@example.com</b>" in page.visible  # escaped, shown literally
    assert "https://x.example/c?t=1&u=2" in page.links()
    assert "Statecraft Weekly" in page.visible and "1 Example Street" in page.visible
    assert 'name="viewport"' in html
    assert "googleapis" not in html  # no third-party font CSS for "Roboto" in the stack
    assert "Confirm: https://x.example/c?t=1&u=2" in text
    assert "STATECRAFT WEEKLY" in text and "1 Example Street, Washington, DC 20001" in text


def test_render_email_with_a_missing_template_names_it() -> None:
    with pytest.raises(RenderError, match=r"no-such-email\.mjml\.j2 not found"):
        render_email(make_config(), "no-such-email", {})


def test_renderer_context_exposes_vetted_urls_only() -> None:
    issue = make_issue(1, stories=[hostile_article(url="javascript:alert(1)")])
    ctx = Renderer(make_config()).context(issue)
    assert ctx["stories"][0].url is None
    assert (
        ctx["lead"].url == "https://statecraft.example/global-crises/2026/11/20/sahel-famine-donors"
    )
    assert ctx["unsubscribe_url"] == UNSUBSCRIBE_PLACEHOLDER


def test_picks_reasons_do_not_leak_into_the_email() -> None:
    issue = make_issue(3)
    issue = replace(issue, lead=Pick(issue.lead.article, "lead", "pinned by the editor"))  # type: ignore[union-attr]
    rendered = render(issue, make_config())
    assert "pinned by the editor" not in rendered.html + rendered.text


def test_a_lead_whose_excerpt_repeats_its_dek_shows_it_once() -> None:
    lead = replace(articles()[0], excerpt=articles()[0].dek)
    rendered = render(make_issue(2, lead=lead), make_config())
    dek = "The governments that fund them are still fighting over the bill."
    assert parse(rendered.html).visible.count(dek) == 1
    assert rendered.text.replace("\n", " ").count(dek) == 1


def test_a_missing_templates_dir_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    from digest.errors import ConfigError

    config = make_config(templates_dir=tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"newsletter\.templates_dir.*nope.*does not exist"):
        render(make_issue(2), config)


def test_media_queries_inside_an_inline_style_stay_in_head(tmp_path: Path) -> None:
    (tmp_path / "styled.mjml.j2").write_text(
        '<mjml><mj-head><mj-style inline="inline">.x { color: #aa0000; }\n'
        "@media only screen and (max-width: 479px) { .x { color: #0000aa !important; } }\n"
        "p.y { margin: 0; }</mj-style></mj-head>"
        '<mj-body><mj-section><mj-column><mj-text><p class="x y">Hi</p></mj-text>'
        "</mj-column></mj-section></mj-body></mjml>\n"
    )
    (tmp_path / "styled.txt.j2").write_text("Hi\n")
    html, _ = render_email(make_config(templates_dir=tmp_path), "styled", {})
    p = next(a for t, a in parse(html).tags if t == "p" and a.get("class") == "x y")
    assert "color: #aa0000" in p["style"] and "margin: 0" in p["style"]
    head = html[: html.index("</head>")]
    assert "@media only screen and (max-width: 479px) { .x { color: #0000aa !important; } }" in head
    assert ".x { color: #aa0000; }" not in head


# --- brand: logo and accent colour ------------------------------------------------------


def _masthead(html: str) -> str:
    """The HTML of the masthead: from the body to the date line."""
    body = html[html.index("<body") :]
    return body[: body.index(">Friday, November 20, 2026</div>")]


def test_a_logo_replaces_the_name_in_the_masthead_and_the_accent_colours_the_email() -> None:
    config = make_config(
        logo_url="https://statecraft.example/logo.png",
        logo_alt="Statecraft <Weekly> & co",
        logo_width=160,
        accent_color="#1A5C8A",
    )
    html = render(make_issue(6, note=NOTE), config).html
    masthead = _masthead(html)
    logo = next(a for t, a in parse(masthead).tags if t == "img")
    assert logo["src"] == "https://statecraft.example/logo.png"
    assert logo["alt"] == "Statecraft <Weekly> & co"  # escaped in the HTML, read back here
    assert logo["width"] == "160"
    assert "weekly" not in [t for t, _ in parse(masthead).tags]  # text in an attribute, no tag
    assert "background" not in logo.get("style", "")  # a transparent logo reads in dark mode
    assert "Statecraft Weekly" not in parse(masthead).visible  # the logo, not the name
    # The home page link around the logo.
    assert 'href="https://statecraft.example"' in masthead
    # The accent (as #rrggbb) everywhere the fixed red was, and its darker shade for hovers.
    assert "#b3202a" not in html.lower() and "#8e1921" not in html.lower()
    assert "border-top:4pxsolid#1a5c8a" in masthead.replace(" ", "")
    page = parse(html)
    labels = [a["style"] for t, a in page.tags if t == "p" and a.get("class") == "label"]
    assert labels and all("color: #1a5c8a" in s for s in labels)
    assert "border-left:4px solid #1a5c8a" in html  # the editor's note
    assert re.search(r"background:#1a5c8a", html.replace(" ", ""))  # the button
    readmore = [a["style"] for t, a in page.tags if t == "a" and a.get("class") == "readmore"]
    assert readmore and all("color: #1a5c8a" in s for s in readmore)
    assert ".readmore:hover { color: #154a6e; }" in html  # 20% black


def test_the_logos_alt_text_is_the_name_by_default() -> None:
    html = render(make_issue(2), make_config(logo_url="https://statecraft.example/logo.png")).html
    logo = next(a for t, a in parse(_masthead(html)).tags if t == "img")
    assert logo["alt"] == "Statecraft Weekly" and logo["width"] == "200"


def test_without_a_logo_the_masthead_is_the_name_in_the_default_red() -> None:
    html = render(make_issue(2), make_config()).html
    masthead = _masthead(html)
    assert not [t for t, _ in parse(masthead).tags if t == "img"]
    assert "Statecraft Weekly" in parse(masthead).visible
    assert "border-top:4pxsolid#b3202a" in masthead.replace(" ", "")
    assert ".readmore:hover { color: #8f1a22; }" in html


def test_a_colour_that_skipped_the_config_check_never_reaches_the_css() -> None:
    config = make_config()
    bad = replace(
        config, newsletter=replace(config.newsletter, accent_color="red;}</style><script>")
    )
    with pytest.raises(RenderError, match="accent_color"):
        render(make_issue(2), bad)


# --- bylines -----------------------------------------------------------------------------


def _issue_with_authors() -> Issue:
    arts = articles()
    lead = replace(arts[0], authors=("Ann Lee", "Bo <b>Chen</b>", "Cy Díaz"))
    one = replace(arts[1], authors=("Dee Okafor",))
    none = replace(arts[2], authors=())
    blank = replace(arts[3], authors=("  ",))
    two = replace(arts[4], authors=("Eve Ng", "Fay Oz"))
    return make_issue(4, lead=lead, stories=[one, none, blank, two])


def test_bylines_under_each_headline_when_the_feed_names_authors() -> None:
    rendered = render(_issue_with_authors(), make_config())
    page = parse(rendered.html)
    bylines = [a for t, a in page.tags if t == "p" and a.get("class") == "byline"]
    assert len(bylines) == 3  # the lead, one author, two authors: nothing for the others
    visible = page.visible
    assert "By Ann Lee, Bo <b>Chen</b> and Cy Díaz" in visible  # a name is text, escaped
    assert "<b>Chen" not in rendered.html
    assert "By Dee Okafor" in visible and "By Eve Ng and Fay Oz" in visible
    assert visible.count("By ") == 3  # no stray "By" for a story without authors
    # Each byline right under its headline.
    assert re.search(
        r"Donors Argue Over Who Pays\s*</a>\s*</h1>\s*<p class=\"byline\"", rendered.html
    )
    text = rendered.text
    assert "Who Pays\nBy Ann Lee, Bo <b>Chen</b> and Cy Díaz\n" in text  # plain text
    assert "Electric Vehicles\nBy Dee Okafor\n" in text
    assert "Coast Guard Diplomacy\nThe Philippines" in text  # no byline line at all
    assert "Sanctions Fatigue Is Setting In\nWestern capitals" in text
    assert "No Map\nBy Eve Ng and Fay Oz\n" in text
    assert text.count("By ") == 3


def test_no_authors_no_bylines() -> None:
    arts = [replace(a, authors=()) for a in articles()[:4]]
    rendered = render(make_issue(3, lead=arts[0], stories=arts[1:]), make_config())
    assert 'class="byline"' not in rendered.html
    assert "By " not in parse(rendered.html).visible and "By " not in rendered.text


# --- thumbnails --------------------------------------------------------------------------


def test_latest_stories_keep_a_small_thumbnail_beside_their_text() -> None:
    issue = make_issue(6)
    html = render(issue, make_config()).html
    imgs = [a for t, a in parse(html).tags if t == "img"]
    assert len(imgs) == 1 + sum(1 for p in issue.latest if p.article.image)
    for img in imgs[1:]:  # fluid in a fixed cell of the story's own table: never stacked
        assert img["width"] == "176" and "max-width:176px" in img["style"]
    assert html.count('style="table-layout:fixed;') == len(imgs) - 1


def test_thumbnails_none_leaves_the_latest_stories_without_pictures() -> None:
    issue = make_issue(6)
    rendered = render(issue, make_config(thumbnails="none"))
    imgs = [a for t, a in parse(rendered.html).tags if t == "img"]
    assert [i["src"] for i in imgs] == [issue.lead.article.image.url]  # type: ignore[union-attr]
    assert "table-layout:fixed" not in rendered.html
    for pick in issue.latest:
        assert pick.article.title in parse(rendered.html).visible
