"""What the reader's side reads of the sent issues: the archive list, its Atom feed and
the welcome email's "latest issue" all show the same public facts of an issue.

Public means sent (status ``sent`` with an archive page): an issue still being sent is
reachable by its key (its readers have the "View in browser" link) but not listed.

What is stored: the issue's key, dates, subject, preheader and the title, link and picture
of every story it carried (``issue_articles``; issues sent before pictures were kept,
migration 0008, have none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.store.database import Store
from digest.store.tables import IssueArticle, IssueRecord


@dataclass(frozen=True)
class SentIssue:
    """A sent issue as the archive, the feed and the welcome email show it."""

    key: str
    as_of: datetime  # the issue's date (the email's dateline)
    sent: datetime  # when its send finished (or began, or the as-of when neither is known)
    subject: str  # as emailed
    title: str  # its lead story's title (else the first story's, else the subject)
    summary: str  # the preheader (the lead's dek), else the title
    lead_url: str | None  # the lead (or first) story's link
    image_url: str | None = None  # the lead (or first) story's picture, vetted when stored


def strip_name(subject: str, name: str) -> str:
    """The subject without the newsletter's name, wherever the ``subject`` setting put
    it ("Lead | Name", "Name: Lead", "Lead – Name"); the subject itself when nothing
    would be left."""
    if not name:
        return subject
    separators = " |:-–—·•"
    text = subject.strip()
    low, low_name = text.casefold(), name.strip().casefold()
    if low.endswith(low_name):
        text = text[: len(text) - len(low_name)].rstrip(separators)
    elif low.startswith(low_name):
        text = text[len(low_name) :].lstrip(separators)
    return text.strip() or subject


def sent_issues(store: Store, *, name: str = "", limit: int | None = None) -> list[SentIssue]:
    """The sent issues, newest first (``limit``: at most that many)."""
    with store.session() as s:
        q = (
            select(
                IssueRecord.key,
                IssueRecord.as_of,
                IssueRecord.started_at,
                IssueRecord.finished_at,
                IssueRecord.subject,
                IssueRecord.preheader,
            )
            .where(IssueRecord.status == "sent", IssueRecord.archive_html.is_not(None))
            .order_by(IssueRecord.key.desc())
        )
        if limit is not None:
            q = q.limit(limit)
        rows = s.execute(q).all()
        firsts = _first_stories(s, [r.key for r in rows])
    issues = []
    for key, as_of, started, finished, subject, preheader in rows:
        story = firsts.get(key)
        subject = subject or key
        title = story[0] if story else strip_name(subject, name)
        issues.append(
            SentIssue(
                key=key,
                as_of=as_of,
                sent=finished or started or as_of,
                subject=subject,
                title=title,
                summary=(preheader or "").strip() or title,
                lead_url=story[1] if story else None,
                image_url=story[2] if story else None,
            )
        )
    return issues


def latest_sent(store: Store, *, name: str = "") -> SentIssue | None:
    """The newest sent issue, or None before the first."""
    found = sent_issues(store, name=name, limit=1)
    return found[0] if found else None


def _first_stories(session: Session, keys: list[str]) -> dict[str, tuple[str, str, str | None]]:
    """key → (title, url, picture) of each issue's lead, or of its first story when it had
    none."""
    if not keys:
        return {}
    rows = session.execute(
        select(IssueArticle.issue_key, IssueArticle.role, IssueArticle.position)
        .add_columns(IssueArticle.title, IssueArticle.url, IssueArticle.image_url)
        .where(IssueArticle.issue_key.in_(keys))
    ).all()
    best: dict[str, tuple[tuple[int, int], str, str, str | None]] = {}
    for key, role, position, title, url, image_url in rows:
        rank = (0 if role == "lead" else 1, position)
        if key not in best or rank < best[key][0]:
            best[key] = (rank, title, url, image_url)
    return {k: (title, url, image) for k, (_, title, url, image) in best.items()}
