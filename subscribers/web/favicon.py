"""The site's icon: ``/favicon.svg`` is a letter mark (the newsletter's first letter, white
on the accent colour); ``/favicon.ico``, which browsers and crawlers ask for on their own,
redirects to the logo when ``newsletter.logo_url`` is set, else to the letter mark.

The pages link the same icon (``<link rel="icon">`` in base.html), so no page causes a 404.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest.config_types import NewsletterConfig

CACHE = {"Cache-Control": "public, max-age=86400"}


def letter_mark(nl: NewsletterConfig) -> str:
    """An SVG square with rounded corners in the accent colour and the name's first
    letter (or digit) in white."""
    letter = next((c for c in nl.name if c.isalnum()), nl.name.strip()[:1] or "•").upper()
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
        f"<title>{escape(nl.name)}</title>"
        f'<rect width="64" height="64" rx="12" fill={quoteattr(nl.accent_color)}/>'
        '<text x="32" y="46" text-anchor="middle" fill="#ffffff" '
        'font-family="Georgia, \'Times New Roman\', serif" font-size="42" '
        f'font-weight="700">{escape(letter)}</text></svg>'
    )


async def favicon_svg(request: Request) -> Response:
    svg: str = request.app.state.favicon_svg
    return Response(svg, media_type="image/svg+xml", headers=CACHE)


async def favicon_ico(request: Request) -> Response:
    state: Any = request.app.state
    logo: str | None = state.config.newsletter.logo_url
    return RedirectResponse(logo or "/favicon.svg", status_code=302, headers=CACHE)


routes: list[BaseRoute] = [
    Route("/favicon.svg", favicon_svg, methods=["GET"]),
    Route("/favicon.ico", favicon_ico, methods=["GET"]),
]
