"""The desk's numbers: past issues, clicks per story, readers (routes under ``/desk``).

* ``GET /issues``: every issue sent in the last year with its counts and rates, and a bar
  chart per measure (``desk.charts``). Opens are marked unreliable: Apple Mail Privacy
  Protection loads every image, so "opened" counts machines as much as readers.
* ``GET /issues/{key}``: one issue's counts and the clicks per story. A clicked link is
  matched to the issue's articles (``issue_articles``) after normalising trivial
  differences (``link_key``: scheme and host case, default port, ``utm_*`` parameters,
  fragment, trailing slash); every other link (unsubscribe, view in browser, the site)
  is only counted together as "other links", never shown as a story.
* ``GET /readers``: counts by status, joined and left per week, and ``?q=address`` to
  find a reader (normalised as the list does); ``GET``/``POST /readers/{id}/unsubscribe``
  and ``…/erase``: a confirmation page, then the change, through the same functions as
  ``digest subscribers unsubscribe`` / ``erase``, recorded in the desk's audit log.
* ``?format=csv`` / ``?format=json`` on the three pages (``desk.exports``); the readers'
  export has the counts and the weekly growth, never an address.

Every handler is ``async def handler(request, desk) -> Response`` and is wrapped by the
``protect`` the desk app passes to ``numbers_routes``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from desk import audit, charts
from desk.context import Desk, Handler
from desk.exports import FORMATS, Table, export_response
from digest.errors import InvalidAddress
from digest.feedtext import canonical_url
from digest.store import clicks as click_store
from digest.store import stats
from digest.store.tables import SUBSCRIBER_STATUSES
from subscribers import repository as repo
from subscribers.web.database import in_database

Endpoint = Callable[[Request], Any] | ASGIApp
Protect = Callable[[Handler], Any]

BASE = "/desk"
YEAR = timedelta(days=365)
GROWTH_WEEKS = 26
ISSUE_KEY = re.compile(r"^\d{4}-W\d{2}$")
AUDIT_SOURCE = "desk"  # the consent ledger's source for changes made on the desk

OPENS_NOTE = (
    "Opens are unreliable: Apple Mail Privacy Protection (and some other mail services) "
    "load every image of every message, so a message can count as opened without anyone "
    "reading it."
)

# (attribute, heading, bar colour, denominator of its rate)
MEASURES: tuple[tuple[str, str, str, str], ...] = (
    ("delivered", "Delivered", "#2a6fb0", "sent"),
    ("bounced", "Bounced", "#8a5a00", "sent"),
    ("complained", "Complained", "#b3261e", "delivered"),
    ("unsubscribed", "Unsubscribed", "#7b4fa0", "delivered"),
    ("opened", "Opened (unreliable)", "#6b7780", "delivered"),
    ("clicked", "Clicked", "#2a7a4b", "delivered"),
)


# --- helpers -------------------------------------------------------------------------


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


def _format(request: Request) -> str | None:
    fmt = request.query_params.get("format")
    if fmt is None or fmt == "":
        return None
    if fmt not in FORMATS:
        raise HTTPException(400, f"format must be one of {', '.join(FORMATS)}")
    return fmt


def _day(moment: datetime | None, desk: Desk) -> str:
    return moment.astimezone(desk.config.newsletter.tz).date().isoformat() if moment else ""


def _render(request: Request, desk: Desk, name: str, context: dict[str, Any]) -> Response:
    response: Response = desk.templates.TemplateResponse(
        request, name, {"desk": desk, "base": BASE, **context}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


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
    "recipients",
    "sent",
    "delivered",
    "bounced",
    "blocked",
    "dropped",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
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


def issue_charts(rows: Sequence[IssueRow]) -> list[tuple[str, str, Any]]:
    """(measure, heading, SVG) per measure, the issues oldest first."""
    out = []
    for name, heading, color, _ in MEASURES:
        bars = [
            charts.Bar(
                label=r.counts.key,
                value=int(getattr(r.counts, name)),
                title=f"{r.counts.key} ({r.date}): {getattr(r.counts, name):,} "
                f"{heading.lower()}, {percent(r.rate(name))}",
            )
            for r in rows
        ]
        svg = charts.bar_chart(
            chart_id=f"chart-{name}", title=f"{heading} per issue", bars=bars, color=color
        )
        out.append((name, heading, svg))
    return out


async def issues_page(request: Request, desk: Desk) -> Response:
    fmt = _format(request)
    since = desk.clock() - YEAR
    found = await in_database(request, stats.sent_issues, desk.store, since=since)
    rows = [IssueRow(c, _day(c.as_of, desk)) for c in found]
    if fmt:
        return export_response(issues_table(list(reversed(rows)), since=since), fmt)
    return _render(
        request,
        desk,
        "desk/issues.html",
        {
            "rows": list(reversed(rows)),  # newest first
            "charts": issue_charts(rows),  # oldest first, left to right
            "measures": MEASURES,
            "percent": percent,
            "opens_note": OPENS_NOTE,
            "since": _day(since, desk),
        },
    )


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
    fmt = _format(request)
    counts, found = await in_database(request, _load_issue, desk, key)
    if counts is None:
        raise HTTPException(404, "no such issue")
    if fmt:
        return export_response(issue_table(counts, found), fmt)
    most = max((s.clicks for s in found.stories), default=0)
    bars = [
        charts.Bar(label=str(s.position), value=s.clicks, title=f"{s.title}: {s.clicks:,} clicks")
        for s in found.stories
    ]
    chart = charts.bar_chart(
        chart_id="chart-story-clicks",
        title=f"Clicks per story of {counts.key}",
        bars=bars,
        color="#2a7a4b",
    )
    row = IssueRow(counts, _day(counts.as_of, desk))
    return _render(
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
            "opens_note": OPENS_NOTE,
            "sent_at": _day(counts.finished_at, desk),
        },
    )


# --- readers -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReaderView:
    id: int
    email: str
    name: str | None
    status: str
    source: str
    created: str
    confirmed: str
    unsubscribed: str


@dataclass(frozen=True)
class Search:
    query: str
    reader: ReaderView | None = None
    problem: str | None = None  # the address is not valid
    erased: bool = False  # only its tombstone is left


def _growth(desk: Desk) -> list[stats.WeekGrowth]:
    zone = desk.config.newsletter.tz
    until = desk.clock()
    first = stats.monday(until, zone) - timedelta(weeks=GROWTH_WEEKS - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    return stats.weekly_growth(desk.store, since=since, until=until, zone=zone)


def _view(sub: Any, desk: Desk) -> ReaderView:
    return ReaderView(
        id=sub.id,
        email=sub.email,
        name=sub.name,
        status=sub.status,
        source=sub.source,
        created=_day(sub.created_at, desk),
        confirmed=_day(sub.confirmed_at, desk),
        unsubscribed=_day(sub.unsubscribed_at, desk),
    )


def _search(desk: Desk, query: str) -> Search:
    try:
        address = repo.check_address(query)
    except InvalidAddress as exc:
        return Search(query, problem=str(exc))
    with desk.store.session() as s:
        sub = repo.get_by_email(s, address.email)
        if sub is None:
            return Search(address.email, erased=repo.is_tombstoned(s, address.email))
        return Search(address.email, reader=_view(sub, desk))


def _readers_data(
    desk: Desk, query: str | None
) -> tuple[dict[str, int], list[stats.WeekGrowth], Search | None]:
    counts = repo.counts_by_status(desk.store)
    growth = _growth(desk)
    return counts, growth, _search(desk, query) if query else None


def readers_table(counts: dict[str, int], growth: Sequence[stats.WeekGrowth], which: str) -> Table:
    if which == "status":
        return Table(
            name="digest-readers-by-status",
            columns=("status", "readers"),
            rows=[[status, n] for status, n in counts.items()],
        )
    return Table(
        name="digest-readers-growth",
        columns=("week", "joined", "left", "net"),
        rows=[[w.week.isoformat(), w.joined, w.left, w.joined - w.left] for w in growth],
        extra={"by_status": counts, "total": sum(counts.values())},
    )


def growth_chart(growth: Sequence[stats.WeekGrowth]) -> Any:
    labels = [w.week.strftime("%d %b").lstrip("0") for w in growth]
    joined = sum(w.joined for w in growth)
    left = sum(w.left for w in growth)
    return charts.diverging_chart(
        chart_id="chart-growth",
        title="Readers joined and left per week",
        labels=labels,
        up=[
            charts.Bar(lbl, w.joined, f"Week of {w.week.isoformat()}: {w.joined:,} joined")
            for lbl, w in zip(labels, growth, strict=True)
        ],
        down=[
            charts.Bar(lbl, w.left, f"Week of {w.week.isoformat()}: {w.left:,} left")
            for lbl, w in zip(labels, growth, strict=True)
        ],
        up_name="Joined (confirmed)",
        down_name="Left",
        summary=(
            f"Readers who joined (above the line) and left (below it) per week over the "
            f"last {len(growth)} weeks: {joined:,} joined, {left:,} left, net {joined - left:+,}."
        ),
    )


DONE_MESSAGES = {
    "unsubscribed": "Unsubscribed. The consent ledger records it as done by the editors.",
    "unchanged": "Nothing changed: the reader was not pending or active.",
    "erased": "Erased: the address and name are gone; the consent ledger keeps only a hash, "
    "and imports will refuse the address.",
    "gone": "That reader is no longer on the list.",
}


async def readers_page(request: Request, desk: Desk) -> Response:
    fmt = _format(request)
    query = (request.query_params.get("q") or "").strip()[:320] if not fmt else ""
    counts, growth, search = await in_database(request, _readers_data, desk, query or None)
    if fmt:
        which = "status" if request.query_params.get("table") == "status" else "growth"
        return export_response(readers_table(counts, growth, which), fmt)
    done = request.query_params.get("done")
    return _render(
        request,
        desk,
        "desk/readers.html",
        {
            "counts": counts,
            "statuses": SUBSCRIBER_STATUSES,
            "total": sum(counts.values()),
            "growth": growth,
            "chart": growth_chart(growth),
            "search": search,
            "done": DONE_MESSAGES.get(done or ""),
        },
    )


ACTIONS = {
    "unsubscribe": (
        "Unsubscribe this reader?",
        "They get no more issues. Only they can subscribe again, through the form.",
        "Unsubscribe",
    ),
    "erase": (
        "Erase this reader?",
        (
            "Their address and name are removed for good; the consent ledger keeps only a hash "
            "of the address, and imports will refuse it. This cannot be undone."
        ),
        "Erase for good",
    ),
}


def _reader(desk: Desk, reader_id: int) -> ReaderView | None:
    with desk.store.session() as s:
        sub = repo.get(s, reader_id)
        return _view(sub, desk) if sub is not None else None


def _reader_id(request: Request) -> int:
    raw = request.path_params["reader_id"]
    return int(raw)


async def reader_confirm(request: Request, desk: Desk) -> Response:
    action = str(request.path_params["action"])
    if action not in ACTIONS:
        raise HTTPException(404)
    reader = await in_database(request, _reader, desk, _reader_id(request))
    if reader is None:
        return RedirectResponse(f"{BASE}/readers?done=gone", status_code=303)
    title, warning, button = ACTIONS[action]
    return _render(
        request,
        desk,
        "desk/readers_confirm.html",
        {
            "reader": reader,
            "action": action,
            "title": title,
            "warning": warning,
            "button": button,
        },
    )


def _unsubscribe(desk: Desk, reader_id: int) -> tuple[str, str | None]:
    """The same call as ``digest subscribers unsubscribe`` (source ``desk``)."""
    reader = _reader(desk, reader_id)
    if reader is None:
        return "gone", None
    if reader.status not in ("pending", "active"):
        return "unchanged", reader.email
    desk.workflow.unsubscribe_address(reader.email, source=AUDIT_SOURCE)
    _audit(desk, "unsubscribe_reader", f"unsubscribed reader #{reader.id} (was {reader.status})")
    return "unsubscribed", reader.email


def _erase(desk: Desk, reader_id: int) -> tuple[str, str | None]:
    """The same call as ``digest subscribers erase`` (source ``desk``)."""
    with desk.store.session() as s:
        sub = repo.get(s, reader_id, for_update=True)
        if sub is None:
            return "gone", None
        status = sub.status
        repo.erase(s, sub, at=desk.workflow.now(), source=AUDIT_SOURCE)
    # the audit log names the id and the former status, never the erased address
    _audit(desk, "erase_reader", f"erased reader #{reader_id} (was {status})")
    return "erased", None


def _audit(desk: Desk, action: str, detail: str) -> None:
    audit.record(desk, action, None, detail)


async def reader_change(request: Request, desk: Desk) -> Response:
    action = str(request.path_params["action"])
    if action not in ACTIONS:
        raise HTTPException(404)
    reader_id = _reader_id(request)
    change = _unsubscribe if action == "unsubscribe" else _erase
    done, email = await in_database(request, change, desk, reader_id)
    target = f"{BASE}/readers?done={done}"
    if email:
        target += f"&q={quote(email, safe='@')}"
    return RedirectResponse(target, status_code=303)


# --- the stylesheet of these pages ---------------------------------------------------

NUMBERS_CSS = """
.num-note{background:#fff7e0;border-left:4px solid #c99a00;padding:.5rem .75rem;margin:.75rem 0}
.num-scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5rem 0 1rem}
.num-table{border-collapse:collapse;font-size:.9rem;min-width:100%}
.num-table th,.num-table td{padding:.35rem .5rem;border-bottom:1px solid #dde2e6;text-align:right;
white-space:nowrap;vertical-align:top}
.num-table th{background:#f3f5f7;font-weight:600}
.num-table .text{text-align:left;white-space:normal;min-width:12rem}
.num-table .key{text-align:left}
.num-table.num-compact{min-width:0}
.num-compact .text{min-width:0}
.num-table .rate{display:block;color:#5f6b76;font-size:.8rem}
.num-charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,380px),1fr));
gap:1rem;margin:1rem 0}
.num-charts figure,.num-chart{margin:0;border:1px solid #dde2e6;border-radius:6px;padding:.5rem}
.num-charts figcaption,.num-chart figcaption{font-weight:600;margin-bottom:.25rem}
.num-chart{max-width:760px}
.num-chart svg,.num-charts svg{display:block;width:100%;height:auto}
.num-exports{font-size:.9rem}
.num-exports a{margin-right:.75rem}
.num-cards{display:flex;flex-wrap:wrap;gap:.5rem;margin:.5rem 0 1rem;padding:0;list-style:none}
.num-cards li{border:1px solid #dde2e6;border-radius:6px;padding:.4rem .7rem;min-width:7rem}
.num-cards b{display:block;font-size:1.25rem}
.num-flash{background:#e8f4ec;border-left:4px solid #2a7a4b;padding:.5rem .75rem}
.num-danger{background:#b3261e;color:#fff;border:0;padding:.5rem 1rem;border-radius:4px}
.num-search input[type=email],.num-search input[type=search]{width:min(100%,22rem);padding:.35rem}
.num-muted{color:#5f6b76}
"""


async def numbers_css(request: Request, desk: Desk) -> Response:
    return Response(
        NUMBERS_CSS,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "private, max-age=3600"},
    )


# --- routes --------------------------------------------------------------------------


def numbers_routes(protect: Protect) -> list[BaseRoute]:
    """The routes of this module, relative to the desk's mount, each handler wrapped by
    ``protect`` (the session and, for a POST, the CSRF token)."""
    return [
        Route("/numbers.css", protect(numbers_css), methods=["GET"]),
        Route("/issues", protect(issues_page), methods=["GET"]),
        Route("/issues/{key}", protect(issue_page), methods=["GET"]),
        Route("/readers", protect(readers_page), methods=["GET"]),
        Route("/readers/{reader_id:int}/{action}", protect(reader_confirm), methods=["GET"]),
        Route("/readers/{reader_id:int}/{action}", protect(reader_change), methods=["POST"]),
    ]


__all__ = [
    "IssueClicks",
    "Story",
    "clicks_per_story",
    "link_key",
    "numbers_routes",
]
