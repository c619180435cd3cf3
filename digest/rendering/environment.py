"""The Jinja environment of a configuration's template folders, and template errors
turned into ``RenderError`` naming the template.

Templates are looked up in ``config.templates_dirs``: the user's ``templates_dir``
first, the bundled templates second, so a user can override any one file. Their fixed
words are translated with the catalogs of ``[newsletter] locale`` (``digest.i18n``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from digest.config import Config
from digest.errors import ConfigError, RenderError
from digest.i18n import html_lang, text_direction, translations
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from digest.rendering.byline import byline
from digest.rendering.sanitize import safe_url, sanitize_fragment
from digest.rendering.text import one_line, shorten, wrap

# After the preheader: invisible characters that keep mail clients from filling
# the inbox preview with the masthead ("Statecraft Weekly The week in…").
PREHEADER_FILLER = Markup("&#847;&zwnj;&nbsp;" * 40)

# One environment per list of folders and locale, so compiled templates are kept
# between renders.
_ENVS: dict[tuple[tuple[str, ...], str, tuple[str, ...]], jinja2.Environment] = {}
_ENVS_LOCK = threading.Lock()


def environment_for(config: Config) -> jinja2.Environment:
    """The shared environment for ``config``'s template folders (each folder's
    ``email/`` subfolder if it has one) and its locale's translations."""
    folders = _dirs(config)
    dirs = tuple(str(d / "email") if (d / "email").is_dir() else str(d) for d in folders)
    locale = config.newsletter.locale
    key = (dirs, locale, tuple(str(d) for d in folders))
    with _ENVS_LOCK:
        env = _ENVS.get(key)
        if env is None:
            if len(_ENVS) > 64:
                _ENVS.clear()
            env = _ENVS[key] = _make_env(dirs, locale, folders)
        return env


def render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Template ``name`` rendered; any template problem is a ``RenderError`` naming it."""
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        searched = ", ".join(str(p) for p in getattr(env.loader, "searchpath", []))
        raise RenderError(f"template {exc.name} not found (looked in {searched})") from None
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise RenderError(f"template {where}, line {exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise RenderError(f"template {name}: {exc.message}") from None
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError) as exc:
        raise RenderError(f"template {name}: {exc}") from None


def _dirs(config: Config) -> list[Path]:
    """The template folders, the user's first."""
    try:
        dirs = config.templates_dirs
    except FileNotFoundError as exc:
        raise RenderError(str(exc)) from None
    if config.newsletter.templates_dir and not dirs[0].is_dir():
        raise ConfigError(
            f"the templates folder {dirs[0]} does not exist",
            path=str(config.path) if config.path else None,
            key="newsletter.templates_dir",
        )
    return dirs


def _make_env(dirs: tuple[str, ...], locale: str, folders: list[Path]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(dirs)),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("mjml.j2", "html.j2", "mjml", "html"),
            disabled_extensions=("txt.j2", "txt"),
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
        extensions=["jinja2.ext.i18n"],
    )
    # fixed words are written {{ _("Latest") }}, translated by the locale's catalogs: the
    # bundled ones, then the publication's (<templates_dir>/locales/, digest.i18n)
    env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(locale, folders), newstyle=True
    )
    env.filters["safe_url"] = safe_url
    env.filters["sanitize"] = sanitize_fragment
    env.filters["one_line"] = one_line
    env.filters["shorten"] = shorten
    env.filters["wrap"] = wrap
    env.globals["UNSUBSCRIBE_URL"] = UNSUBSCRIBE_PLACEHOLDER
    env.globals["PREHEADER_FILLER"] = PREHEADER_FILLER
    env.globals["byline"] = byline
    env.globals["html_lang"] = html_lang(locale)  # <html lang>: en-US, fr-FR
    env.globals["html_dir"] = text_direction(locale)
    # the copy of an email for the web (the archive) sets this: the layout then gives
    # the footer meant for a visitor instead of the one meant for a reader (digest.archive)
    env.globals["for_web"] = False
    return env
