"""The desk's readers pages (routes under ``/desk``, assembled by ``desk.numbers``).

* ``GET /readers``: counts by status, joined and left per week, and ``?q=address`` to
  find a reader (normalised as the list does); ``?format=csv`` / ``?format=json`` export
  the counts and the weekly growth, never an address (``desk.exports``).
* ``GET``/``POST /readers/{id}/unsubscribe`` and ``…/erase``: a confirmation page, then the
  change, through the same functions as ``digest subscribers unsubscribe`` / ``erase``,
  recorded in the desk's audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from desk import audit, charts
from desk.context import Desk
from desk.exports import Table, export_response
from desk.numbers_common import BASE, local_day, render_page, requested_format
from digest.errors import InvalidAddress
from digest.store import stats
from digest.store.tables import SUBSCRIBER_STATUSES
from subscribers import repository as repo
from subscribers.web.database import in_database

GROWTH_WEEKS = 26
AUDIT_SOURCE = "desk"  # the consent ledger's source for changes made on the desk


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
        created=local_day(sub.created_at, desk),
        confirmed=local_day(sub.confirmed_at, desk),
        unsubscribed=local_day(sub.unsubscribed_at, desk),
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
    fmt = requested_format(request)
    query = (request.query_params.get("q") or "").strip()[:320] if not fmt else ""
    counts, growth, search = await in_database(request, _readers_data, desk, query or None)
    if fmt:
        which = "status" if request.query_params.get("table") == "status" else "growth"
        return export_response(readers_table(counts, growth, which), fmt)
    done = request.query_params.get("done")
    return render_page(
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
    return render_page(
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


__all__ = ["reader_change", "reader_confirm", "readers_page"]
