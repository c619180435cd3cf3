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
from subscribers_support import make_config, outbox_messages, secrets
from test_archive_feed import add_issue

from digest.store.database import Store
from subscribers import repository as repo
from subscribers.web.app import create_app
from tests.conftest import REPO
from tests.needs import missing

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
SCRATCH = Path("/work/scratch/shots")
WIDTHS = (375, 1280)

SITE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>The Sahel's hunger season | Statecraft</title>
<style>
  body {{ margin: 0; font: 17px/1.6 Georgia, serif; color: #1a1a1a; background: #fff; }}
  article {{ max-width: 680px; margin: 0 auto; padding: 24px 16px; }}
  .subscribe-box {{ border-top: 4px solid #b3202a; background: #f4f4f0; padding: 20px; }}
  .subscribe-box h2 {{ margin: 0 0 8px; font-size: 22px; }}
  .digest-embed__label {{ display: block; margin-bottom: 6px; font: 600 15px sans-serif; }}
  .digest-embed__row {{ display: flex; gap: 8px; flex-wrap: wrap; }}
  .digest-embed__input {{ flex: 1 1 220px; min-width: 0; height: 46px; padding: 0 12px;
    border: 2px solid #767676; border-radius: 4px; font: 16px sans-serif; }}
  .digest-embed__button {{ height: 46px; padding: 0 22px; border: 0; border-radius: 4px;
    background: #b3202a; color: #fff; font: 600 16px sans-serif; }}
  .digest-embed__note {{ color: #555; font: 14px sans-serif; }}
</style></head>
<body><article>
<h1>The Sahel's hunger season</h1>
<p>Aid convoys wait at the border while the lean season begins.</p>
<aside class="subscribe-box"><h2>Subscribe now to our weekly round-up</h2>
{snippet}
</aside>
</article></body></html>
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_in_thread(server: uvicorn.Server) -> threading.Thread:
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return thread


@pytest.fixture
def browser() -> Iterator[object]:
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
    (site_dir / "article.html").write_text(SITE_PAGE.format(snippet=snippet), encoding="utf-8")

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
