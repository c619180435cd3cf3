"""Render: an ``Issue`` becomes the email every subscriber gets (``RenderedIssue``).

The pipeline for every email (the issue, the confirmation email, …):

1. Jinja2 renders ``templates/email/{name}.mjml.j2`` (autoescape on, undefined
   values are errors) and ``{name}.txt.j2`` (the plain-text part), from the user's
   ``templates_dir`` first and the bundled templates second
   (``digest.rendering.environment``).
2. The CSS of every ``<mj-style inline="inline">`` is taken out of the MJML, its
   at-rules (``@media`` …) kept in ``<head>`` (``digest.rendering.css``).
3. mjml-python turns the MJML into HTML, and css-inline writes the taken-out CSS
   into ``style=""`` attributes (``digest.rendering.mjml_html``).

The issue templates see view models (``digest.rendering.views``): plain text, already
shortened, and URLs only when they are http(s). Feed text is data, never a template:
it only ever reaches a template as a variable, and is escaped there
(``digest.rendering.sanitize``). Per-recipient values are placeholders
(``digest.models.UNSUBSCRIBE_PLACEHOLDER``) filled at send time, so one render
serves every recipient.
"""

from __future__ import annotations

import threading
from typing import Any

import jinja2

from digest.config import Config
from digest.errors import RenderError
from digest.models import Issue, RenderedIssue
from digest.rendering.environment import environment_for, render_template
from digest.rendering.mjml_html import mjml_to_html
from digest.rendering.sanitize import safe_url, sanitize_fragment, without_placeholders
from digest.rendering.views import common_context, issue_context, subject

__all__ = [
    "Renderer",
    "render",
    "render_email",
    "safe_url",
    "sanitize_fragment",
]


def render_email(config: Config, name: str, context: dict[str, Any]) -> tuple[str, str]:
    """(html, text) of the email ``name``: ``{name}.mjml.j2`` and ``{name}.txt.j2``.

    The templates also see ``config``, ``newsletter``, ``brand`` (logo, accent colour),
    ``issues_url``, ``subscribe_url`` and ``UNSUBSCRIBE_URL`` (the placeholder) unless
    ``context`` sets them. Raises ``RenderError`` naming the template on any template
    or MJML problem.
    """
    ctx = common_context(config)
    ctx.update(context)
    return _html_and_text(environment_for(config), name, ctx)


class Renderer:
    """Renders issues for one configuration; keeps the Jinja env and templates warm."""

    def __init__(self, config: Config):
        self.config = config
        self.env = environment_for(config)

    def context(self, issue: Issue) -> dict[str, Any]:
        """Everything the issue templates see."""
        return issue_context(issue, self.config)

    def render(self, issue: Issue) -> RenderedIssue:
        if issue.skipped or not issue.picks:
            why = issue.skip_reason or "it has no articles"
            raise RenderError(f"issue {issue.key} is skipped, there is nothing to render: {why}")
        issue = without_placeholders(issue)
        ctx = self.context(issue)
        html, text = _html_and_text(self.env, "issue", ctx)
        return RenderedIssue(
            key=issue.key,
            subject=subject(issue, self.config.newsletter),
            preheader=ctx["preheader"],
            html=html,
            text=text,
            archive_url=ctx["archive_url"],
        )


# A Renderer per configuration, so its templates stay compiled between issues.
_RENDERERS: dict[str, Renderer] = {}
_RENDERERS_LOCK = threading.Lock()


def render(issue: Issue, config: Config) -> RenderedIssue:
    """Render ``issue`` with a cached ``Renderer`` for ``config``."""
    key = repr(config)  # every setting a template could read
    with _RENDERERS_LOCK:
        renderer = _RENDERERS.get(key)
        if renderer is None:
            if len(_RENDERERS) > 16:
                _RENDERERS.clear()
            renderer = _RENDERERS[key] = Renderer(config)
    return renderer.render(issue)


def _html_and_text(env: jinja2.Environment, name: str, ctx: dict[str, Any]) -> tuple[str, str]:
    mjml_name = f"{name}.mjml.j2"
    html = mjml_to_html(render_template(env, mjml_name, ctx), template=mjml_name)
    return html, render_template(env, f"{name}.txt.j2", ctx)
