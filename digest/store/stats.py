"""The numbers the desk shows: sent issues with their counts, an issue's articles, and the
list's growth per week. Read-only queries; the desk adds the words and the charts.

Growth comes from the consent ledger (``consent_events``), which keeps every change even
after an erasure (then under the address hash only):

* **joined**: a ``confirmed`` event (double opt-in done, or added as active) whose
  previous event for the same address was not ``confirmed``;
* **left**: an ``unsubscribed``, ``bounced``, ``complained`` or ``erased`` event whose
  previous event for the address was ``confirmed`` (an active reader went). A pending
  address that never confirmed and a bounced address later erased do not count as left.

"Previous" is found with ``LAG`` over each address's events (SQLite ≥ 3.25 and PostgreSQL),
only for addresses with an event in the window asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import func, select

from digest.store.database import Store
from digest.store.records import WEBHOOK_COUNTS
from digest.store.tables import ConsentEvent, IssueArticle, IssueRecord

# the send's counts, then the Event Webhook's (its catch-all of unknown events left out)
ISSUE_COUNTS = (
    "recipients",
    "sent",
    *(name for name in WEBHOOK_COUNTS if name != "unknown_events"),
)
JOIN_KINDS = ("confirmed",)
LEAVE_KINDS = ("unsubscribed", "bounced", "complained", "erased")


@dataclass(frozen=True)
class IssueCounts:
    """One sent issue and its counts (the send's and the Event Webhook's)."""

    key: str
    subject: str | None
    as_of: datetime  # the issue's date
    finished_at: datetime | None  # when its send finished
    recipients: int
    sent: int
    delivered: int
    bounced: int
    blocked: int
    dropped: int
    complained: int
    unsubscribed: int
    opened: int
    clicked: int

    @classmethod
    def of(cls, row: IssueRecord) -> IssueCounts:
        counts = {name: int(getattr(row, name) or 0) for name in ISSUE_COUNTS}
        return cls(
            key=row.key,
            subject=row.subject,
            as_of=row.as_of,
            finished_at=row.finished_at,
            **counts,
        )


@dataclass(frozen=True)
class IssueLink:
    """An article an issue carried (``issue_articles``)."""

    url: str
    role: str  # lead | latest
    position: int
    title: str


@dataclass(frozen=True)
class WeekGrowth:
    """One week (Monday to Sunday in the zone asked for): readers who joined and who left."""

    week: date  # its Monday
    joined: int
    left: int


def sent_issues(store: Store, *, since: datetime) -> list[IssueCounts]:
    """Every issue with status ``sent`` dated ``since`` or later, oldest first."""
    with store.session() as s:
        rows = s.scalars(
            select(IssueRecord)
            .where(IssueRecord.status == "sent", IssueRecord.as_of >= since)
            .order_by(IssueRecord.as_of, IssueRecord.key)
        ).all()
        return [IssueCounts.of(r) for r in rows]


def issue_counts(store: Store, key: str) -> IssueCounts | None:
    """One issue's counts, whatever its status (None: no such issue)."""
    with store.session() as s:
        row = s.get(IssueRecord, key)
        return IssueCounts.of(row) if row is not None else None


def issue_status(store: Store, key: str) -> str | None:
    with store.session() as s:
        return s.scalars(select(IssueRecord.status).where(IssueRecord.key == key)).first()


def issue_links(store: Store, key: str) -> list[IssueLink]:
    """The articles issue ``key`` carried, lead first, in their order."""
    with store.session() as s:
        rows = s.scalars(
            select(IssueArticle)
            .where(IssueArticle.issue_key == key)
            .order_by(IssueArticle.role != "lead", IssueArticle.position, IssueArticle.url)
        ).all()
        return [IssueLink(r.url, r.role, int(r.position), r.title) for r in rows]


def growth_events(store: Store, *, since: datetime) -> list[tuple[str, datetime]]:
    """``("joined" | "left", at)`` for every join and departure at ``since`` or later (see
    the module doc), in time order."""
    kinds = (*JOIN_KINDS, *LEAVE_KINDS)
    ce = ConsentEvent.__table__.c
    active_hashes = (
        select(ce.email_hash).where(ce.at >= since, ce.kind.in_(kinds)).distinct()
    ).scalar_subquery()
    ordered = (
        select(
            ce.kind.label("kind"),
            ce.at.label("at"),
            func.lag(ce.kind)
            .over(partition_by=ce.email_hash, order_by=(ce.at, ce.id))
            .label("prev"),
        )
        .where(ce.kind.in_(kinds), ce.email_hash.in_(active_hashes))
        .subquery()
    )
    query = select(ordered.c.kind, ordered.c.at, ordered.c.prev).where(ordered.c.at >= since)
    out: list[tuple[str, datetime]] = []
    with store.session() as s:
        for kind, at, prev in s.execute(query):
            if kind in JOIN_KINDS and prev not in JOIN_KINDS:
                out.append(("joined", at))
            elif kind in LEAVE_KINDS and prev in JOIN_KINDS:
                out.append(("left", at))
    out.sort(key=lambda pair: pair[1])
    return out


def monday(moment: datetime, zone: tzinfo) -> date:
    """The Monday of ``moment``'s week in ``zone``."""
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def weekly_growth(
    store: Store, *, since: datetime, until: datetime, zone: tzinfo
) -> list[WeekGrowth]:
    """Joined and left per week in ``zone``, from ``since``'s week to ``until``'s, every
    week present (zeros included), oldest first."""
    first, last = monday(since, zone), monday(until, zone)
    tally: dict[date, list[int]] = {}
    week = first
    while week <= last:
        tally[week] = [0, 0]
        week += timedelta(days=7)
    for what, at in growth_events(store, since=since):
        bucket = tally.get(monday(at, zone))
        if bucket is not None:
            bucket[0 if what == "joined" else 1] += 1
    return [WeekGrowth(w, j, lft) for w, (j, lft) in tally.items()]


__all__ = [
    "ISSUE_COUNTS",
    "IssueCounts",
    "IssueLink",
    "WeekGrowth",
    "growth_events",
    "issue_counts",
    "issue_links",
    "issue_status",
    "monday",
    "sent_issues",
    "weekly_growth",
]
