"""The typed values the pipeline stages pass to each other.

collect → ``Collection`` (of ``Article``) → select → ``Issue`` (of ``Pick``)
→ render → ``RenderedIssue`` → send.

Every datetime here is timezone-aware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# Per-recipient values are left as placeholders in the rendered issue and
# filled in at send time, so one render serves every recipient (SendGrid
# `substitutions` use these exact strings as keys).
UNSUBSCRIBE_PLACEHOLDER = "%%unsubscribe_url%%"
PLACEHOLDERS = (UNSUBSCRIBE_PLACEHOLDER,)


@dataclass(frozen=True)
class Image:
    url: str
    alt: str | None = None
    credit: str | None = None


@dataclass(frozen=True)
class Article:
    """One story, as collected from a feed and cleaned."""

    url: str  # canonical: no utm_* parameters, no fragment
    guid: str
    title: str  # plain text
    dek: str  # plain text, short
    excerpt: str  # plain text, a paragraph or two
    section: str | None
    categories: tuple[str, ...]
    authors: tuple[str, ...]
    published: datetime
    updated: datetime | None
    image: Image | None
    source: str  # the source's name from the config
    word_count: int = 0
    from_malformed_feed: bool = False  # read from XML that is not well-formed (recovered)


@dataclass(frozen=True)
class SourceProblem:
    """A source that could not be used, and why (a warning, not an error)."""

    source: str
    reason: str


@dataclass
class Collection:
    """What collect returns: the articles of every source that worked."""

    articles: list[Article]
    problems: list[SourceProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # per-entry notes (no date, …)
    sources_ok: int = 0


Role = Literal["lead", "latest"]


@dataclass(frozen=True)
class Pick:
    """An article chosen for the issue, with the reason an editor would read."""

    article: Article
    role: Role
    reason: str


@dataclass(frozen=True)
class Issue:
    """The selection for one issue (one ISO week in the newsletter's zone)."""

    key: str  # "2026-W02"
    as_of: datetime
    window_start: datetime
    window_end: datetime
    lead: Pick | None
    latest: tuple[Pick, ...]
    note: str | None = None
    skipped: bool = False
    skip_reason: str | None = None
    warnings: tuple[str, ...] = ()
    left_out: tuple[tuple[Article, str], ...] = ()  # articles not picked, and why

    @property
    def picks(self) -> tuple[Pick, ...]:
        return ((self.lead,) if self.lead else ()) + self.latest


@dataclass(frozen=True)
class RenderedIssue:
    """The issue as it is sent: one HTML and one text for every recipient.

    Per-recipient values are the placeholders above; `personalize` fills them.
    """

    key: str
    subject: str
    preheader: str
    html: str
    text: str
    archive_url: str  # the view-in-browser URL

    def personalize(self, values: dict[str, str]) -> tuple[str, str]:
        html, text = self.html, self.text
        for placeholder, value in values.items():
            html = html.replace(placeholder, value)
            text = text.replace(placeholder, value)
        return html, text
