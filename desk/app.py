"""The desk's routes (``desk_routes``, mounted by ``subscribers.web.app.create_app``), the
guard every desk page goes through (``protect``); the sign-in pages are ``desk.sign_in``
and what the desk runs on (templates, sign-in machinery, rate limits) ``desk.runtime``.

``protect(handler)``: no live session → a GET is sent to the sign-in page (303), any
other method refused (403); a POST must carry the session's form token in ``csrf``
(403 otherwise, before the handler runs); then the handler gets its ``Desk``.

Every response under ``/desk`` carries ``DESK_HEADERS`` (no script at all, nothing may
frame the desk, nothing is cached); the sandboxed preview sets its own policy.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from desk.auth import COOKIE, SignedIn
from desk.context import Desk, Handler
from desk.runtime import page_gettext, refused, runtime
from desk.sign_in import (
    link_page,
    link_post,
    sign_in_form,
    sign_in_post,
    sign_out,
    stylesheet,
)
from subscribers.web.database import in_database
from subscribers.web.pages import read_form
from subscribers.web.security import SecurityHeaders

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]

DESK_CSP = "; ".join(  # noqa: FLY002 -- one directive a line
    [
        "default-src 'self'",
        "script-src 'none'",
        "style-src 'self'",
        "img-src 'self' https: data:",
        "frame-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ]
)
DESK_HEADERS = {
    "Content-Security-Policy": DESK_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# --- the guard ------------------------------------------------------------------------------


def _desk(request: Request, signed_in: SignedIn) -> Desk:
    state = request.app.state
    return Desk(
        config=state.config,
        store=state.store,
        clock=state.clock,
        workflow=state.workflow,
        backend=state.backend,
        templates=runtime(request).templates,
        editor=signed_in.editor,
        csrf_token=signed_in.csrf_token,
    )


def protect(handler: Handler) -> Endpoint:
    """The Starlette endpoint of a desk page: a live session, and on a POST its form
    token, before ``handler`` runs."""

    async def endpoint(request: Request) -> Response:
        rt = runtime(request)
        signed_in = await in_database(request, rt.auth.session, request.cookies.get(COOKIE))
        if request.method in ("GET", "HEAD"):
            if signed_in is None:
                return RedirectResponse("/desk/sign-in", status_code=303)
        else:
            _ = page_gettext(request)
            if signed_in is None:
                return refused(
                    request,
                    403,
                    _("Please sign in"),
                    _("You are not signed in to the desk (any more)."),
                )
            form = await read_form(request)
            if form is None or not rt.auth.check_csrf(signed_in, form.get("csrf")):
                return refused(
                    request,
                    403,
                    _("Please try again"),
                    _(
                        "The form had expired or did not come from the desk. Nothing was "
                        "changed: go back, reload the page and try again."
                    ),
                )
        request.state.desk_session = signed_in
        return await handler(request, _desk(request, signed_in))

    endpoint.__name__ = getattr(handler, "__name__", "desk_page")
    endpoint.__doc__ = handler.__doc__
    return endpoint


# --- the routes ------------------------------------------------------------------------------


def desk_routes() -> list[BaseRoute]:
    """``/desk`` and the ``Mount("/desk", …)`` of every desk page, the numbers' pages
    (``desk.numbers``) included when that module is there."""
    from desk import coming, coming_actions
    from desk.audit import audit_page

    routes: list[BaseRoute] = [
        Route("/", protect(coming.coming_page), methods=["GET"]),
        Route("/sign-in", sign_in_form, methods=["GET"]),
        Route("/sign-in", sign_in_post, methods=["POST"]),
        Route("/sign-in/{token}", link_page, methods=["GET"]),
        Route("/sign-in/{token}", link_post, methods=["POST"]),
        Route("/sign-out", protect(sign_out), methods=["POST"]),
        Route("/desk.css", stylesheet, methods=["GET"]),
        Route("/coming/preview.html", protect(coming.preview), methods=["GET"]),
        Route("/coming/pin", protect(coming_actions.pin), methods=["POST"]),
        Route("/coming/unpin", protect(coming_actions.unpin), methods=["POST"]),
        Route("/coming/drop", protect(coming_actions.drop), methods=["POST"]),
        Route("/coming/restore", protect(coming_actions.restore), methods=["POST"]),
        Route("/coming/note", protect(coming_actions.note), methods=["POST"]),
        Route("/coming/test", protect(coming_actions.send_test), methods=["POST"]),
        Route("/audit", protect(audit_page), methods=["GET"]),
    ]
    try:
        from desk.numbers import numbers_routes  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.debug("desk.numbers is not there: no issues or readers pages")
    else:
        routes += numbers_routes(protect)
    headers = [Middleware(SecurityHeaders, headers=DESK_HEADERS)]
    return [
        # "/desk" itself (the Mount answers "/desk/…"); the coming issue
        Route("/desk", protect(coming.coming_page), methods=["GET"], middleware=headers),
        Mount("/desk", routes=routes, middleware=headers),
    ]


PUBLIC_PATHS = ("/sign-in", "/sign-in/{token}", "/desk.css")  # open without a session

__all__ = [
    "DESK_CSP",
    "DESK_HEADERS",
    "PUBLIC_PATHS",
    "Endpoint",
    "desk_routes",
    "protect",
]
