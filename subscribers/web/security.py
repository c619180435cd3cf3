"""Security for every response and every form.

``SecurityHeaders`` is ASGI middleware that puts the headers on every
response, error pages and other engineers' routes included; a response that sets one of
them itself keeps its own (the editors' desk sets a stricter policy, and its sandboxed
preview one that lets the desk frame it). ``Csrf`` is a
signed double-submit token: a random form id in an HttpOnly cookie, and the
same id signed (itsdangerous, with the secret key) in a hidden field; a post
is accepted only when both are present and agree.
"""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.errors import TokenError
from digest.tokens import Tokens

CONTENT_SECURITY_POLICY = "; ".join(  # noqa: FLY002 -- one directive a line
    [
        "default-src 'none'",
        "script-src 'none'",
        # archived issues are email HTML: inline styles, remote images
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' https: http: data:",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


class SecurityHeaders:
    """Sets ``headers`` (default ``SECURITY_HEADERS``) on every HTTP response, but those it
    sets itself. The desk wraps its routes in one with its own stricter set."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


CSRF_COOKIE = "digest_csrf"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE = 2 * 24 * 3600


class Csrf:
    """Signed double-submit CSRF tokens."""

    def __init__(self, tokens: Tokens, *, secure_cookie: bool) -> None:
        self.tokens = tokens
        self.secure_cookie = secure_cookie

    @staticmethod
    def _form_id(request: Request) -> str | None:
        value = request.cookies.get(CSRF_COOKIE)
        if value and 16 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
            return value
        return None

    def issue(self, request: Request) -> tuple[str, str | None]:
        """(hidden field value, new cookie value or None when the cookie is kept)."""
        form_id = self._form_id(request)
        new_cookie = None
        if form_id is None:
            form_id = new_cookie = pysecrets.token_urlsafe(24)
        return self.tokens.csrf(form_id), new_cookie

    def set_cookie(self, response: Response, value: str | None) -> None:
        if value is None:
            return
        response.set_cookie(
            CSRF_COOKIE,
            value,
            max_age=CSRF_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=self.secure_cookie,
            path="/",
        )

    def check(self, request: Request, field_value: str | None) -> bool:
        form_id = self._form_id(request)
        if not form_id or not field_value:
            return False
        try:
            signed = self.tokens.read_csrf(field_value, CSRF_MAX_AGE)
        except TokenError:
            return False
        return pysecrets.compare_digest(signed, form_id)
