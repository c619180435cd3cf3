"""axe-core's WCAG 2.0/2.1 A and AA rules on what readers and editors see, in real Chromium:
the rendered email (English, French, branded; on a phone and a desktop), the subscribe
page, the archive and an archived issue, the embed snippet on a page of the publication's
site, and the desk's sign-in and coming-issue pages (tests/axe_support.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digest.archive import archive_html
from digest.render import render
from digest.store.database import Store
from subscribers.web.app import create_app
from tests import render_samples
from tests.axe_support import check, describe, violations
from tests.browser_support import chromium, free_port, open_html, png, serve
from tests.desk_support import EDITOR, NOW, mail_to, make_app, make_desk_config, sign_in_link
from tests.subscribers_support import (
    EMBED_HOST_PAGE,
    FakeClock,
    add_issue,
    make_config,
    outbox_messages,
    secrets,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = (375, 1280)
# An email has no page around it: the mail client's own window gives the landmarks (its
# <main>, the message's region), and the message cannot add its own without nesting them
# in the client's, so the landmark rules cannot apply to an email's body. (They are
# best-practice rules outside the WCAG tags today; named here so a future axe moving them
# into WCAG does not fail every email.)
NOT_FOR_EMAIL = ("region", "landmark-one-main")

EMAILS = {
    "en_US": {},
    "fr_FR": {"locale": "fr_FR"},
    "branded": {
        "logo_url": "https://statecraft.example/logo.png",
        "logo_width": 180,
        "accent_color": "#1a5c8a",
    },
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page that lets axe-core in: the pages' Content-Security-Policy (script-src
    'none') would refuse the injected script, so this context bypasses it."""
    context = browser.new_context(bypass_csp=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def check_at_widths(page: Any, what: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        check(page, f"{what} at {width}px")


def local_images(page: Any) -> None:
    """The publication's pictures answered with a local PNG (nothing leaves the machine)."""
    photo = png(320, 180)
    page.route(
        "https://statecraft.example/**",
        lambda route: route.fulfill(status=200, content_type="image/png", body=photo),
    )


def test_axe_sees_what_is_wrong(browser: Any) -> None:
    """The checks below are not vacuous: axe is loaded and reports a page's faults."""
    page = open_html(browser, '<html><body><img src="p.png"><a href="/"></a></body></html>', 375)
    try:
        found = violations(page)
        assert {"image-alt", "link-name", "html-has-lang", "document-title"} <= {
            v["id"] for v in found
        }
        assert "- image-alt (critical): Images must have alternative text [1×]\n    img" in (
            describe(found)
        )
    finally:
        page.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(EMAILS))
def test_the_email_is_axe_clean(browser: Any, name: str, width: int) -> None:
    issue = render_samples.make_issue(6, note="A short note from the editor this week.")
    html = render(issue, render_samples.make_config(**EMAILS[name])).html
    page = open_html(browser, html, width)
    try:
        check(page, f"the {name} email at {width}px", disable=NOT_FOR_EMAIL)
    finally:
        page.close()


@pytest.fixture
def site(tmp_path: Path, sqlite_store: Store) -> Iterator[str]:
    """The public web app, with two sent issues (the newer one archived as rendered)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cfg = make_config(tmp_path, public_url=url)
    issue = render_samples.make_issue(6, note="A short note from the editor this week.")
    page = archive_html(render(issue, render_samples.make_config(public_url=url)).html, cfg)
    sent = datetime.fromisoformat("2026-11-20T14:00:00+00:00")
    add_issue(sqlite_store, "2026-W46", lead="Tariffs return", as_of=sent - timedelta(weeks=1))
    add_issue(
        sqlite_store,
        "2026-W47",
        lead=issue.lead.article.title,
        as_of=sent,
        preheader="Donors pledged less than half of what the UN asked for.",
        archive_html=page,
    )
    with serve(create_app(cfg, store=sqlite_store, secrets=secrets()), port) as base:
        yield base


def test_the_subscribe_page_is_axe_clean(site: str, page: Any) -> None:
    page.goto(site + "/")
    check_at_widths(page, "the subscribe page")
    page.get_by_label("Email address").fill("not an address")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("alert").wait_for()
    check_at_widths(page, "the subscribe page with an error")


def test_the_archive_is_axe_clean(site: str, page: Any) -> None:
    local_images(page)
    page.goto(site + "/issues")
    assert page.get_by_role("heading", name="Tariffs return").is_visible()
    check_at_widths(page, "the archive list")
    page.goto(site + "/issues/2026-W47")
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", name="Latest").is_visible()  # the issue as rendered
    check_at_widths(page, "an archived issue")


def test_the_embed_on_a_site_page_is_axe_clean(site: str, page: Any) -> None:
    host = EMBED_HOST_PAGE.format(snippet=page.request.get(site + "/embed").text())
    page.route(
        "http://localhost/article.html",
        lambda route: route.fulfill(status=200, content_type="text/html", body=host),
    )
    page.goto("http://localhost/article.html")
    check_at_widths(page, "the embed snippet on a page of the site")


def test_the_desk_is_axe_clean(tmp_path: Path, sqlite_store: Store, page: Any) -> None:
    port = free_port()
    config = make_desk_config(tmp_path, public_url=f"http://127.0.0.1:{port}")
    with serve(make_app(config, sqlite_store, FakeClock(NOW)), port) as desk:
        page.goto(f"{desk}/desk/sign-in")
        check_at_widths(page, "the desk's sign-in page")
        page.fill("#email", EDITOR)
        page.click("main button[type=submit]")
        page.wait_for_selector("text=Check your inbox")
        deadline = time.monotonic() + 15
        while not outbox_messages(tmp_path / "outbox"):
            assert time.monotonic() < deadline, "no sign-in email in the outbox"
            time.sleep(0.05)
        page.goto(sign_in_link(mail_to(tmp_path, EDITOR)))
        page.click("main button[type=submit]")
        page.wait_for_url(f"{desk}/desk")
        page.wait_for_selector("h1 >> text=Issue 2026-W47")
        check_at_widths(page, "the desk's coming issue")
