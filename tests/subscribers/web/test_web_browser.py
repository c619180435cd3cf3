"""End to end in real Chromium: subscribe, confirm from the emailed link, unsubscribe,
and a raw RFC 8058 one-click POST, against `uvicorn` on 127.0.0.1. Screenshots of every
page at 375 and 1280 px go to test-artifacts/."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from subscribers_support import SECRET, T0, confirm_link, make_config, outbox_messages, secrets

from digest.config import Config
from digest.store.database import Store
from digest.tokens import Tokens
from subscribers import repository as repo
from subscribers.web.app import create_app
from tests.browser_support import chromium, free_port
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
WIDTHS = (375, 1280)
ACCENT = "rgb(179, 32, 42)"


@dataclass
class Live:
    url: str
    config: Config
    store: Store
    outbox: Path

    def status(self, email: str) -> str | None:
        with self.store.session() as s:
            sub = repo.get_by_email(s, email)
            return sub.status if sub else None


@pytest.fixture
def live(tmp_path: Path, sqlite_store: Store) -> Iterator[Live]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cfg = make_config(tmp_path, public_url=url)
    app = create_app(cfg, store=sqlite_store, secrets=secrets())
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Live(url, cfg, sqlite_store, tmp_path / "outbox")
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


def shoot(page: object, name: str) -> None:
    """Screenshots of the current page at both widths."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})  # type: ignore[attr-defined]
        page.screenshot(path=str(ARTIFACTS / f"web-{name}-{width}.png"), full_page=True)  # type: ignore[attr-defined]
        # nothing sticks out sideways at this width
        overflow = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert overflow <= width, f"{name} is {overflow}px wide at {width}px"
    page.set_viewport_size({"width": 1280, "height": 800})  # type: ignore[attr-defined]


def wait_for_mail(outbox: Path, count: int = 1) -> list[object]:
    deadline = time.monotonic() + 10
    while True:
        messages = outbox_messages(outbox)
        if len(messages) >= count:
            return list(messages)
        assert time.monotonic() < deadline, "no confirmation email in the outbox"
        time.sleep(0.05)


def test_subscribe_confirm_unsubscribe_in_chromium(live: Live, browser: object) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(live.url + "/")
    assert page.title() == "Subscribe · Statecraft Weekly"
    assert page.get_by_role("heading", name="Subscribe now to our weekly round-up").is_visible()
    button = page.get_by_role("button", name="Subscribe")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == ACCENT  # the CSS loaded
    trap = page.get_by_label("Leave this field empty").bounding_box()  # the honeypot: off-screen
    assert trap is not None and trap["x"] + trap["width"] <= 0
    shoot(page, "subscribe")

    page.get_by_label("Email address").fill("not an address")
    button.click()
    assert page.get_by_role("alert").is_visible()
    shoot(page, "subscribe-error")

    page.get_by_label("Email address").fill("Reader@Example.com")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    shoot(page, "check-inbox")

    [msg] = wait_for_mail(live.outbox)
    link = confirm_link(msg)  # type: ignore[arg-type]
    assert link.startswith(live.url + "/confirm/")
    assert live.status("reader@example.com") == "pending"

    page.goto(link)
    page.get_by_role("heading", name="Confirm your subscription").wait_for()
    assert live.status("reader@example.com") == "pending"  # opening the link changes nothing
    shoot(page, "confirm")
    page.get_by_role("button", name="Confirm my subscription").click()
    page.get_by_role("heading", name="You are subscribed").wait_for()
    shoot(page, "confirmed")
    assert live.status("reader@example.com") == "active"

    with live.store.session() as s:
        sub = repo.get_by_email(s, "reader@example.com")
        assert sub is not None
        unsubscribe = f"{live.url}/unsubscribe/{Tokens(SECRET).unsubscribe(sub.id, sub.email)}"
    page.goto(unsubscribe)
    page.get_by_role("heading", name="Stop getting Statecraft Weekly?").wait_for()
    assert live.status("reader@example.com") == "active"
    shoot(page, "unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    shoot(page, "unsubscribed")
    assert live.status("reader@example.com") == "unsubscribed"

    page.goto(link[:-5] + "xxxxx")
    page.get_by_role("heading", name="This link does not work").wait_for()
    shoot(page, "bad-link")
    # only the intended 400 answers (the bad address, the bad link); no CSP or other errors
    assert [p for p in problems if "status of 400" not in p] == []
    context.close()


def test_raw_one_click_post(live: Live) -> None:
    with live.store.session() as s:
        sub = repo.add(s, "oneclick@example.com", at=T0, source="cli", status="active")
        token = Tokens(SECRET).unsubscribe(sub.id, sub.email)
    response = httpx.post(
        f"{live.url}/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert 200 <= response.status_code < 300
    assert response.headers["referrer-policy"] == "no-referrer"
    assert live.status("oneclick@example.com") == "unsubscribed"
    tampered = httpx.post(
        f"{live.url}/unsubscribe/{token[:-2]}zz", content=b"List-Unsubscribe=One-Click"
    )
    assert tampered.status_code == 400
