"""Signing in to the desk and out of it (routes in ``desk.app``).

An editor asks for a link (``/desk/sign-in``: the same answer, in the same time, for every
address; the link goes out after the answer, to editors only), opens it (a button: opening
changes nothing), and the POST of that button uses the link once and opens a session.
These pages carry the site's double-submit form token; the desk's own pages carry the
session's (``desk.app.protect``).
"""

from __future__ import annotations

import logging
import random
from typing import Any

import anyio
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from desk.auth import COOKIE, COOKIE_PATH, LINK_MINUTES, SignedIn
from desk.context import Desk
from desk.runtime import Runtime, page, page_gettext, refused, runtime
from subscribers.web.database import in_database
from subscribers.web.pages import read_form
from subscribers.web.security import CSRF_FIELD, Csrf

# the logger's name from before the sign-in pages left desk.app: logging configs name it
log = logging.getLogger("desk.app")

_jitter = random.SystemRandom()


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
    _ = page_gettext(request)
    form = await read_form(request)
    if form is None or not _csrf(request).check(request, form.get(CSRF_FIELD)):
        return refused(
            request,
            403,
            _("Please try again"),
            _("The form had expired or did not come from this site. Reload it and try again."),
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
            _("Please wait"),
            _.ngettext(
                "Too many sign-in requests. Please try again in %(num)d minute.",
                "Too many sign-in requests. Please try again in %(num)d minutes.",
                minutes,
            ),
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
    _ = page_gettext(request)
    if state == "used":
        why = _("This sign-in link has already been used: each link works once.")
    elif state == "expired":
        why = _.ngettext(
            "This sign-in link has expired: a link works for %(num)d minute.",
            "This sign-in link has expired: a link works for %(num)d minutes.",
            LINK_MINUTES,
        )
    else:
        why = _("This sign-in link is not valid (it may be incomplete).")
    status = 410 if state in ("used", "expired") else 400
    return refused(request, status, _("Link refused"), why)


async def link_post(request: Request) -> Response:
    """``POST /desk/sign-in/{token}``: use the link once, open a session, go to the desk."""
    rt = runtime(request)
    token = request.path_params["token"]
    form = await read_form(request)
    if form is None or not _csrf(request).check(request, form.get(CSRF_FIELD)):
        _ = page_gettext(request)
        return refused(
            request,
            403,
            _("Please try again"),
            _("The form had expired or did not come from this site. Open the link again."),
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


__all__ = [
    "link_page",
    "link_post",
    "sign_in_form",
    "sign_in_post",
    "sign_out",
    "stylesheet",
]
