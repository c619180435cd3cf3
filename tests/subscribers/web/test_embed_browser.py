"""In real Chromium: the embedded form on a page of a second origin (another port, another
host name) subscribes a reader and lands on the thank-you page; screenshots of that page
and of the archive list at 375 and 1280 px go to test-artifacts/ (and to
/work/scratch/shots when it exists)."""

from __future__ import annotations

import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from subscribers_support import EMBED_HOST_PAGE, add_issue, make_config, outbox_messages, secrets

from digest.store.database import Store
from subscribers import repository as repo
from subscribers.web.app import create_app
from tests.browser_support import chromium, free_port, serve_in_thread
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
SCRATCH = Path("/work/scratch/shots")
WIDTHS = (375, 1280)


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


def shoot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})  # type: ignore[attr-defined]
        path = ARTIFACTS / f"web-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        if SCRATCH.is_dir():
            shutil.copy(path, SCRATCH / path.name)
        overflow = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert overflow <= width, f"{name} is {overflow}px wide at {width}px"
    page.set_viewport_size({"width": 1280, "height": 800})  # type: ignore[attr-defined]


def test_the_embed_on_a_second_origin_subscribes_a_reader(
    tmp_path: Path, sqlite_store: Store, browser: object
) -> None:
    app_port, site_port = free_port(), free_port()
    app_url, site_origin = f"http://127.0.0.1:{app_port}", f"http://localhost:{site_port}"
    cfg = make_config(tmp_path, public_url=app_url, web={"embed_origins": [site_origin]})
    for week, title in (
        (46, "Tariffs return to the G7 agenda"),
        (47, "As Famine Spreads in the Sahel, Aid Stalls"),
    ):
        add_issue(
            sqlite_store,
            f"2026-W{week}",
            lead=title,
            as_of=datetime.fromisoformat("2026-11-20T14:00:00+00:00") + timedelta(weeks=week - 47),
            preheader="Donors pledged less than half of what the UN asked for.",
        )
    app = create_app(cfg, store=sqlite_store, secrets=secrets())
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=app_port, log_level="warning", lifespan="off")
    )
    thread = serve_in_thread(server)

    import httpx

    snippet = httpx.get(f"{app_url}/embed").text
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "article.html").write_text(
        EMBED_HOST_PAGE.format(snippet=snippet), encoding="utf-8"
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(site_dir), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", site_port), Quiet)
    site_thread = threading.Thread(target=site.serve_forever, daemon=True)
    site_thread.start()
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(f"{site_origin}/article.html")
        assert page.get_by_role("heading", name="Subscribe now to our weekly round-up").is_visible()
        assert not page.get_by_label("Leave this field empty").is_visible()  # the honeypot
        shoot(page, "embed")
        page.get_by_label("Email address").fill("reader@example.com")
        page.get_by_role("button", name="Subscribe").click()
        page.get_by_role("heading", name="Check your inbox").wait_for()
        assert page.url == f"{app_url}/embed/thanks"
        shoot(page, "embed-thanks")

        deadline = time.monotonic() + 10
        while not outbox_messages(tmp_path / "outbox"):
            assert time.monotonic() < deadline, "no confirmation email"
            time.sleep(0.05)
        with sqlite_store.session() as s:
            sub = repo.get_by_email(s, "reader@example.com")
            assert sub is not None and sub.status == "pending"

        page.goto(f"{app_url}/issues")
        assert page.get_by_role(
            "heading", name="As Famine Spreads in the Sahel, Aid Stalls"
        ).is_visible()
        key = page.locator(".issue-key").first
        box = key.bounding_box()
        assert box is not None and box["height"] < 30  # "2026-W47" on one line
        shoot(page, "archive")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            heights = page.locator(".issue-key").evaluate_all(
                "els => els.map(e => e.getBoundingClientRect().height)"
            )
            assert max(heights) < 30, f"an issue key breaks at {width}px: {heights}"
        icon = page.request.get(f"{app_url}/favicon.ico")  # (the pages' CSP forbids fetch)
        assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"
        assert problems == []
        context.close()
    finally:
        site.shutdown()
        server.should_exit = True
        thread.join(10)
