"""The public archive: ``/issues`` lists the sent issues, ``/issues/KEY`` shows one,
``/issues/feed.xml`` is the list as an Atom feed.

The list reads like a publication's archive: each issue's date (in the newsletter's
locale), its lead story's title rather than the subject (which repeats the newsletter's
name) and its key.

An issue is served exactly as stored when it was sent (``IssueRecord.archive_html``):
the email's HTML with the personal unsubscribe link replaced by a neutral link to
the subscribe page, so nothing in it belongs to a reader. It is the page the
email's "View in browser" link opens. Only sent issues are public (listed), and an
issue part-way through its send once its first batch has gone out.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import and_, or_, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from digest.i18n import format_page_date
from digest.store.database import Store
from digest.store.tables import IssueRecord
from subscribers.issues import sent_issues
from subscribers.web.atom import ATOM_TYPE, atom_feed
from subscribers.web.database import in_database

KEY_RE = re.compile(r"^\d{4}-W\d{2}$")
CACHE = {"Cache-Control": "public, max-age=300"}
FEED_SIZE = 50  # the newest issues in the feed
ISSUE_LINKS = (
    '</issues>; rel="index", </issues/feed.xml>; rel="alternate"; type="application/atom+xml"'
)


def _archived(store: Store, key: str) -> str | None:
    """The page of a sent issue, and of one still being sent (or stopped by a failure)
    once a batch has gone out: its readers already have the "View in browser" link."""
    with store.session() as s:
        return s.scalar(
            select(IssueRecord.archive_html).where(
                IssueRecord.key == key,
                or_(
                    IssueRecord.status == "sent",
                    and_(IssueRecord.status.in_(("sending", "failed")), IssueRecord.sent > 0),
                ),
            )
        )


async def issue_list(request: Request) -> Response:
    state: Any = request.app.state
    nl = state.config.newsletter
    issues = await in_database(request, sent_issues, state.store, name=nl.name)
    entries = [
        {
            "key": issue.key,
            "title": issue.title,
            "summary": issue.summary if issue.summary != issue.title else "",
            "date": format_page_date(issue.as_of.astimezone(nl.tz), nl.locale),
            "datetime": issue.as_of.astimezone(nl.tz).date().isoformat(),
            "image": issue.image_url,  # none for issues sent before pictures were kept
        }
        for issue in issues
    ]
    response: Response = state.templates.TemplateResponse(
        request, "archive.html", {"issues": entries}, headers=CACHE
    )
    return response


async def issue_feed(request: Request) -> Response:
    """``/issues/feed.xml``: the archive as an Atom 1.0 feed (subscribers.web.atom)."""
    state: Any = request.app.state
    nl = state.config.newsletter
    issues = await in_database(request, sent_issues, state.store, name=nl.name, limit=FEED_SIZE)
    body = atom_feed(nl, issues, now=state.clock())
    return Response(body, media_type=ATOM_TYPE, headers=CACHE)


async def issue_page(request: Request) -> Response:
    key = str(request.path_params["key"]).upper()
    if not KEY_RE.match(key):
        raise HTTPException(404)
    html = await in_database(request, _archived, request.app.state.store, key)
    if html is None:
        raise HTTPException(404)
    # the stored page is the email's HTML (rendered at send time): the way back to the
    # list and the feed are given as links in the header as well
    return HTMLResponse(html, headers={**CACHE, "Link": ISSUE_LINKS})


routes: list[BaseRoute] = [
    Route("/issues", issue_list, methods=["GET"]),
    Route("/issues/feed.xml", issue_feed, methods=["GET"]),
    Route("/issues/{key}", issue_page, methods=["GET"]),
]
