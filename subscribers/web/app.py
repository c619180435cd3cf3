"""The web app (Starlette): subscribe, confirm, unsubscribe, archive, webhooks, /healthz.

``create_app`` puts its dependencies on ``app.state`` (config, store, secrets,
clock, backend, templates, workflow) for every route to read, and wraps the
whole app, error pages included, in the security-headers middleware.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp

from digest.backends.base import Backend
from digest.clock import Clock, system_clock
from digest.config import Config, Secrets
from digest.errors import TokenError
from digest.i18n import N_, config_translations, gettext_for, html_lang, text_direction
from digest.render import safe_url
from digest.store.database import Store
from digest.store.ratelimits import RateLimits
from digest.tokens import Tokens
from subscribers.web import pages
from subscribers.web.database import DATABASE_THREADS, database_limiter
from subscribers.web.health import Health, healthz
from subscribers.web.ratelimit import RateLimiter
from subscribers.web.security import Csrf, SecurityHeaders
from subscribers.workflow import Workflow

STATUS_TITLES = {
    404: (
        N_("Page not found"),
        N_("There is nothing at this address. Check the link, or go to the subscribe page."),
    ),
    405: (N_("Not allowed"), N_("This page cannot be used that way.")),
}


class DigestApp(Starlette):
    """A Starlette app whose outermost layer adds the security headers, so even the
    500 page of Starlette's error middleware carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def page_dirs(config: Config) -> list[Path]:
    """Where page templates are looked up: ``pages/`` of the user's and the bundled dirs."""
    return [d / "pages" for d in config.templates_dirs]


def make_templates(config: Config, *, has_archive: bool = False) -> Jinja2Templates:
    """The page templates: ``base.html`` and friends (also reachable as ``pages/…``)."""
    dirs = config.templates_dirs
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader([str(d / "pages") for d in dirs]),
                jinja2.FileSystemLoader([str(d) for d in dirs]),
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # read once: no stat() of every template file on every page
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # the locale's catalogs: bundled, then the publication's own (digest.i18n)
    env.install_gettext_translations(  # type: ignore[attr-defined]
        config_translations(config), newstyle=True
    )
    nl = config.newsletter
    env.filters["safe_url"] = safe_url
    env.globals.update(
        newsletter=nl,
        accent=nl.accent_color,
        accent_dark=darker(nl.accent_color),
        site_url=safe_url(nl.site_url),
        site_host=nl.site_url.split("://", 1)[-1].rstrip("/"),
        has_archive=has_archive,
        form_version=config.web.form_version,
        html_lang=html_lang(nl.locale),  # <html lang>: en-US, fr-FR
        html_dir=text_direction(nl.locale),
    )
    return Jinja2Templates(env=env)


def darker(color: str, amount: float = 0.2) -> str:
    """``#rrggbb``: the ``#rgb``/``#rrggbb`` colour mixed with ``amount`` of black (hovers)."""
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = (round(int(digits[i : i + 2], 16) * (1 - amount)) for i in (0, 2, 4))
    return "#" + "".join(f"{c:02x}" for c in channels)


def _load_stylesheet(config: Config) -> str:
    for d in page_dirs(config):
        css = d / "site.css"
        if css.is_file():
            return css.read_text(encoding="utf-8")
    return ""


def create_app(
    config: Config,
    *,
    store: Store,
    secrets: Secrets,
    clock: Clock = system_clock,
    backend: Backend | None = None,
    database_threads: int = DATABASE_THREADS,
    subscribe_delay: float = pages.SUBSCRIBE_DELAY,
) -> Starlette:
    """The app ``digest serve`` runs. Raises ``TokenError`` (with how to set it) when
    DIGEST_SECRET_KEY is missing: links cannot be signed without it.

    ``database_threads``: how many requests work on the database at once
    (``subscribers.web.database``). ``subscribe_delay``: at most how many seconds the
    work of ``POST /subscribe`` waits after the answer (``subscribers.web.pages``)."""
    if not secrets.secret_key:
        Tokens("")  # raises the TokenError that says how to set the key
    from desk.app import desk_routes  # the editors' desk (/desk)
    from subscribers import webhooks
    from subscribers.web import archive, embed, favicon

    archive_routes: list[BaseRoute] = list(archive.routes)
    webhook_routes: list[BaseRoute] = list(webhooks.routes)
    health_route = Route("/healthz", healthz, methods=["GET"])  # no rate limit: polled
    app = DigestApp(
        routes=[
            *pages.routes,
            health_route,
            *archive_routes,
            *embed.routes,
            *favicon.routes,
            *webhook_routes,
            *desk_routes(),
        ],
        exception_handlers={HTTPException: _http_error, 500: _server_error},
    )
    workflow = Workflow(config, store, secrets=secrets, clock=clock, backend=backend)
    state: Any = app.state
    state.config = config
    state.store = store
    state.secrets = secrets
    state.clock = clock
    state.backend = backend if backend is not None else workflow.backend
    state.templates = make_templates(config, has_archive=bool(archive_routes))
    state.gettext = gettext_for(config)  # the words handlers put in pages (pages.page_gettext)
    state.workflow = workflow
    state.tokens = workflow.tokens
    state.csrf = Csrf(
        workflow.tokens, secure_cookie=config.newsletter.public_url.startswith("https:")
    )
    web = config.web
    counters = RateLimits(store)  # in the database: shared by every replica, kept on restart
    window = web.rate_limit_window_seconds
    state.rate_limit_ip = RateLimiter(counters, "ip", web.rate_limit_per_ip, window, clock)
    state.rate_limit_address = RateLimiter(
        counters, "address", web.rate_limit_per_address, window, clock
    )
    state.health = Health(store)
    state.stylesheet = _load_stylesheet(config)
    state.favicon_svg = favicon.letter_mark(config.newsletter)
    state.database_limiter = database_limiter(database_threads)
    state.subscribe_delay = subscribe_delay
    state.subscribe_backlog = anyio.Semaphore(pages.SUBSCRIBE_BACKLOG)
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    _ = pages.page_gettext(request)
    known = STATUS_TITLES.get(exc.status_code)
    if known:
        title, message = _(known[0]), _(known[1])
    else:
        title, message = _("Something went wrong"), str(exc.detail)
    return pages.error_page(
        request, exc.status_code, title, message, headers=dict(exc.headers or {})
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    _ = pages.page_gettext(request)
    return pages.error_page(
        request,
        500,
        _("Something went wrong on our side"),
        _("Nothing you did caused this. Please try again in a few minutes."),
    )


__all__ = ["DigestApp", "TokenError", "create_app", "make_templates"]
