"""What the desk runs on: its templates, its sign-in machinery and rate limits
(``Runtime``, made once per app from ``app.state``), and the pages shown to someone not
signed in (``page``, ``refused``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from desk.auth import DeskAuth
from digest.config import Config
from digest.i18n import Gettext, config_translations, gettext_for, html_lang, text_direction
from digest.rendering.sanitize import safe_url
from digest.store.ratelimits import RateLimits
from subscribers.web.ratelimit import RateLimiter

SIGN_IN_DELAY = 1.0  # at most this many seconds between the answer and the work (a random wait)


def desk_templates(config: Config) -> Jinja2Templates:
    """``desk/…`` (and the email's) templates: the user's templates_dir first, then the
    bundled ones; autoescaped, and an undefined name is an error. The words are in
    ``[newsletter] locale`` (the catalogs of ``digest.i18n``, as the pages' are)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in config.templates_dirs]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # the locale's catalogs: bundled, then the publication's own (digest.i18n)
    env.install_gettext_translations(  # type: ignore[attr-defined]
        config_translations(config), newstyle=True
    )
    env.filters["safe_url"] = safe_url
    env.globals["newsletter"] = config.newsletter
    env.globals["html_lang"] = html_lang(config.newsletter.locale)  # <html lang>: en-US, fr-FR
    env.globals["html_dir"] = text_direction(config.newsletter.locale)
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


def page_gettext(request: Request) -> Gettext:
    """gettext in the publication's locale, for a page of someone not signed in."""
    config: Config = request.app.state.config
    return gettext_for(config)


def refused(request: Request, status: int, title: str, text: str) -> Response:
    """A page that says why not: ``title`` and ``text`` already translated."""
    return page(
        request,
        "desk/message.html",
        {"title": title, "message": text, "back": "/desk/sign-in"},
        status_code=status,
    )


__all__ = [
    "SIGN_IN_DELAY",
    "Runtime",
    "desk_templates",
    "page",
    "page_gettext",
    "refused",
    "runtime",
]
