"""The issue as the web archive serves it: the email's own rendering, with the footer
meant for a reader replaced by one meant for a visitor of the web.

The layout (``templates/email/layout.mjml.j2``) wraps the reader's part of the footer
("You're receiving this because…", "View in browser", "Unsubscribe") in
``<div class="reader-footer">``; here that element becomes the layout's
``web_footer_text`` block (from the archive of …, a link to all issues, a link to
subscribe), rendered from the same templates (a user's copy first), so the copy on the
web says nothing to or about a particular reader. Any unsubscribe placeholder left (a
user's template without that element) points to the subscribe page, its link worded
"Subscribe".
"""

from __future__ import annotations

import re

import jinja2

from digest.config import Config
from digest.errors import RenderError
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from digest.rendering.environment import environment_for
from digest.rendering.views import common_context

READER_FOOTER = re.compile(r'<div\b[^>]*\bclass="reader-footer"[^>]*>', re.IGNORECASE)
_DIV = re.compile(r"<(/?)div\b[^>]*>", re.IGNORECASE)
WEB_FOOTER_BLOCK = "web_footer_text"
# where the block is looked for: the template (it may override it), then the layout
_BLOCK_TEMPLATES = ("issue.mjml.j2", "layout.mjml.j2")


def subscribe_url(config: Config) -> str:
    """The subscribe page: where a link meant for no one in particular points."""
    return config.newsletter.public_url.rstrip("/") + "/"


_UNSUB_LINK = re.compile(
    r"(<a\b[^>]*\bhref=\""
    + re.escape(UNSUBSCRIBE_PLACEHOLDER)
    + r"\"[^>]*>)(\s*)Unsubscribe(\s*)(</a>)",
    re.IGNORECASE,
)


def archive_html(html: str, config: Config) -> str:
    """``html`` (an issue as sent) as the archive serves it: the reader's footer replaced
    by the web's (see above), and any unsubscribe link left turned into a neutral link
    to the subscribe page (a visitor of the archive has nothing to unsubscribe from)."""
    html = _web_footer(html, config)
    url = subscribe_url(config)

    def subscribe_link(m: re.Match[str]) -> str:
        opening = m.group(1).replace(UNSUBSCRIBE_PLACEHOLDER, url)
        return f"{opening}{m.group(2)}Subscribe{m.group(3)}{m.group(4)}"

    return _UNSUB_LINK.sub(subscribe_link, html).replace(UNSUBSCRIBE_PLACEHOLDER, url)


def web_footer(config: Config) -> str | None:
    """The ``web_footer_text`` block of the configuration's templates, as HTML; ``None``
    if no template has it (a user's layout from before it existed)."""
    env = environment_for(config)
    for name in _BLOCK_TEMPLATES:
        try:
            template = env.get_template(name)
        except jinja2.TemplateNotFound:
            continue
        block = template.blocks.get(WEB_FOOTER_BLOCK)
        if block is None:
            continue
        context = template.new_context({**common_context(config), "for_web": True})
        try:
            return "".join(block(context)).strip()
        except jinja2.TemplateError as exc:
            raise RenderError(f"template {name}, block {WEB_FOOTER_BLOCK}: {exc}") from None
    return None


def _web_footer(html: str, config: Config) -> str:
    """``html`` with its ``<div class="reader-footer">`` (and what is in it) replaced by
    ``<div class="web-footer">`` holding the web footer; as it was if it has none."""
    start = READER_FOOTER.search(html)
    if start is None:
        return html
    depth = 1
    for tag in _DIV.finditer(html, start.end()):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            footer = web_footer(config)
            if footer is None:
                return html
            replacement = f'<div class="web-footer">{footer}</div>'
            return html[: start.start()] + replacement + html[tag.end() :]
    return html  # unclosed: not the layout's element, leave it to the fallback
