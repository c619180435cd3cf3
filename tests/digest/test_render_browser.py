"""The rendered issue in headless Chromium: no horizontal scroll on a phone,
screenshots at 375 px and 1280 px in test-artifacts/ for a human to look at.
Image requests are answered with a local PNG, so nothing leaves the machine."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digest.render import render
from tests.conftest import REPO
from tests.needs import missing
from tests.render_samples import make_config, make_issue

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


def _png(width: int, height: int) -> bytes:
    """A small two-tone landscape PNG (a stand-in photo), built without Pillow."""
    rows = []
    for y in range(height):
        shade = 120 + (y * 80) // height
        row = bytearray([0])
        for x in range(width):
            band = (x * 6) // width
            row += bytes((shade - band * 8, shade - 20, 90 + band * 12))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        missing(CHROMIUM, "apt-get update && apt-get install -y chromium")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield b
        finally:
            b.close()


def _open(browser: Any, html: str, width: int) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    photo = _png(320, 180)
    requested: list[str] = []

    def serve(route: Any) -> None:
        url = route.request.url
        requested.append(url)
        if route.request.resource_type == "image":
            route.fulfill(status=200, content_type="image/png", body=photo)
        elif url.startswith("http://127.0.0.1/"):
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
        else:
            route.abort()

    page.route("**/*", serve)
    page.goto("http://127.0.0.1/issue.html")
    page.wait_for_load_state("load")
    page.requested = requested
    return page


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
        # Thumbnails sit beside their story on a wide screen, full width on a phone.
        if width >= 600:
            assert all(w <= 180 for _, _, w in images[1:])
        else:
            assert all(w >= width - 60 for _, _, w in images[1:])
        heading = page.get_by_role("heading", name="Latest")
        assert heading.is_visible()
        assert page.get_by_role("link", name="Unsubscribe").get_attribute("href") == (
            "%%unsubscribe_url%%"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"issue-{width}.png"), full_page=True)
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
