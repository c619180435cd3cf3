"""The rendered issue in headless Chromium: no horizontal scroll on a phone,
screenshots at 375 px and 1280 px in test-artifacts/ for a human to look at.
Image requests are answered with a local PNG, so nothing leaves the machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from digest.render import render
from tests.browser_support import chromium
from tests.browser_support import open_html as _open
from tests.conftest import REPO
from tests.render_samples import make_config, make_issue

# The 1 + 6 sample issue's height at 375 px before small thumbnails (each latest story had a
# full-width picture on a phone): measured with this file's _open on the same Chromium.
HEIGHT_AT_375_BEFORE = 3597
HEIGHT_BUDGET = 0.60  # of that height

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.mark.parametrize("width", [375, 1280])
def test_issue_fits_the_screen_and_screenshots(browser: Any, width: int) -> None:
    issue = make_issue(12, note="A short note from the editor this week.")
    rendered = render(issue, make_config())
    page = _open(browser, rendered.html, width)
    try:
        scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
        assert scroll_width <= width, f"horizontal scroll at {width}px: {scroll_width}"
        # Every image loaded (from the local PNG) and has alt text.
        images = page.evaluate(
            "[...document.images].map(i => [i.naturalWidth, i.alt, i.getBoundingClientRect().width])"
        )
        with_pictures = [p for p in issue.picks if p.article.image]
        assert len(images) == len(with_pictures) == 11  # the lead + 10 of the 12 stories
        assert all(nw > 0 and alt for nw, alt, _ in images), images
        # The lead image spans the content; thumbnails stay thumbnails.
        assert images[0][2] >= min(width, 600) - 1
        # Thumbnails sit beside their story's text on every screen: small on a phone.
        if width >= 600:
            assert all(160 <= w <= 180 for _, _, w in images[1:]), images
        else:
            assert all(90 <= w <= 120 for _, _, w in images[1:]), images
        beside = page.evaluate(
            "[...document.images].slice(1).map(i => {"
            " const row = i.closest('tr').getBoundingClientRect();"
            " const text = i.closest('tr').querySelector('h3').getBoundingClientRect();"
            " const img = i.getBoundingClientRect();"
            " return text.right <= img.left && img.top - row.top < 2; })"
        )
        assert beside and all(beside), beside
        heading = page.get_by_role("heading", name="Latest")
        assert heading.is_visible()
        assert page.get_by_role("link", name="Unsubscribe").get_attribute("href") == (
            "%%unsubscribe_url%%"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"issue-{width}.png"), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("width", [320, 375, 1280])
def test_the_french_issue_fits_the_screen_and_screenshots(browser: Any, width: int) -> None:
    """French words are longer ("Voir dans le navigateur", "DERNIERS ARTICLES"): still no
    horizontal scroll, and the headings and links a screen reader lists are French."""
    issue = make_issue(6, note="A short note from the editor this week.")
    rendered = render(issue, make_config(locale="fr_FR"))
    page = _open(browser, rendered.html, width)
    try:
        scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
        assert scroll_width <= width, f"horizontal scroll at {width}px: {scroll_width}"
        assert page.evaluate("document.documentElement.lang") == "fr-FR"
        assert page.get_by_role("heading", name="Derniers articles").is_visible()
        assert page.get_by_role("link", name="Se désabonner").get_attribute("href") == (
            "%%unsubscribe_url%%"
        )
        assert page.get_by_text("vendredi 20 novembre 2026").first.is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"issue-fr_FR-{width}.png"), full_page=True)
    finally:
        page.close()


def test_text_is_readable_size_on_a_phone(browser: Any) -> None:
    rendered = render(make_issue(3), make_config())
    page = _open(browser, rendered.html, 375)
    try:
        sizes = page.evaluate(
            "[...document.querySelectorAll('p, h1, h3, a')]"
            ".filter(e => e.innerText.trim())"
            ".map(e => parseFloat(getComputedStyle(e).fontSize))"
        )
        assert sizes and min(sizes) >= 12
        lead_title = page.locator("h1 a")
        assert (
            lead_title.inner_text() == "As Famine Spreads in the Sahel, Donors Argue Over Who Pays"
        )
    finally:
        page.close()


def test_long_unbroken_words_do_not_widen_the_page_on_a_phone(browser: Any) -> None:
    from dataclasses import replace

    from digest.models import Image
    from tests.render_samples import articles

    word = "Supercalifragilistic" * 12  # 240 characters, no space to break at
    long = [
        replace(
            a,
            title=f"{word} {a.title}",
            dek=f"{a.dek} {word}",
            section=word,
            image=Image(url=a.url + "/p.jpg", alt=word, credit=word),
        )
        for a in articles()[:4]
    ]
    rendered = render(
        make_issue(3, lead=long[0], stories=long[1:], note=word), make_config(tagline=word)
    )
    page = _open(browser, rendered.html, 375)
    try:
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    finally:
        page.close()


def _height(browser: Any, html: str, width: int) -> tuple[int, int]:
    page = _open(browser, html, width)
    try:
        return (
            page.evaluate("document.scrollingElement.scrollHeight"),
            page.evaluate("document.scrollingElement.scrollWidth"),
        )
    finally:
        page.close()


def test_the_sample_issue_is_half_as_tall_on_a_phone(
    browser: Any, record_property: Any, capsys: Any
) -> None:
    html = render(make_issue(6), make_config()).html
    height, scroll = _height(browser, html, 375)
    none_height, none_scroll = _height(
        browser, render(make_issue(6), make_config(thumbnails="none")).html, 375
    )
    record_property("height_375", height)
    record_property("height_375_thumbnails_none", none_height)
    with capsys.disabled():
        print(
            f"\n1 + 6 sample at 375 px: {height} px (thumbnails none: {none_height} px), "
            f"{height / HEIGHT_AT_375_BEFORE:.0%} of {HEIGHT_AT_375_BEFORE} px before; "
            f"budget {HEIGHT_BUDGET:.0%}"
        )
    assert scroll <= 375 and none_scroll <= 375
    assert height <= HEIGHT_BUDGET * HEIGHT_AT_375_BEFORE, height
    assert none_height <= height


@pytest.mark.parametrize("thumbnails", ["small", "none"])
@pytest.mark.parametrize("width", [320, 375, 600])
def test_no_horizontal_scroll(browser: Any, width: int, thumbnails: str) -> None:
    config = make_config(
        thumbnails=thumbnails, logo_url="https://statecraft.example/logo.png", logo_width=600
    )
    html = render(make_issue(12, note="A note."), config).html
    _, scroll = _height(browser, html, width)
    assert scroll <= width, f"horizontal scroll at {width}px: {scroll}"


def test_thumbnails_none_shows_no_latest_story_pictures(browser: Any) -> None:
    page = _open(browser, render(make_issue(6), make_config(thumbnails="none")).html, 375)
    try:
        assert page.evaluate("document.images.length") == 1  # the lead's
    finally:
        page.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_a_branded_issue_screenshots(browser: Any, width: int) -> None:
    from dataclasses import replace

    from tests.render_samples import articles

    arts = articles()
    arts[0] = replace(arts[0], authors=("Amina Diallo", "Jonas Weber"))
    arts[1] = replace(arts[1], authors=("Li Wei",))
    arts[2] = replace(arts[2], authors=())
    config = make_config(
        logo_url="https://statecraft.example/logo.png", logo_width=180, accent_color="#1a5c8a"
    )
    issue = make_issue(6, lead=arts[0], stories=arts[1:], note="A short note.")
    page = _open(browser, render(issue, config).html, width)
    try:
        assert page.get_by_role("img", name="Statecraft Weekly").first.is_visible()
        assert page.get_by_text("By Amina Diallo and Jonas Weber").is_visible()
        assert page.get_by_text("By Li Wei").is_visible()
        label = page.locator("p.label").first
        assert label.evaluate("e => getComputedStyle(e).color") == "rgb(26, 92, 138)"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"issue-branded-{width}.png"), full_page=True)
    finally:
        page.close()
