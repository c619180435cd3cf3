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

from babel.dates import format_skeleton
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from desk import audit, charts
from desk.context import Desk
from desk.exports import Table, export_response
from desk.numbers_common import BASE, local_day, render_page, requested_format
from digest.errors import InvalidAddress
from digest.i18n import DEFAULT_LOCALE, N_, Gettext, gettext_for, parse_locale
from digest.store import stats
from digest.store.tables import SUBSCRIBER_STATUSES
from subscribers import repository as repo
from subscribers.web.database import in_database

GROWTH_WEEKS = 26
AUDIT_SOURCE = "desk"  # the consent ledger's source for changes made on the desk

# a reader's status as the pages name it (marked here, translated where it is shown)
STATUS_LABELS = {
    "pending": N_("pending"),
    "active": N_("active"),
    "unsubscribed": N_("unsubscribed"),
    "bounced": N_("bounced"),
    "complained": N_("complained"),
}


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


def growth_chart(
    growth: Sequence[stats.WeekGrowth],
    gettext: Gettext | None = None,
    locale: str = DEFAULT_LOCALE,
) -> Any:
    """The weeks' joined and left, the words in ``gettext``'s language (English without
    one), the weeks' labels in ``locale`` ("Nov 2", "2 nov.")."""
    _ = gettext or charts.english()
    loc = parse_locale(locale)
    labels = [format_skeleton("MMMd", w.week, locale=loc) for w in growth]
    joined = sum(w.joined for w in growth)
    left = sum(w.left for w in growth)
    return charts.diverging_chart(
        chart_id="chart-growth",
        title=_("Readers joined and left per week"),
        labels=labels,
        up=[
            charts.Bar(
                lbl,
                w.joined,
                _(
                    "Week of %(week)s: %(count)s joined",
                    week=w.week.isoformat(),
                    count=format(w.joined, ","),
                ),
            )
            for lbl, w in zip(labels, growth, strict=True)
        ],
        down=[
            charts.Bar(
                lbl,
                w.left,
                _(
                    "Week of %(week)s: %(count)s left",
                    week=w.week.isoformat(),
                    count=format(w.left, ","),
                ),
            )
            for lbl, w in zip(labels, growth, strict=True)
        ],
        up_name=_("Joined (confirmed)"),
        down_name=_("Left"),
        summary=_.ngettext(
            "Readers who joined (above the line) and left (below it) per week over the last "
            "%(num)d week: %(joined)s joined, %(left)s left, net %(net)s.",
            "Readers who joined (above the line) and left (below it) per week over the last "
            "%(num)d weeks: %(joined)s joined, %(left)s left, net %(net)s.",
            len(growth),
            joined=format(joined, ","),
            left=format(left, ","),
            net=format(joined - left, "+,"),
        ),
    )


# what ``?done=`` after a change says (marked here, translated where it is shown)
DONE_MESSAGES = {
    "unsubscribed": N_("Unsubscribed. The consent ledger records it as done by the editors."),
    "unchanged": N_("Nothing changed: the reader was not pending or active."),
    "erased": N_(
        "Erased: the address and name are gone; the consent ledger keeps only a hash, "
        "and imports will refuse the address."
    ),
    "gone": N_("That reader is no longer on the list."),
}


async def readers_page(request: Request, desk: Desk) -> Response:
    fmt = requested_format(request)
    query = (request.query_params.get("q") or "").strip()[:320] if not fmt else ""
    counts, growth, search = await in_database(request, _readers_data, desk, query or None)
    if fmt:
        which = "status" if request.query_params.get("table") == "status" else "growth"
        return export_response(readers_table(counts, growth, which), fmt)
    done = DONE_MESSAGES.get(request.query_params.get("done") or "")
    _ = gettext_for(desk.config)
    return render_page(
        request,
        desk,
        "desk/readers.html",
        {
            "counts": counts,
            "statuses": SUBSCRIBER_STATUSES,
            "total": sum(counts.values()),
            "growth": growth,
            "chart": growth_chart(growth, _, desk.config.newsletter.locale),
            "search": search,
            "done": _(done) if done else None,
            "status_label": _status_label(_),
        },
    )


def _status_label(_: Gettext) -> Any:
    def label(status: str) -> str:
        known = STATUS_LABELS.get(status)
        return _(known) if known else status

    return label


# (title, warning, button) of each confirmation (translated where shown)
ACTIONS = {
    "unsubscribe": (
        N_("Unsubscribe this reader?"),
        N_("They get no more issues. Only they can subscribe again, through the form."),
        N_("Unsubscribe"),
    ),
    "erase": (
        N_("Erase this reader?"),
        N_(
            "Their address and name are removed for good; the consent ledger keeps only a hash "
            "of the address, and imports will refuse it. This cannot be undone."
        ),
        N_("Erase for good"),
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
    _ = gettext_for(desk.config)
    return render_page(
        request,
        desk,
        "desk/readers_confirm.html",
        {
            "reader": reader,
            "action": action,
            "title": _(title),
            "warning": _(warning),
            "button": _(button),
            "status_label": _status_label(_),
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
