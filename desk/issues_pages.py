"""The desk's issues pages (routes under ``/desk``, assembled by ``desk.numbers``).

* ``GET /issues``: every issue sent in the last year with its counts and rates, and a bar
  chart per measure (``desk.charts``). Opens are marked unreliable: Apple Mail Privacy
  Protection loads every image, so "opened" counts machines as much as readers.
* ``GET /issues/{key}``: one issue's counts and the clicks per story. A clicked link is
  matched to the issue's articles (``issue_articles``) after normalising trivial
  differences (``link_key``: scheme and host case, default port, ``utm_*`` parameters,
  fragment, trailing slash); every other link (unsubscribe, view in browser, the site)
  is only counted together as "other links", never shown as a story.
* ``?format=csv`` / ``?format=json`` on both (``desk.exports``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from desk import charts
from desk.context import Desk
from desk.exports import Table, export_response
from desk.numbers_common import local_day, render_page, requested_format
from digest.feedtext import canonical_url
from digest.i18n import N_, Gettext, format_page_date, gettext_for
from digest.store import clicks as click_store
from digest.store import stats
from subscribers.web.database import in_database

YEAR = timedelta(days=365)
ISSUE_KEY = re.compile(r"^\d{4}-W\d{2}$")

# marked here, translated on the pages; the exports keep the English (a machine format)
OPENS_NOTE = N_(
    "Opens are unreliable: Apple Mail Privacy Protection (and some other mail services) "
    "load every image of every message, so a message can count as opened without anyone "
    "reading it."
)

# (attribute, heading (translated where shown), bar colour, denominator of its rate)
MEASURES: tuple[tuple[str, str, str, str], ...] = (
    ("delivered", N_("Delivered"), "#2a6fb0", "sent"),
    ("bounced", N_("Bounced"), "#8a5a00", "sent"),
    ("complained", N_("Complained"), "#b3261e", "delivered"),
    ("unsubscribed", N_("Unsubscribed"), "#7b4fa0", "delivered"),
    ("opened", N_("Opened (unreliable)"), "#6b7780", "delivered"),
    ("clicked", N_("Clicked"), "#2a7a4b", "delivered"),
)


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def link_key(url: str) -> str:
    """The form two links are compared in: canonical (scheme and host lower-cased, default
    port, ``utm_*`` parameters and fragment gone) and without a trailing slash."""
    try:
        canon = canonical_url(url)
    except ValueError:
        canon = url.strip()
    parts = urlsplit(canon)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


# --- issues --------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueRow:
    counts: stats.IssueCounts
    date: str

    def rate(self, name: str) -> float | None:
        whole = next(d for m, _, _, d in MEASURES if m == name)
        return rate(getattr(self.counts, name), getattr(self.counts, whole))


ISSUE_COLUMNS = (
    "issue",
    "date",
    "subject",
    *stats.ISSUE_COUNTS,
    *(f"{m}_rate" for m, *_ in MEASURES),
)


def issues_table(rows: Sequence[IssueRow], *, since: datetime) -> Table:
    def out(r: IssueRow) -> list[Any]:
        c = r.counts
        counts = [
            c.recipients,
            c.sent,
            c.delivered,
            c.bounced,
            c.blocked,
            c.dropped,
            c.complained,
            c.unsubscribed,
            c.opened,
            c.clicked,
        ]
        rates = [_round(r.rate(m)) for m, *_ in MEASURES]
        return [c.key, r.date, c.subject, *counts, *rates]

    return Table(
        name="digest-issues",
        columns=ISSUE_COLUMNS,
        rows=[out(r) for r in rows],
        extra={
            "since": since.isoformat(),
            "rates": "delivered and bounced per message sent; the others per message delivered",
            "opens": OPENS_NOTE,
        },
    )


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def issue_charts(
    rows: Sequence[IssueRow], gettext: Gettext | None = None
) -> list[tuple[str, str, Any]]:
    """(measure, heading, SVG) per measure, the issues oldest first; the heading as
    ``MEASURES`` has it (the page translates it), the chart's words in ``gettext``'s
    language (English without one)."""
    _ = gettext or charts.english()
    out = []
    for name, heading, color, _whole in MEASURES:
        shown = _(heading)
        bars = [
            charts.Bar(
                label=r.counts.key,
                value=int(getattr(r.counts, name)),
                title=_(
                    "%(key)s (%(date)s): %(count)s %(measure)s, %(rate)s",
                    key=r.counts.key,
                    date=r.date,
                    count=format(getattr(r.counts, name), ","),
                    measure=shown.lower(),
                    rate=percent(r.rate(name)),
                ),
            )
            for r in rows
        ]
        svg = charts.bar_chart(
            chart_id=f"chart-{name}",
            title=_("%(measure)s per issue", measure=shown),
            bars=bars,
            color=color,
            gettext=_,
        )
        out.append((name, heading, svg))
    return out


async def issues_page(request: Request, desk: Desk) -> Response:
    fmt = requested_format(request)
    since = desk.clock() - YEAR
    found = await in_database(request, stats.sent_issues, desk.store, since=since)
    rows = [IssueRow(c, local_day(c.as_of, desk)) for c in found]
    if fmt:
        return export_response(issues_table(list(reversed(rows)), since=since), fmt)
    _ = gettext_for(desk.config)
    return render_page(
        request,
        desk,
        "desk/issues.html",
        {
            "rows": list(reversed(rows)),  # newest first
            "charts": issue_charts(rows, _),  # oldest first, left to right
            "measures": MEASURES,
            "percent": percent,
            "opens_note": _(OPENS_NOTE),
            "since": _page_date(since, desk),
        },
    )


def _page_date(moment: datetime | None, desk: Desk) -> str:
    """A day in the newsletter's zone, spelled in its locale ("20 novembre 2026")."""
    if moment is None:
        return ""
    local = moment.astimezone(desk.config.newsletter.tz)
    return format_page_date(local, desk.config.newsletter.locale)


# --- one issue -----------------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    position: int
    role: str
    title: str
    url: str
    clicks: int


@dataclass(frozen=True)
class IssueClicks:
    stories: list[Story]  # by clicks, most first
    other: int  # clicks on every other link (unsubscribe, view in browser, the site, …)

    @property
    def story_clicks(self) -> int:
        return sum(s.clicks for s in self.stories)


def clicks_per_story(links: Sequence[stats.IssueLink], clicks: dict[str, int]) -> IssueClicks:
    """Map the clicked links to the issue's articles; the rest is "other"."""
    by_key: dict[str, int] = {}
    for url, n in clicks.items():
        key = link_key(url)
        by_key[key] = by_key.get(key, 0) + n
    stories = []
    taken: set[str] = set()
    for i, link in enumerate(links, start=1):
        key = link_key(link.url)
        count = by_key.get(key, 0) if key not in taken else 0
        taken.add(key)
        stories.append(Story(i, link.role, link.title, link.url, count))
    other = sum(n for k, n in by_key.items() if k not in taken)
    stories.sort(key=lambda s: (-s.clicks, s.position))
    return IssueClicks(stories, other)


def issue_table(counts: stats.IssueCounts, found: IssueClicks) -> Table:
    return Table(
        name=f"digest-issue-{counts.key}-clicks",
        columns=("rank", "position", "role", "title", "url", "clicks"),
        rows=[
            [rank, s.position, s.role, s.title, s.url, s.clicks]
            for rank, s in enumerate(found.stories, start=1)
        ],
        extra={
            "issue": counts.key,
            "subject": counts.subject,
            "counts": {name: getattr(counts, name) for name in stats.ISSUE_COUNTS},
            "other_link_clicks": found.other,
            "opens": OPENS_NOTE,
        },
    )


def _load_issue(desk: Desk, key: str) -> tuple[stats.IssueCounts | None, IssueClicks]:
    counts = stats.issue_counts(desk.store, key)
    if counts is None:
        return None, IssueClicks([], 0)
    links = stats.issue_links(desk.store, key)
    return counts, clicks_per_story(links, click_store.clicks_of(desk.store, key))


async def issue_page(request: Request, desk: Desk) -> Response:
    key = str(request.path_params["key"])
    if not ISSUE_KEY.match(key):
        raise HTTPException(404, "no such issue")
    fmt = requested_format(request)
    counts, found = await in_database(request, _load_issue, desk, key)
    if counts is None:
        raise HTTPException(404, "no such issue")
    if fmt:
        return export_response(issue_table(counts, found), fmt)
    most = max((s.clicks for s in found.stories), default=0)
    _ = gettext_for(desk.config)
    bars = [
        charts.Bar(
            label=str(s.position),
            value=s.clicks,
            title=_.ngettext(
                "%(title)s: %(count)s click",
                "%(title)s: %(count)s clicks",
                s.clicks,
                title=s.title,
                count=format(s.clicks, ","),
            ),
        )
        for s in found.stories
    ]
    chart = charts.bar_chart(
        chart_id="chart-story-clicks",
        title=_("Clicks per story of %(key)s", key=counts.key),
        bars=bars,
        color="#2a7a4b",
        gettext=_,
    )
    row = IssueRow(counts, local_day(counts.as_of, desk))
    return render_page(
        request,
        desk,
        "desk/issue.html",
        {
            "issue": counts,
            "row": row,
            "clicks": found,
            "most": most,
            "chart": chart,
            "measures": MEASURES,
            "percent": percent,
            "opens_note": _(OPENS_NOTE),
            "dated": _page_date(counts.as_of, desk),
            "sent_at": _page_date(counts.finished_at, desk),
        },
    )


__all__ = [
    "IssueClicks",
    "Story",
    "clicks_per_story",
    "issue_page",
    "issues_page",
    "link_key",
]
