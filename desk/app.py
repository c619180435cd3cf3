"""The desk's routes (``desk_routes``, mounted by ``subscribers.web.app.create_app``), the
guard every desk page goes through (``protect``) and the sign-in pages.

``protect(handler)``: no live session → a GET is sent to the sign-in page (303), any
other method refused (403); a POST must carry the session's form token in ``csrf``
(403 otherwise, before the handler runs); then the handler gets its ``Desk``.

Every response under ``/desk`` carries ``DESK_HEADERS`` (no script at all, nothing may
frame the desk, nothing is cached); the sandboxed preview sets its own policy.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import jinja2
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desk.auth import COOKIE, COOKIE_PATH, LINK_MINUTES, DeskAuth, SignedIn
from desk.context import Desk, Handler
from digest.config import Config
from digest.rendering.sanitize import safe_url
from digest.store.ratelimits import RateLimits
from subscribers.web.database import in_database
from subscribers.web.pages import read_form
from subscribers.web.ratelimit import RateLimiter
from subscribers.web.security import CSRF_FIELD, Csrf

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
SIGN_IN_DELAY = 1.0  # at most this many seconds between the answer and the work (a random wait)
_jitter = random.SystemRandom()


class DeskHeaders:
    """ASGI middleware: ``DESK_HEADERS`` on every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in DESK_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


# --- what the desk runs on ----------------------------------------------------------------


def desk_templates(config: Config) -> Jinja2Templates:
    """``desk/…`` (and the email's) templates: the user's templates_dir first, then the
    bundled ones; autoescaped, and an undefined name is an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in config.templates_dirs]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    env.globals["newsletter"] = config.newsletter
    return Jinja2Templates(env=env)


@dataclass
class Runtime:
    """The desk's share of the app (made on first use from ``app.state``)."""

    auth: DeskAuth
    templates: Jinja2Templates
    limit_ip: RateLimiter
    limit_address: RateLimiter
    secure_cookie: bool
    stylesheet: str
    delay: float


def runtime(request: Request) -> Runtime:
    state = request.app.state
    found = getattr(state, "desk", None)
    if isinstance(found, Runtime):
        return found
    config: Config = state.config
    web = config.web
    counters = RateLimits(state.store)
    window = web.rate_limit_window_seconds
    made = Runtime(
        auth=DeskAuth(
            config,
            state.store,
            tokens=state.workflow.tokens,
            clock=state.clock,
            backend=lambda: state.backend,
        ),
        templates=desk_templates(config),
        limit_ip=RateLimiter(counters, "desk_ip", web.rate_limit_per_ip, window, state.clock),
        limit_address=RateLimiter(
            counters, "desk_addr", web.rate_limit_per_address, window, state.clock
        ),
        secure_cookie=config.newsletter.public_url.startswith("https:"),
        stylesheet=_stylesheet(config),
        delay=min(float(getattr(state, "subscribe_delay", SIGN_IN_DELAY)), SIGN_IN_DELAY),
    )
    state.desk = made
    return made


def _stylesheet(config: Config) -> str:
    for d in config.templates_dirs:
        css = Path(d) / "desk" / "desk.css"
        if css.is_file():
            return css.read_text(encoding="utf-8")
    return ""


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


def page(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    background: BackgroundTask | None = None,
) -> Response:
    """A page for someone not signed in (``desk`` is None in its template)."""
    response: Response = runtime(request).templates.TemplateResponse(
        request,
        name,
        {"desk": None, **(context or {})},
        status_code=status_code,
        background=background,
    )
    return response


def refused(request: Request, status: int, title: str, text: str) -> Response:
    return page(
        request,
        "desk/message.html",
        {"title": title, "message": text, "back": "/desk/sign-in"},
        status_code=status,
    )


# --- the guard ------------------------------------------------------------------------------


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
            if signed_in is None:
                return refused(
                    request, 403, "Please sign in", "You are not signed in to the desk (any more)."
                )
            form = await read_form(request)
            if form is None or not rt.auth.check_csrf(signed_in, form.get("csrf")):
                return refused(
                    request,
                    403,
                    "Please try again",
                    "The form had expired or did not come from the desk. Nothing was changed: "
                    "go back, reload the page and try again.",
                )
        request.state.desk_session = signed_in
        return await handler(request, _desk(request, signed_in))

    endpoint.__name__ = getattr(handler, "__name__", "desk_page")
    endpoint.__doc__ = handler.__doc__
    return endpoint


# --- signing in and out ------------------------------------------------------------------------


def _csrf(request: Request) -> Csrf:
    csrf: Csrf = request.app.state.csrf
    return csrf


def _form_page(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    """A page with a form for someone not signed in: the site's double-submit token."""
    token, cookie = _csrf(request).issue(request)
    response = page(
        request,
        name,
        {**context, "csrf_field": CSRF_FIELD, "csrf_token": token},
        status_code=status_code,
    )
    _csrf(request).set_cookie(response, cookie)
    return response


async def sign_in_form(request: Request) -> Response:
    """``GET /desk/sign-in``: the address field."""
    rt = runtime(request)
    if await in_database(request, rt.auth.session, request.cookies.get(COOKIE)) is not None:
        return RedirectResponse("/desk", status_code=303)
    return _form_page(request, "desk/sign_in.html", {"minutes": LINK_MINUTES})


async def sign_in_post(request: Request) -> Response:
    """``POST /desk/sign-in``: the same answer, in the same time, for every address; the
    link goes out after the answer, to editors only."""
    rt = runtime(request)
    form = await read_form(request)
    if form is None or not _csrf(request).check(request, form.get(CSRF_FIELD)):
        return refused(
            request,
            403,
            "Please try again",
            "The form had expired or did not come from this site. Reload it and try again.",
        )
    ip = request.client.host if request.client else "unknown"
    verdict = await in_database(request, rt.limit_ip.hit, ip)
    address = form.get("email", "").strip()[:320]
    if verdict.allowed:
        verdict = await in_database(request, rt.limit_address.hit, address.lower())
    if not verdict.allowed:
        minutes = max(1, (verdict.retry_after + 59) // 60)
        response = refused(
            request,
            429,
            "Please wait",
            f"Too many sign-in requests. Please try again in {minutes} minute(s).",
        )
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    work = BackgroundTask(_send_link_after_answer, rt, address) if address else None
    return page(request, "desk/sign_in_sent.html", {"minutes": LINK_MINUTES}, background=work)


async def _send_link_after_answer(rt: Runtime, address: str) -> None:
    # A random wait, so the work (a write and an email for an editor, nothing for anyone
    # else) does not line up with the visitor's next request either.
    try:
        if rt.delay > 0:
            await anyio.sleep(_jitter.uniform(0, rt.delay))
        await run_in_threadpool(rt.auth.send_link, address)
    except Exception:
        log.exception("desk: could not send a sign-in link")  # never the address


async def link_page(request: Request) -> Response:
    """``GET /desk/sign-in/{token}``: a button (opening the link changes nothing)."""
    rt = runtime(request)
    token = request.path_params["token"]
    state = await in_database(request, rt.auth.link_state, token)
    if state != "ready":
        return _link_refused(request, state)
    return _form_page(request, "desk/link.html", {"token": token})


def _link_refused(request: Request, state: str) -> Response:
    why = {
        "used": "This sign-in link has already been used: each link works once.",
        "expired": f"This sign-in link has expired: a link works for {LINK_MINUTES} minutes.",
    }.get(state, "This sign-in link is not valid (it may be incomplete).")
    return refused(request, 410 if state in ("used", "expired") else 400, "Link refused", why)


async def link_post(request: Request) -> Response:
    """``POST /desk/sign-in/{token}``: use the link once, open a session, go to the desk."""
    rt = runtime(request)
    token = request.path_params["token"]
    form = await read_form(request)
    if form is None or not _csrf(request).check(request, form.get(CSRF_FIELD)):
        return refused(
            request,
            403,
            "Please try again",
            "The form had expired or did not come from this site. Open the link again.",
        )
    cookie = await in_database(request, rt.auth.use_link, token)
    if cookie is None:
        state = await in_database(request, rt.auth.link_state, token)
        return _link_refused(request, state)
    response = RedirectResponse("/desk", status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=rt.secure_cookie,
        path=COOKIE_PATH,
    )
    return response


async def sign_out(request: Request, desk: Desk) -> Response:
    """``POST /desk/sign-out``: the session ends (its cookie no longer works anywhere)."""
    signed_in: SignedIn = request.state.desk_session
    await in_database(request, runtime(request).auth.sign_out, signed_in)
    response = page(request, "desk/signed_out.html")
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=runtime(request).secure_cookie,
    )
    return response


async def stylesheet(request: Request) -> Response:
    """``GET /desk/desk.css`` (public: the sign-in page uses it)."""
    return Response(runtime(request).stylesheet, media_type="text/css")


# --- the routes ------------------------------------------------------------------------------


def desk_routes() -> list[BaseRoute]:
    """``/desk`` and the ``Mount("/desk", …)`` of every desk page, the numbers' pages
    (``desk.numbers``) included when that module is there."""
    from desk import coming
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
        Route("/coming/pin", protect(coming.pin), methods=["POST"]),
        Route("/coming/unpin", protect(coming.unpin), methods=["POST"]),
        Route("/coming/drop", protect(coming.drop), methods=["POST"]),
        Route("/coming/restore", protect(coming.restore), methods=["POST"]),
        Route("/coming/note", protect(coming.note), methods=["POST"]),
        Route("/coming/test", protect(coming.send_test), methods=["POST"]),
        Route("/audit", protect(audit_page), methods=["GET"]),
    ]
    try:
        from desk.numbers import numbers_routes  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.debug("desk.numbers is not there: no issues or readers pages")
    else:
        routes += numbers_routes(protect)
    headers = [Middleware(DeskHeaders)]
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
    "DeskHeaders",
    "Endpoint",
    "desk_routes",
    "desk_templates",
    "protect",
    "runtime",
]
