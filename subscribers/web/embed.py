"""The subscribe form for the publication's own site (docs/embed.md).

``GET /embed`` answers the HTML snippet to paste into a page of the site: a plain form
(no script, no frame, no cookie) posting to ``{public_url}/embed/subscribe``, with a
signed, time-limited form token, the honeypot and class names for the site's styles.

``POST /embed/subscribe`` comes from another site, so the cookie-paired CSRF token of
the built-in page cannot work (a third-party cookie). Instead:

1. the ``Origin`` header must be exactly one of ``web.embed_origins`` (browsers set it on
   every cross-site POST and pages cannot forge it); anything else, a missing or
   ``null`` Origin included, is refused with a 403 page before the body is read, and
   nothing is stored;
2. the form must carry a token signed by ``digest.tokens`` (the one signer, the CSRF
   salt with a payload no cookie can carry) in the last ``EMBED_TOKEN_DAYS`` days.

Then it is the built-in form exactly (``pages.take_subscription``): the rate limits in
the database, the honeypot, the double opt-in, and one answer for every address (a 303
redirect to ``web.embed_thanks_url`` or to ``/embed/thanks``), with the work that
depends on the address after it. No CORS header is sent: a form post needs none.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest.errors import TokenError
from digest.i18n import format_page_date
from digest.tokens import Tokens
from subscribers.web.pages import (
    HONEYPOT_FIELD,
    NO_STORE,
    error_page,
    page_gettext,
    read_subscribe_form,
    render,
    subscribe_form,
    take_subscription,
)

TOKEN_FIELD = "embed_token"
EMBED_PAYLOAD = "digest.embed.v1"  # never a CSRF cookie's form id (those are 16-64 url-safe)
EMBED_TOKEN_DAYS = 365  # how long a pasted snippet works; fetch GET /embed again before
THANKS_PATH = "/embed/thanks"


def embed_token(tokens: Tokens) -> str:
    return tokens.csrf(EMBED_PAYLOAD)


def embed_token_ok(tokens: Tokens, value: str | None) -> bool:
    if not value:
        return False
    try:
        return tokens.read_csrf(value, EMBED_TOKEN_DAYS * 86400) == EMBED_PAYLOAD
    except TokenError:
        return False


def _origins(request: Request) -> list[str]:
    origins: list[str] = request.app.state.config.web.embed_origins
    return origins


async def snippet(request: Request) -> Response:
    """The snippet to paste: HTML, with a fresh token."""
    state: Any = request.app.state
    origins = _origins(request)
    if not origins:
        raise HTTPException(404)
    nl = state.config.newsletter
    expires = state.clock() + timedelta(days=EMBED_TOKEN_DAYS)
    response: Response = state.templates.TemplateResponse(
        request,
        "embed.html",
        {
            "action": f"{nl.public_url.rstrip('/')}/embed/subscribe",
            "token_field": TOKEN_FIELD,
            "token": embed_token(state.tokens),
            "honeypot": HONEYPOT_FIELD,
            "origins": origins,
            "refresh_before": format_page_date(expires.astimezone(nl.tz), nl.locale),
            "embed_url": f"{nl.public_url.rstrip('/')}/embed",
        },
        headers=NO_STORE,
    )
    return response


def _refused(request: Request) -> Response:
    _ = page_gettext(request)
    return error_page(
        request,
        403,
        _("This form cannot be used here"),
        _(
            "The subscribe form was sent from a page that may not use it, so nothing has "
            "been stored. You can subscribe on our own page instead."
        ),
    )


async def subscribe(request: Request) -> Response:
    state: Any = request.app.state
    origin = request.headers.get("origin")
    if origin is None or origin not in _origins(request):
        return _refused(request)
    _ = page_gettext(request)
    form = await read_subscribe_form(request)
    if isinstance(form, Response):
        return form
    if not embed_token_ok(state.tokens, form.get(TOKEN_FIELD)):
        return error_page(
            request,
            403,
            _("Please try again"),
            _(
                "The subscribe form has expired or was changed, so nothing has been stored. "
                "You can subscribe on our own page instead."
            ),
        )
    thanks: str = state.config.web.embed_thanks_url or THANKS_PATH

    def answer(after: BackgroundTask | None) -> Response:
        # the same for every address, the honeypot included
        return RedirectResponse(thanks, status_code=303, headers=NO_STORE, background=after)

    return await take_subscription(
        request,
        form,
        answer=answer,
        invalid=lambda error, raw: subscribe_form(
            request, error=error, email=raw[:320], status_code=400
        ),
    )


async def thanks_page(request: Request) -> Response:
    # like the built-in check-inbox page: nothing in it depends on the request
    return render(request, "embed_thanks.html")


routes: list[BaseRoute] = [
    Route("/embed", snippet, methods=["GET"]),
    Route("/embed/subscribe", subscribe, methods=["POST"]),
    Route(THANKS_PATH, thanks_page, methods=["GET"]),
]
