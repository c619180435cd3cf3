"""The public archive: ``/issues`` lists the sent issues, ``/issues/KEY`` shows one.

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

from digest.store.database import Store
from digest.store.tables import IssueRecord
from subscribers.web.database import in_database

KEY_RE = re.compile(r"^\d{4}-W\d{2}$")
CACHE = {"Cache-Control": "public, max-age=300"}


def _sent_issues(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.execute(
            select(IssueRecord.key, IssueRecord.subject, IssueRecord.finished_at, IssueRecord.as_of)
            .where(IssueRecord.status == "sent", IssueRecord.archive_html.is_not(None))
            .order_by(IssueRecord.key.desc())
        ).all()
    return [{"key": k, "subject": subj or k, "sent": fin or as_of} for k, subj, fin, as_of in rows]


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
    issues = await in_database(request, _sent_issues, state.store)
    tz = state.config.newsletter.tz
    for item in issues:
        item["date"] = item["sent"].astimezone(tz).strftime("%-d %B %Y")
    response: Response = state.templates.TemplateResponse(
        request, "archive.html", {"issues": issues}, headers=CACHE
    )
    return response


async def issue_page(request: Request) -> Response:
    key = str(request.path_params["key"]).upper()
    if not KEY_RE.match(key):
        raise HTTPException(404)
    html = await in_database(request, _archived, request.app.state.store, key)
    if html is None:
        raise HTTPException(404)
    return HTMLResponse(html, headers=CACHE)


routes: list[BaseRoute] = [
    Route("/issues", issue_list, methods=["GET"]),
    Route("/issues/{key}", issue_page, methods=["GET"]),
]
