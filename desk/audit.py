"""The audit log: every change made on the desk (who, what, when, which issue).

``record`` writes one entry (``digest.store.desk``); ``GET /desk/audit`` lists them,
newest first, 100 a page; the coming issue's page shows the last few.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from desk.coming_issue import moment_text
from desk.context import Desk
from digest.config import Config
from digest.i18n import N_, Gettext, gettext_for
from digest.store import desk as desk_store
from digest.store.desk import AuditEntry
from subscribers.web.database import in_database

PAGE = 100

# what an action is called on the page (marked here, translated where it is shown)
ACTIONS = {
    "sign_in": N_("signed in"),
    "sign_out": N_("signed out"),
    "pin": N_("pinned as lead"),
    "unpin": N_("cleared the pin"),
    "drop": N_("dropped"),
    "restore": N_("restored"),
    "note": N_("set the editor's note"),
    "clear_note": N_("cleared the editor's note"),
    "test": N_("sent a test copy"),
    "unsubscribe_reader": N_("unsubscribed a reader"),
    "erase_reader": N_("erased a reader"),
}


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: str  # in the publication's zone and locale
    editor: str
    action: str
    issue_key: str
    detail: str


def record(desk: Desk, action: str, issue_key: str | None, detail: str = "") -> None:
    """Write one entry for the signed-in editor (blocks: call it in a worker thread)."""
    desk_store.record(
        desk.store,
        at=desk.clock(),
        editor=desk.editor,
        action=action,
        issue_key=issue_key,
        detail=detail[:2000],
    )


def rows(desk: Desk, *, limit: int = PAGE, before_id: int | None = None) -> list[AuditRow]:
    _ = gettext_for(desk.config)
    return [
        _row(e, desk.config, _)
        for e in desk_store.audit_entries(desk.store, limit=limit, before_id=before_id)
    ]


def _row(entry: AuditEntry, config: Config, _: Gettext) -> AuditRow:
    action = ACTIONS.get(entry.action)
    return AuditRow(
        id=entry.id,
        at=moment_text(entry.at, config, "yMMMEd"),
        editor=entry.editor,
        action=_(action) if action else entry.action,
        issue_key=entry.issue_key or "",
        detail=entry.detail,
    )


async def audit_page(request: Request, desk: Desk) -> Response:
    """``GET /desk/audit[?before=ID]``: the changes, newest first."""
    before_raw = request.query_params.get("before", "")
    before = int(before_raw) if before_raw.isdigit() and len(before_raw) < 19 else None
    entries = await in_database(request, rows, desk, limit=PAGE + 1, before_id=before)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    response: Response = desk.templates.TemplateResponse(
        request,
        "desk/audit.html",
        {
            "desk": desk,
            "entries": entries,
            "older": entries[-1].id if more and entries else None,
        },
    )
    return response


__all__ = ["ACTIONS", "AuditRow", "audit_page", "record", "rows"]
