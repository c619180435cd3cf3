"""The desk's numbers: past issues, clicks per story, readers (routes under ``/desk``).

The pages are in ``desk.issues_pages`` (the issues, one issue and its clicks per story)
and ``desk.readers_pages`` (the readers, finding one, unsubscribe and erase); this module
gives them their stylesheet and their routes.

Every handler is ``async def handler(request, desk) -> Response`` and is wrapped by the
``protect`` the desk app passes to ``numbers_routes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from desk.context import Desk, Handler
from desk.issues_pages import issue_page, issues_page
from desk.readers_pages import reader_change, reader_confirm, readers_page

Protect = Callable[[Handler], Any]

# --- the stylesheet of these pages ---------------------------------------------------

NUMBERS_CSS = """
.num-note{background:#fff7e0;border-left:4px solid #c99a00;padding:.5rem .75rem;margin:.75rem 0}
.num-scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5rem 0 1rem}
.num-table{border-collapse:collapse;font-size:.9rem;min-width:100%}
.num-table th,.num-table td{padding:.35rem .5rem;border-bottom:1px solid #dde2e6;text-align:right;
white-space:nowrap;vertical-align:top}
.num-table th{background:#f3f5f7;font-weight:600}
.num-table .text{text-align:left;white-space:normal;min-width:12rem}
.num-table .key{text-align:left}
.num-table.num-compact{min-width:0}
.num-compact .text{min-width:0}
.num-table .rate{display:block;color:#5f6b76;font-size:.8rem}
.num-charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,380px),1fr));
gap:1rem;margin:1rem 0}
.num-charts figure,.num-chart{margin:0;border:1px solid #dde2e6;border-radius:6px;padding:.5rem}
.num-charts figcaption,.num-chart figcaption{font-weight:600;margin-bottom:.25rem}
.num-chart{max-width:760px}
.num-chart svg,.num-charts svg{display:block;width:100%;height:auto}
.num-exports{font-size:.9rem}
.num-exports a{margin-right:.75rem}
.num-cards{display:flex;flex-wrap:wrap;gap:.5rem;margin:.5rem 0 1rem;padding:0;list-style:none}
.num-cards li{border:1px solid #dde2e6;border-radius:6px;padding:.4rem .7rem;min-width:7rem}
.num-cards b{display:block;font-size:1.25rem}
.num-flash{background:#e8f4ec;border-left:4px solid #2a7a4b;padding:.5rem .75rem}
.num-danger{background:#b3261e;color:#fff;border:0;padding:.5rem 1rem;border-radius:4px}
.num-search input[type=email],.num-search input[type=search]{width:min(100%,22rem);padding:.35rem}
.num-muted{color:#5f6b76}
"""


async def numbers_css(request: Request, desk: Desk) -> Response:
    return Response(
        NUMBERS_CSS,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "private, max-age=3600"},
    )


# --- routes --------------------------------------------------------------------------


def numbers_routes(protect: Protect) -> list[BaseRoute]:
    """The routes of this module, relative to the desk's mount, each handler wrapped by
    ``protect`` (the session and, for a POST, the CSRF token)."""
    return [
        Route("/numbers.css", protect(numbers_css), methods=["GET"]),
        Route("/issues", protect(issues_page), methods=["GET"]),
        Route("/issues/{key}", protect(issue_page), methods=["GET"]),
        Route("/readers", protect(readers_page), methods=["GET"]),
        Route("/readers/{reader_id:int}/{action}", protect(reader_confirm), methods=["GET"]),
        Route("/readers/{reader_id:int}/{action}", protect(reader_change), methods=["POST"]),
    ]


__all__ = ["numbers_routes"]
