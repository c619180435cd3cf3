"""What the browser tests share: Debian's Chromium launched through Playwright, a web app
served by uvicorn on a free port of 127.0.0.1, and an HTML document (a rendered email)
opened in a page whose requests never leave the machine."""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from tests.needs import missing

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``), closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright for Python", "pip install -e '.[test]'")
    if not Path(CHROMIUM).exists():
        missing(CHROMIUM, "apt-get update && apt-get install -y chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield b
        finally:
            b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_in_thread(server: uvicorn.Server) -> threading.Thread:
    """``server`` running in a daemon thread, once it has started."""
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return thread


@contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[str]:
    """``app`` served on 127.0.0.1 (``port`` or a free one); its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = serve_in_thread(server)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def png(width: int, height: int) -> bytes:
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


def open_html(browser: Any, html: str, width: int) -> Any:
    """A new page ``width`` px wide showing ``html`` as http://127.0.0.1/issue.html: image
    requests are answered with a local PNG, every other request is refused; the URLs
    requested are in ``page.requested``."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    photo = png(320, 180)
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
