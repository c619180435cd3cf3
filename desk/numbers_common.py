"""What the desk's numbers pages (``desk.issues_pages``, ``desk.readers_pages``) share: the
export a request asks for, a day in the newsletter's zone, and a page that is never cached."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from desk.context import Desk
from desk.exports import FORMATS

BASE = "/desk"


def requested_format(request: Request) -> str | None:
    """``?format=`` (None for the page itself); 400 for a format the desk does not export."""
    fmt = request.query_params.get("format")
    if fmt is None or fmt == "":
        return None
    if fmt not in FORMATS:
        raise HTTPException(400, f"format must be one of {', '.join(FORMATS)}")
    return fmt


def local_day(moment: datetime | None, desk: Desk) -> str:
    return moment.astimezone(desk.config.newsletter.tz).date().isoformat() if moment else ""


def render_page(request: Request, desk: Desk, name: str, context: dict[str, Any]) -> Response:
    response: Response = desk.templates.TemplateResponse(
        request, name, {"desk": desk, "base": BASE, **context}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


__all__ = ["BASE", "local_day", "render_page", "requested_format"]
