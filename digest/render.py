"""Render: an ``Issue`` becomes the email every subscriber gets (``RenderedIssue``).

The pipeline for every email (the issue, the confirmation email, …):

1. Jinja2 renders ``templates/email/{name}.mjml.j2`` (autoescape on, undefined
   values are errors) and ``{name}.txt.j2`` (the plain-text part). Templates are
   looked up in ``config.templates_dirs``: the user's ``templates_dir`` first,
   the bundled templates second, so a user can override any one file.
2. The CSS of every ``<mj-style inline="inline">`` is taken out of the MJML
   (mjml-python would leave it in a ``<style>`` block indistinguishable from the
   others); at-rules in it (``@media`` …) stay in ``<head>`` as a normal style.
3. mjml-python turns the MJML into HTML.
4. css-inline writes the taken-out CSS into ``style=""`` attributes; the other
   style blocks (resets, media queries for the responsive layout) stay in
   ``<head>``.

Feed text is data, never a template: it only ever reaches a template as a
variable, and is escaped there. Links are written only for http(s) URLs
(``safe_url``); anything else (``javascript:``, ``data:``, relative) is left out.
Per-recipient values are placeholders (``digest.models.UNSUBSCRIBE_PLACEHOLDER``)
filled at send time, so one render serves every recipient.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import css_inline
import jinja2
import mjml
import nh3
from markupsafe import Markup

from digest.config import Config, NewsletterConfig
from digest.errors import ConfigError, RenderError
from digest.models import (
    PLACEHOLDERS,
    UNSUBSCRIBE_PLACEHOLDER,
    Article,
    Image,
    Issue,
    Pick,
    RenderedIssue,
)

__all__ = [
    "Renderer",
    "StoryView",
    "archive_url",
    "issue_date",
    "render",
    "render_email",
    "safe_url",
    "sanitize_fragment",
]

PREHEADER_CHARS = 150
# Caps on what one story can put in the email, so that a 1 + 12 story issue stays
# under Gmail's 102 KB clipping limit whatever the feed holds.
TITLE_CHARS = 200
DEK_CHARS = 320
EXCERPT_CHARS = 1200
EXCERPT_PARAGRAPHS = 4

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

# Control characters and whitespace a browser would ignore inside a URL
# ("java\tscript:" is javascript:), so they are never allowed through.
_URL_JUNK = re.compile(r"[\x00-\x20\x7f]")


# --- small helpers other modules may use ---------------------------------------


def safe_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host, else ``None``.

    Used for every link and image taken from a feed: ``javascript:``, ``data:``,
    ``vbscript:``, protocol-relative and relative URLs are all refused.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or _URL_JUNK.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


# After the preheader: invisible characters that keep mail clients from filling
# the inbox preview with the masthead ("Statecraft Weekly The week in…").
PREHEADER_FILLER = Markup("&#847;&zwnj;&nbsp;" * 40)

_FRAGMENT_TAGS = {"p", "br", "a", "em", "strong", "b", "i", "ul", "ol", "li", "blockquote"}


def sanitize_fragment(html: str) -> Markup:
    """An HTML fragment from a feed, cut down to inert formatting and http(s) links.

    Nothing the bundled templates render needs this (they take plain text), but a
    user template that wants feed HTML must pass it through ``|sanitize``.
    """
    clean = nh3.clean(
        html,
        tags=_FRAGMENT_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return Markup(clean)


def issue_date(moment: datetime, newsletter: NewsletterConfig) -> str:
    """The as-of date in the newsletter's zone: ``Friday, November 20, 2026``.

    Spelled out here rather than with ``strftime`` so the result never depends
    on the machine's locale.
    """
    local = moment.astimezone(newsletter.tz)
    return f"{_DAYS[local.weekday()]}, {_MONTHS[local.month - 1]} {local.day}, {local.year}"


def archive_url(newsletter: NewsletterConfig, key: str) -> str:
    """The issue's "view in browser" page on the public web app."""
    return f"{newsletter.public_url.rstrip('/')}/issues/{key}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int) -> str:
    text = _one_line(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.-–— ")
    return cut + "…"


def _paragraphs(text: str) -> list[str]:
    """Plain text split on blank lines, each paragraph on one line."""
    return [p for p in (_one_line(chunk) for chunk in re.split(r"\n\s*\n", text)) if p]


def wrap(text: str, width: int = 72) -> str:
    """Plain text wrapped at ``width`` on spaces; long words (URLs) are never broken.

    A plain greedy wrap: several times faster than ``textwrap`` (Jinja's
    ``wordwrap``), which matters when every issue wraps ~40 paragraphs.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            if not line:
                line = word
            elif len(line) + 1 + len(word) <= width:
                line = f"{line} {word}"
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return "\n".join(lines)


def _same_start(paragraph: str, dek: str) -> bool:
    """Whether ``paragraph`` merely repeats ``dek`` (maybe shortened with "…")."""
    a, b = paragraph.rstrip("…").strip(), dek.rstrip("…").strip()
    return bool(a and b) and (a.startswith(b) or b.startswith(a)) and len(a) < len(b) + 80


def _excerpt(text: str) -> list[str]:
    """The first paragraphs of ``text``, at most ``EXCERPT_CHARS`` in all."""
    out: list[str] = []
    room = EXCERPT_CHARS
    for para in _paragraphs(text)[:EXCERPT_PARAGRAPHS]:
        if room < 40:
            break
        short = _shorten(para, room)
        out.append(short)
        room -= len(short)
        if short.endswith("…") and not para.endswith("…"):
            break
    return out


# --- what the issue templates see ------------------------------------------------


@dataclass(frozen=True)
class StoryView:
    """One pick as the templates see it: plain text plus URLs already vetted.

    ``url`` and ``image_url`` are ``None`` when the feed gave anything but an
    absolute http(s) URL; the templates then leave the link or image out.
    """

    title: str
    url: str | None
    dek: str
    excerpt: list[str]  # paragraphs
    section: str | None
    authors: tuple[str, ...]
    published: datetime
    image_url: str | None
    image_alt: str
    image_credit: str | None
    reason: str

    @classmethod
    def of(cls, pick: Pick) -> StoryView:
        a = pick.article
        image = a.image
        image_url = safe_url(image.url) if image else None
        dek = _shorten(a.dek, DEK_CHARS)
        excerpt = _excerpt(a.excerpt)
        if excerpt and dek and _same_start(excerpt[0], dek):
            excerpt = excerpt[1:]  # a feed with only a summary: don't print it twice
        return cls(
            title=_shorten(a.title, TITLE_CHARS) or "(untitled)",
            url=safe_url(a.url),
            dek=dek,
            excerpt=excerpt,
            section=_shorten(a.section, 60) if a.section else None,
            authors=a.authors,
            published=a.published,
            image_url=image_url,
            image_alt=_shorten((image.alt if image else None) or a.title, DEK_CHARS),
            image_credit=_shorten(image.credit, DEK_CHARS) if image and image.credit else None,
            reason=pick.reason,
        )


# --- placeholders in feed text ----------------------------------------------------
# Send time replaces every placeholder in the HTML and text with the recipient's own
# value. A feed (or note) that contains one would get it filled too: a story link
# "https://elsewhere.example/?u=%%unsubscribe_url%%" would hand each reader's
# unsubscribe link to that site. So the issue's own text never holds one verbatim.

_WORD_JOINER = "\u2060"  # invisible: the text reads the same, the placeholder is broken


def _inert(value: str, *, url: bool = False) -> str:
    for placeholder in PLACEHOLDERS:
        if placeholder in value:
            safe = quote(placeholder, safe="") if url else placeholder[0] + _WORD_JOINER + placeholder[1:]
            value = value.replace(placeholder, safe)
    return value


def _inert_article(a: Article) -> Article:
    changes: dict[str, Any] = {}
    for f in fields(a):
        value = getattr(a, f.name)
        if isinstance(value, str):
            new: Any = _inert(value, url=f.name == "url")
        elif isinstance(value, tuple):
            new = tuple(_inert(v) if isinstance(v, str) else v for v in value)
        elif isinstance(value, Image):
            new = Image(url=_inert(value.url, url=True),
                        alt=_inert(value.alt) if value.alt else value.alt,
                        credit=_inert(value.credit) if value.credit else value.credit)
        else:
            continue
        if new != value:
            changes[f.name] = new
    return replace(a, **changes) if changes else a


def without_placeholders(issue: Issue) -> Issue:
    """``issue`` with any placeholder in its stories or note made inert (see above)."""
    def pick(p: Pick) -> Pick:
        art = _inert_article(p.article)
        return p if art is p.article else replace(p, article=art)

    return replace(
        issue,
        lead=pick(issue.lead) if issue.lead else None,
        latest=tuple(pick(p) for p in issue.latest),
        note=_inert(issue.note) if issue.note else issue.note,
    )


# --- the Jinja environment ---------------------------------------------------------


def _make_env(dirs: tuple[str, ...]) -> jinja2.Environment:
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
    )
    env.filters["safe_url"] = safe_url
    env.filters["sanitize"] = sanitize_fragment
    env.filters["one_line"] = _one_line
    env.filters["shorten"] = _shorten
    env.filters["wrap"] = wrap
    env.globals["UNSUBSCRIBE_URL"] = UNSUBSCRIBE_PLACEHOLDER
    env.globals["PREHEADER_FILLER"] = PREHEADER_FILLER
    return env


_ENVS: dict[tuple[str, ...], jinja2.Environment] = {}
_LOCK = threading.RLock()  # render() holds it while Renderer() calls _env_for()


def _env_for(config: Config) -> jinja2.Environment:
    dirs = tuple(str(d / "email") if (d / "email").is_dir() else str(d) for d in _dirs(config))
    with _LOCK:
        env = _ENVS.get(dirs)
        if env is None:
            env = _ENVS[dirs] = _make_env(dirs)
        return env


def _dirs(config: Config) -> list[Path]:
    """The template folders, the user's first; each one's ``email/`` subfolder if it has one."""
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


# --- MJML → HTML with the inline CSS inlined --------------------------------------

_INLINE_STYLE = re.compile(
    r"<mj-style\b[^>]*\binline\s*=\s*([\"'])inline\1[^>]*>(.*?)</mj-style\s*>",
    re.DOTALL | re.IGNORECASE,
)


def _split_at_rules(css: str) -> tuple[str, str]:
    """(plain rules, at-rule blocks) of a style sheet; at-rules cannot be inlined."""
    plain: list[str] = []
    at_rules: list[str] = []
    i, n = 0, len(css)
    while i < n:
        start = i
        if css[i] == "@":
            depth = 0
            while i < n:
                ch = css[i]
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                elif ch == ";" and depth == 0:  # @import …;
                    i += 1
                    break
                i += 1
            at_rules.append(css[start:i])
        else:
            nxt = css.find("@", i)
            i = n if nxt < 0 else nxt
            plain.append(css[start:i])
    return "".join(plain).strip(), "\n".join(at_rules).strip()


_INLINERS: dict[str, css_inline.CSSInliner] = {}


def _inliner(css: str) -> css_inline.CSSInliner:
    inliner = _INLINERS.get(css)
    if inliner is None:
        if len(_INLINERS) > 32:
            _INLINERS.clear()
        inliner = _INLINERS[css] = css_inline.CSSInliner(
            inline_style_tags=False,  # the head's styles (resets, media queries) stay put
            keep_style_tags=True,
            keep_link_tags=True,
            load_remote_stylesheets=False,
            extra_css=css,
            preallocate_node_capacity=512,  # an issue has ~1,500 nodes; fewer reallocations
        )
    return inliner


def mjml_to_html(source: str, *, template: str) -> str:
    """MJML (already rendered by Jinja) → HTML with ``mj-style inline`` CSS inlined."""
    inline_css: list[str] = []

    def take(match: re.Match[str]) -> str:
        plain, at_rules = _split_at_rules(match.group(2))
        if plain:
            inline_css.append(plain)
        return f"<mj-style>{at_rules}</mj-style>" if at_rules else ""

    source = _INLINE_STYLE.sub(take, source)
    try:
        # fonts={}: no Google Fonts <link> for "Roboto" in the font stack; an
        # email must not make readers' clients fetch third-party CSS.
        html: str = mjml.mjml2html(source, disable_comments=True, fonts={})
    except ValueError as exc:
        raise RenderError(f"template {template}: the MJML it produced is invalid: {exc}") from None
    css = "\n".join(inline_css)
    if not css:
        return html
    try:
        return str(_inliner(css).inline(html))
    except css_inline.InlineError as exc:
        raise RenderError(f"template {template}: its inline CSS cannot be applied: {exc}") from None


def _render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
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


def render_email(config: Config, name: str, context: dict[str, Any]) -> tuple[str, str]:
    """(html, text) of the email ``name``: ``{name}.mjml.j2`` and ``{name}.txt.j2``.

    The templates also see ``config``, ``newsletter`` and ``UNSUBSCRIBE_URL``
    (the placeholder) unless ``context`` sets them. Raises ``RenderError``
    naming the template on any template or MJML problem.
    """
    env = _env_for(config)
    ctx: dict[str, Any] = {"config": config, "newsletter": config.newsletter}
    ctx.update(context)
    mjml_name = f"{name}.mjml.j2"
    html = mjml_to_html(_render_template(env, mjml_name, ctx), template=mjml_name)
    text = _render_template(env, f"{name}.txt.j2", ctx)
    return html, text


# --- the issue ----------------------------------------------------------------------


class Renderer:
    """Renders issues for one configuration; keeps the Jinja env and templates warm."""

    template = "issue"

    def __init__(self, config: Config):
        self.config = config
        self.env = _env_for(config)

    def context(self, issue: Issue) -> dict[str, Any]:
        """Everything the issue templates see."""
        nl = self.config.newsletter
        lead = StoryView.of(issue.lead) if issue.lead else None
        stories = [StoryView.of(p) for p in issue.latest]
        return {
            "config": self.config,
            "newsletter": nl,
            "issue": issue,
            "date": issue_date(issue.as_of, nl),
            "note": issue.note.strip() if issue.note and issue.note.strip() else None,
            "note_paragraphs": _paragraphs(issue.note or ""),
            "lead": lead,
            "stories": stories,
            "preheader": self.preheader(issue),
            "archive_url": archive_url(nl, issue.key),
            "site_url": safe_url(nl.site_url),
            "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        }

    def subject(self, issue: Issue) -> str:
        """``newsletter.subject`` (config text) with its fields; one line."""
        nl = self.config.newsletter
        first = issue.lead or (issue.latest[0] if issue.latest else None)
        fields = {
            "lead_title": _one_line(first.article.title) if first else "",
            "name": _one_line(nl.name),
            "date": issue_date(issue.as_of, nl),
            "issue": issue.key,
        }
        try:
            subject = nl.subject.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:  # parse_config checks this too
            raise RenderError(
                f"newsletter.subject {nl.subject!r}: bad placeholder {exc} "
                "(fields: lead_title, name, date, issue)"
            ) from None
        # One header line, whatever the feed's title held (\r\n would be header injection).
        return _one_line(subject).strip(" |–—-") or _one_line(nl.name)

    def preheader(self, issue: Issue) -> str:
        first = issue.lead or (issue.latest[0] if issue.latest else None)
        if first is None:
            return ""
        a = first.article
        return _shorten(a.dek or a.excerpt or a.title, PREHEADER_CHARS)

    def render(self, issue: Issue) -> RenderedIssue:
        if issue.skipped or not issue.picks:
            why = issue.skip_reason or "it has no articles"
            raise RenderError(f"issue {issue.key} is skipped, there is nothing to render: {why}")
        issue = without_placeholders(issue)
        ctx = self.context(issue)
        mjml_name = f"{self.template}.mjml.j2"
        html = mjml_to_html(_render_template(self.env, mjml_name, ctx), template=mjml_name)
        text = _render_template(self.env, f"{self.template}.txt.j2", ctx)
        return RenderedIssue(
            key=issue.key,
            subject=self.subject(issue),
            preheader=ctx["preheader"],
            html=html,
            text=text,
            archive_url=ctx["archive_url"],
        )


_RENDERERS: dict[str, Renderer] = {}


def render(issue: Issue, config: Config) -> RenderedIssue:
    """Render ``issue`` with a cached ``Renderer`` for ``config``."""
    key = repr(config)  # every setting a template could read
    with _LOCK:
        renderer = _RENDERERS.get(key)
        if renderer is None:
            if len(_RENDERERS) > 16:
                _RENDERERS.clear()
            renderer = _RENDERERS[key] = Renderer(config)
    return renderer.render(issue)
