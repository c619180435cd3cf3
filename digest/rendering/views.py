"""What the issue templates see: stories as plain text with vetted URLs, and the context;
and the subject line, made from the same values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from digest.config import Config, NewsletterConfig
from digest.errors import RenderError
from digest.i18n import format_issue_date
from digest.models import UNSUBSCRIBE_PLACEHOLDER, Issue, Pick
from digest.rendering.sanitize import safe_url
from digest.rendering.text import one_line, paragraphs, shorten

PREHEADER_CHARS = 150
# Caps on what one story can put in the email, so that a 1 + 12 story issue stays
# under Gmail's 102 KB clipping limit whatever the feed holds.
TITLE_CHARS = 200
DEK_CHARS = 320
EXCERPT_CHARS = 1200
EXCERPT_PARAGRAPHS = 4
# A byline names at most this many authors, each shortened to AUTHOR_CHARS.
AUTHORS = 6
AUTHOR_CHARS = 80

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")


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
        dek = shorten(a.dek, DEK_CHARS)
        excerpt = _excerpt(a.excerpt)
        if excerpt and dek and _same_start(excerpt[0], dek):
            excerpt = excerpt[1:]  # a feed with only a summary: don't print it twice
        return cls(
            title=shorten(a.title, TITLE_CHARS) or "(untitled)",
            url=safe_url(a.url),
            dek=dek,
            excerpt=excerpt,
            section=shorten(a.section, 60) if a.section else None,
            authors=_authors(a.authors),
            published=a.published,
            image_url=image_url,
            image_alt=shorten((image.alt if image else None) or a.title, DEK_CHARS),
            image_credit=shorten(image.credit, DEK_CHARS) if image and image.credit else None,
            reason=pick.reason,
        )


@dataclass(frozen=True)
class Brand:
    """The publication's look, from ``[newsletter]``, checked again before any of it
    reaches a template: colours as ``#rrggbb``, the logo only as an http(s) URL."""

    accent: str  # masthead rule, section labels, buttons, the note's border, links
    accent_dark: str  # the accent mixed with black: hover states
    logo_url: str | None  # shown in the masthead instead of the name
    logo_alt: str
    logo_width: int  # CSS pixels; the height follows the image
    thumbnails: bool  # the latest stories have a small picture beside them

    @classmethod
    def of(cls, newsletter: NewsletterConfig) -> Brand:
        accent = hex_color(newsletter.accent_color)
        width = newsletter.logo_width
        if not isinstance(width, int) or not 16 <= width <= 600:
            raise RenderError(f"newsletter.logo_width {width!r}: must be 16 to 600 pixels")
        return cls(
            accent=accent,
            accent_dark=darker(accent),
            logo_url=safe_url(newsletter.logo_url),
            logo_alt=one_line(newsletter.logo_alt or newsletter.name),
            logo_width=width,
            thumbnails=newsletter.thumbnails != "none",
        )


def hex_color(value: str) -> str:
    """``value`` as ``#rrggbb`` (lower case) if it is a hex colour, else a ``RenderError``:
    the only form in which a colour reaches a template or a style sheet."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise RenderError(f"newsletter.accent_color {value!r} is not a hex colour such as #b3202a")
    digits = value[1:].lower()
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return "#" + digits


def darker(color: str, black: float = 0.2) -> str:
    """``color`` (``#rrggbb``) mixed with ``black`` parts of black: #b3202a → #8f1a22."""
    channels = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c * (1 - black)):02x}" for c in channels)


def common_context(config: Config) -> dict[str, Any]:
    """What every email's templates see, the issue's and the others' (confirmation, …)."""
    nl = config.newsletter
    public = nl.public_url.rstrip("/")
    return {
        "config": config,
        "newsletter": nl,
        "brand": Brand.of(nl),
        "issues_url": f"{public}/issues",  # the archive's list of issues
        "subscribe_url": f"{public}/",  # the subscribe page
    }


def issue_context(issue: Issue, config: Config) -> dict[str, Any]:
    """Everything the issue templates see (docs/email-templates.md lists it)."""
    nl = config.newsletter
    return {
        **common_context(config),
        "issue": issue,
        "date": issue_date(issue.as_of, nl),
        "note": issue.note.strip() if issue.note and issue.note.strip() else None,
        "note_paragraphs": paragraphs(issue.note or ""),
        "lead": StoryView.of(issue.lead) if issue.lead else None,
        "stories": [StoryView.of(p) for p in issue.latest],
        "preheader": preheader(issue),
        "archive_url": archive_url(nl, issue.key),
        "site_url": safe_url(nl.site_url),
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
    }


def subject(issue: Issue, newsletter: NewsletterConfig) -> str:
    """``newsletter.subject`` (config text) with its fields; one line."""
    first = issue.lead or (issue.latest[0] if issue.latest else None)
    values = {
        "lead_title": one_line(first.article.title) if first else "",
        "name": one_line(newsletter.name),
        "date": issue_date(issue.as_of, newsletter),
        "issue": issue.key,
    }
    try:
        text = newsletter.subject.format(**values)
    except (KeyError, IndexError, ValueError) as exc:  # parse_config checks this too
        raise RenderError(
            f"newsletter.subject {newsletter.subject!r}: bad placeholder {exc} "
            "(fields: lead_title, name, date, issue)"
        ) from None
    # One header line, whatever the feed's title held (\r\n would be header injection).
    return one_line(text).strip(" |–—-") or one_line(newsletter.name)


def preheader(issue: Issue) -> str:
    """The hidden inbox preview line: the first story's dek (or excerpt, or title)."""
    first = issue.lead or (issue.latest[0] if issue.latest else None)
    if first is None:
        return ""
    a = first.article
    return shorten(a.dek or a.excerpt or a.title, PREHEADER_CHARS)


def issue_date(moment: datetime, newsletter: NewsletterConfig) -> str:
    """The as-of date in the newsletter's zone and locale: ``Friday, November 20, 2026``
    (en_US), ``vendredi 20 novembre 2026`` (fr_FR).

    Babel's CLDR data with the locale given, never ``strftime``, so the result never
    depends on the machine's locale.
    """
    return format_issue_date(moment.astimezone(newsletter.tz), newsletter.locale)


def archive_url(newsletter: NewsletterConfig, key: str) -> str:
    """The issue's "view in browser" page on the public web app."""
    return f"{newsletter.public_url.rstrip('/')}/issues/{key}"


def _authors(names: tuple[str, ...]) -> tuple[str, ...]:
    """The names a byline shows: on one line, shortened, no blanks, at most ``AUTHORS``."""
    out = (shorten(n, AUTHOR_CHARS) for n in names if isinstance(n, str))
    return tuple(n for n in out if n)[:AUTHORS]


def _excerpt(text: str) -> list[str]:
    """The first paragraphs of ``text``, at most ``EXCERPT_CHARS`` in all."""
    out: list[str] = []
    room = EXCERPT_CHARS
    for para in paragraphs(text)[:EXCERPT_PARAGRAPHS]:
        if room < 40:
            break
        short = shorten(para, room)
        out.append(short)
        room -= len(short)
        if short.endswith("…") and not para.endswith("…"):
            break
    return out


def _same_start(paragraph: str, dek: str) -> bool:
    """Whether ``paragraph`` merely repeats ``dek`` (maybe shortened with "…")."""
    a, b = paragraph.rstrip("…").strip(), dek.rstrip("…").strip()
    return bool(a and b) and (a.startswith(b) or b.startswith(a)) and len(a) < len(b) + 80
