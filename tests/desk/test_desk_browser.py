"""The Friday routine on the desk in real Chromium, at 375 and 1280 px: sign in through the
link in the .eml, see the coming issue, pin another story and see the preview change,
send a test copy, sign out. Screenshots go to /work/scratch/shots/desk-*.png (or
$DIGEST_DESK_SHOTS)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from digest.store.database import Store
from tests.desk_support import EDITOR, NOW, mail_to, make_app, make_desk_config, sign_in_link
from tests.needs import missing
from tests.subscribers_support import FakeClock

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(os.environ.get("DIGEST_DESK_SHOTS", "/work/scratch/shots"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(condition: Callable[[], Any], what: str, seconds: float = 15) -> Any:
    """Poll ``condition`` until it is truthy (its value), failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def live(tmp_path: Path, sqlite_store: Store) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = make_app(make_desk_config(tmp_path, public_url=url), sqlite_store, FakeClock(NOW))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    until(lambda: server.started, "uvicorn to start", 10)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path("/usr/bin/chromium").exists():
        missing("/usr/bin/chromium", "apt-get update && apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-background-networking"],
        )
        try:
            yield b
        finally:
            b.close()


def previews_shown(page: Any, lead: str) -> bool:
    """Both preview iframes have loaded the email, with ``lead`` as its lead."""
    frames = [f for f in page.frames if f.url.endswith("/desk/coming/preview.html")]
    if len(frames) != 2:
        return False
    for frame in frames:
        found = re.search(r'href="https://statecraft\.example/([a-z-]+)', frame.content())
        if not found or found.group(1) != lead:
            return False
    return True


def eml_count(outbox: Path) -> int:
    return len(list(outbox.glob("*.eml"))) if outbox.is_dir() else 0


@pytest.mark.parametrize("width", [375, 1280])
def test_the_friday_routine_in_chromium(
    live: str, browser: Any, tmp_path: Path, width: int
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    outbox = tmp_path / "outbox"
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    def shot(name: str) -> None:
        page.screenshot(path=str(SHOTS / f"desk-{name}-{width}.png"), full_page=True)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} is {wide}px wide at {width}px"

    # not signed in: the desk sends us to the sign-in page
    page.goto(f"{live}/desk")
    assert page.url == f"{live}/desk/sign-in"
    shot("sign-in")
    page.fill("#email", EDITOR)
    page.click("button[type=submit] >> text=Email me a sign-in link")
    page.wait_for_selector("text=Check your inbox")
    shot("check-inbox")

    link = sign_in_link(until(lambda: eml_count(outbox) and mail_to(tmp_path, EDITOR), "the .eml"))
    page.goto(link)
    shot("link")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live}/desk")
    page.wait_for_selector("h1 >> text=Issue 2026-W47")
    assert page.locator(".badge").inner_text() == "in 2 days"
    assert page.locator("iframe[sandbox='']").count() == 2
    until(lambda: previews_shown(page, "featured-story"), "the previews' lead")
    shot("coming")

    # pin the newest story: the preview's lead changes
    newest = page.locator("li.pick", has_text="Newest story")
    newest.locator("button", has_text="Pin as lead").click()
    page.wait_for_url(f"{live}/desk?done=pin")
    page.wait_for_selector("text=Pinned as the lead.")
    until(lambda: previews_shown(page, "newest-story"), "the pinned lead in the previews")
    assert "pinned" in page.locator("li.pick.lead .role").inner_text().lower()
    shot("pinned")
    # a full-page shot leaves frames outside the viewport blank: each frame on its own
    for kind in ("phone", "desktop"):
        figure = page.locator(f"figure.frame.{kind}")
        figure.scroll_into_view_if_needed()
        figure.screenshot(path=str(SHOTS / f"desk-preview-{kind}-{width}.png"))

    # a test copy to me: a new .eml
    before = eml_count(outbox)
    page.click("button >> text=Send a test to me")
    page.wait_for_selector("text=A test copy is on its way to you.")
    until(lambda: eml_count(outbox) > before, "the test copy's .eml")
    assert str(mail_to(tmp_path, EDITOR)["Subject"]).startswith("[TEST] Newest story")
    shot("tested")

    page.goto(f"{live}/desk/audit")
    page.wait_for_selector("text=pinned as lead")
    shot("audit")

    # sign out: the desk is closed again
    page.click("header button >> text=Sign out")
    page.wait_for_selector("text=You are signed out")
    shot("signed-out")
    page.goto(f"{live}/desk")
    assert page.url == f"{live}/desk/sign-in"
    context.close()
    assert not problems, problems
