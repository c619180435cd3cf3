"""The reader's pages: subscribe, confirm, unsubscribe (with the RFC 8058 one-click POST).

GET pages never change anything (link scanners open every link); state
changes only on POST. ``POST /subscribe`` answers byte for byte the same, and
before looking the address up, whether it is new, pending, active,
unsubscribed, bounced or complained, so nobody can learn who is on the list
from the answer or from how long it took.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import anyio
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest.errors import InvalidAddress, TokenError
from digest.i18n import N_, Gettext
from subscribers.repository import check_address
from subscribers.web.database import in_database
from subscribers.web.ratelimit import RateLimiter
from subscribers.web.security import CSRF_FIELD, Csrf
from subscribers.welcome import welcome_after_confirm
from subscribers.workflow import Visitor, Workflow

log = logging.getLogger(__name__)

HONEYPOT_FIELD = "website"
MAX_FORM_BYTES = 16 * 1024
# POST /subscribe's work waits a random 0..this many seconds after the answer (see
# _subscribe_after_answer); create_app(subscribe_delay=…) changes it
SUBSCRIBE_DELAY = 1.0
# at most this many posts' work waiting or under way; a post beyond waits for room before
# its answer. Room for a few hundred posts a second to sit out their random wait.
SUBSCRIBE_BACKLOG = 256
_jitter = random.SystemRandom()
NO_STORE = {"Cache-Control": "no-store"}


def _workflow(request: Request) -> Workflow:
    wf: Workflow = request.app.state.workflow
    return wf


def page_gettext(request: Request) -> Gettext:
    """The newsletter's gettext, for the words a handler puts in a page:
    ``_ = page_gettext(request)``, then ``_("Please try again")``."""
    g: Gettext = request.app.state.gettext
    return g


def _csrf(request: Request) -> Csrf:
    csrf: Csrf = request.app.state.csrf
    return csrf


def _visitor(request: Request) -> Visitor:
    ip = request.client.host if request.client else None
    return Visitor(ip=ip, user_agent=request.headers.get("user-agent"))


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        name,
        context or {},
        status_code=status_code,
        headers={**NO_STORE, **(headers or {})},
        background=background,
    )
    return response


def error_page(
    request: Request,
    status_code: int,
    title: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "status_code": status_code},
        status_code=status_code,
        headers=headers,
    )


async def read_form(request: Request) -> dict[str, str] | None:
    """The posted fields (text only), or None when the body is too large or broken."""
    length = request.headers.get("content-length")
    if length and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        return None
    try:
        async with request.form(max_files=0, max_fields=20, max_part_size=MAX_FORM_BYTES) as form:
            return {k: v for k, v in form.items() if isinstance(v, str)}
    except Exception:  # noqa: BLE001 - malformed multipart, a file part, too many fields …
        return None


# --- subscribe ---------------------------------------------------------------------


def subscribe_form(
    request: Request, *, error: str | None = None, email: str = "", status_code: int = 200
) -> Response:
    token, cookie = _csrf(request).issue(request)
    response = render(
        request,
        "subscribe.html",
        {
            "csrf_token": token,
            "csrf_field": CSRF_FIELD,
            "error": error,
            "email": email,
            "honeypot": HONEYPOT_FIELD,
        },
        status_code=status_code,
    )
    _csrf(request).set_cookie(response, cookie)
    return response


async def home(request: Request) -> Response:
    return subscribe_form(request)


async def subscribe_get(request: Request) -> Response:
    return RedirectResponse("/", status_code=303)


def _check_inbox(request: Request, background: BackgroundTask | None = None) -> Response:
    # Nothing in this page may depend on the request: it is the same for everyone.
    return render(request, "check_inbox.html", background=background)


def _rate_limited(request: Request, retry_after: int) -> Response:
    minutes = max(1, (retry_after + 59) // 60)
    return render(
        request,
        "rate_limited.html",
        {"minutes": minutes},
        status_code=429,
        headers={"Retry-After": str(retry_after)},
    )


async def read_subscribe_form(request: Request) -> dict[str, str] | Response:
    """A subscribe form's fields (the site's own page or the embedded one), or the page
    that says it was too large."""
    form = await read_form(request)
    if form is not None:
        return form
    _ = page_gettext(request)
    return error_page(
        request,
        413,
        _("That form was too large"),
        _("Please go back to the subscribe page and try again."),
    )


async def subscribe_post(request: Request) -> Response:
    _ = page_gettext(request)
    form = await read_subscribe_form(request)
    if isinstance(form, Response):
        return form
    if not _csrf(request).check(request, form.get(CSRF_FIELD)):
        return error_page(
            request,
            403,
            _("Please try again"),
            _(
                "The form had expired or did not come from this site. Go back to the "
                "subscribe page, reload it and send it again."
            ),
        )
    return await take_subscription(
        request,
        form,
        answer=lambda after: _check_inbox(request, after),
        invalid=lambda error, raw: subscribe_form(
            request, error=error, email=raw[:320], status_code=400
        ),
    )


async def take_subscription(
    request: Request,
    form: dict[str, str],
    *,
    answer: Callable[[BackgroundTask | None], Response],
    invalid: Callable[[str, str], Response],
) -> Response:
    """A subscribe post whose form token has been checked (``POST /subscribe`` and the
    embedded form's ``POST /embed/subscribe``): the rate limits, the honeypot, the
    address's check, then ``answer(work)``, the same for every address, with the work
    that depends on the address's state (``work`` is None when there is none).
    ``invalid(message, what_was_typed)`` answers an address that is not one."""
    by_ip: RateLimiter = request.app.state.rate_limit_ip
    ip = _visitor(request).ip or "unknown"
    verdict = await in_database(request, by_ip.hit, ip)
    if not verdict.allowed:
        return _rate_limited(request, verdict.retry_after)
    if form.get(HONEYPOT_FIELD, "").strip():
        log.info("subscribe: honeypot filled from %s; ignored", ip)
        return answer(None)
    raw = form.get("email", "").strip()
    try:
        address = check_address(raw)
    except InvalidAddress as exc:
        return invalid(_friendly(page_gettext(request), exc), raw)
    by_address: RateLimiter = request.app.state.rate_limit_address
    verdict = await in_database(request, by_address.hit, address.key)
    if not verdict.allowed:
        return _rate_limited(request, verdict.retry_after)
    # Everything that depends on the address's state (looking it up, recording the request,
    # the confirmation email) runs after the answer has gone out: done before it, an active
    # address was answered a few ms sooner than a new one, which told who is on the list
    # (benchmarks/subscribe_timing.py measures it).
    after = BackgroundTask(
        _subscribe_after_answer, request, _workflow(request), address.email, _visitor(request)
    )
    response = answer(after)
    # Answering without doing the work would let a flood of posts pile up work without
    # end: past the backlog a post waits for earlier ones (whatever its own address), and
    # _subscribe_after_answer gives the room back (taken last: nothing may fail after it).
    backlog: anyio.Semaphore = request.app.state.subscribe_backlog
    await backlog.acquire()
    return response


def _friendly(_: Gettext, exc: InvalidAddress) -> str:
    if exc.reason == "it is empty":
        return _("Please enter your email address.")
    # the reason comes from the address check (subscribers.addresses), in English
    return _("That doesn't look like an email address: %(reason)s", reason=exc.reason)


async def _subscribe_after_answer(
    request: Request, wf: Workflow, email: str, visitor: Visitor
) -> None:
    """``POST /subscribe``'s work, once the visitor has the answer: record the request,
    then send the confirmation when one is due (on Starlette's pool: it waits on the
    email provider, not on the database)."""
    # Done at once, this work (a write and an email for a new address, a read for an
    # active one) slowed a request sent right after the answer by 1-2 ms more for a new
    # address: the state showed again, one request later. A random wait spreads it over
    # a second, where it no longer lines up with the visitor's next request.
    delay: float = request.app.state.subscribe_delay
    try:
        if delay > 0:
            await anyio.sleep(_jitter.uniform(0, delay))
        try:
            result = await in_database(
                request, wf.request_subscription, email, source="form", visitor=visitor
            )
        except Exception:
            # The visitor already has the page; the editor sees the log (without the
            # address) and the reader can simply send the form again.
            log.exception("subscribe: could not record a subscription request")
            return
        if result.send_confirmation:
            await run_in_threadpool(_send_confirmation, wf, result.subscriber_id)
    finally:
        request.app.state.subscribe_backlog.release()


def _send_confirmation(wf: Workflow, subscriber_id: int) -> None:
    try:
        wf.send_confirmation(subscriber_id)
    except Exception:
        # Never tell the visitor (the answer must not differ); the editor sees the log,
        # and the reader can ask again at once (the send was un-reserved).
        log.exception("could not send the confirmation email to subscriber %s", subscriber_id)


# --- confirm -----------------------------------------------------------------------


# what digest.tokens says is wrong with a link (TokenError), as the page words it
LINK_PROBLEMS = {
    "this confirmation link has expired": N_("This confirmation link has expired."),
    "this confirmation link is not valid (it may be incomplete)": N_(
        "This confirmation link is not valid (it may be incomplete)."
    ),
    "this confirmation link is not valid": N_("This confirmation link is not valid."),
    "this unsubscribe link is not valid (it may be incomplete)": N_(
        "This unsubscribe link is not valid (it may be incomplete)."
    ),
    "this unsubscribe link is not valid": N_("This unsubscribe link is not valid."),
}


def _bad_link(request: Request, exc: TokenError, what: str) -> Response:
    _ = page_gettext(request)
    reason = str(exc)
    known = LINK_PROBLEMS.get(reason)
    problem = _(known) if known else reason[:1].upper() + reason[1:] + "."
    if what == "confirm":
        advice = _("Nothing has been changed. You can ask for a new link on the subscribe page.")
    else:
        advice = _(
            "Nothing has been changed. Use the unsubscribe link at the bottom of the "
            "latest issue, or reply to it and we will take you off the list."
        )
    return error_page(request, 400, _("This link does not work"), f"{problem} {advice}")


async def confirm_get(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        target, state = await in_database(request, _workflow(request).confirm_target, token)
    except TokenError as exc:
        return _bad_link(request, exc, "confirm")
    if state == "already_confirmed":
        return render(request, "confirmed.html", {"email": target.email, "already": True})
    csrf_token, cookie = _csrf(request).issue(request)
    response = render(
        request,
        "confirm.html",
        {"email": target.email, "csrf_token": csrf_token, "csrf_field": CSRF_FIELD},
    )
    _csrf(request).set_cookie(response, cookie)
    return response


async def confirm_post(request: Request) -> Response:
    token = request.path_params["token"]
    form = await read_form(request)
    if form is None or not _csrf(request).check(request, form.get(CSRF_FIELD)):
        _ = page_gettext(request)
        return error_page(
            request,
            403,
            _("Please try again"),
            _("The page had expired. Open the link from the email again and press the button."),
        )
    try:
        target, state = await in_database(
            request, _workflow(request).confirm, token, visitor=_visitor(request)
        )
    except TokenError as exc:
        return _bad_link(request, exc, "confirm")
    # the welcome goes to the one post that made the reader active ("ready"), after the
    # answer, on Starlette's pool (it waits on the email provider); a failure is logged
    welcome = (
        BackgroundTask(
            run_in_threadpool, welcome_after_confirm, _workflow(request), target.subscriber_id
        )
        if state == "ready"
        else None
    )
    return render(
        request,
        "confirmed.html",
        {"email": target.email, "already": state == "already_confirmed"},
        background=welcome,
    )


# --- unsubscribe -------------------------------------------------------------------


async def unsubscribe_get(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        target = await in_database(request, _workflow(request).unsubscribe_target, token)
    except TokenError as exc:
        return _bad_link(request, exc, "unsubscribe")
    if target is None or target.status not in ("pending", "active"):
        return render(
            request,
            "unsubscribed.html",
            {"email": target.email if target else None, "already": True},
        )
    return render(request, "unsubscribe.html", {"email": target.email})


async def unsubscribe_post(request: Request) -> Response:
    """The button on the page, and the RFC 8058 one-click POST (no CSRF token, no
    cookie: the signed link is the authority)."""
    token = request.path_params["token"]
    form = await read_form(request) or {}
    one_click = form.get("List-Unsubscribe", "").strip() == "One-Click"
    try:
        target = await in_database(
            request,
            _workflow(request).unsubscribe,
            token,
            one_click=one_click,
            visitor=_visitor(request),
        )
    except TokenError as exc:
        return _bad_link(request, exc, "unsubscribe")
    return render(
        request, "unsubscribed.html", {"email": target.email if target else None, "already": False}
    )


# --- assets ---------------------------------------------------------------------------


async def stylesheet(request: Request) -> Response:
    css: str = request.app.state.stylesheet
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/subscribe", subscribe_get, methods=["GET"]),
    Route("/subscribe", subscribe_post, methods=["POST"]),
    Route("/confirm/{token}", confirm_get, methods=["GET"]),
    Route("/confirm/{token}", confirm_post, methods=["POST"]),
    Route("/unsubscribe/{token}", unsubscribe_get, methods=["GET"]),
    Route("/unsubscribe/{token}", unsubscribe_post, methods=["POST"]),
    Route("/static/site.css", stylesheet, methods=["GET"]),
]
