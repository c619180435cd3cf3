"""The audit log: every change made on the desk (who, what, when, which issue).

``record`` writes one entry (``digest.store.desk``); ``GET /desk/audit`` lists them,
newest first, 100 a page; the coming issue's page shows the last few.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from desk.context import Desk
from digest.store import desk as desk_store
from digest.store.desk import AuditEntry
from subscribers.web.database import in_database

PAGE = 100

# what an action is called on the page
ACTIONS = {
    "sign_in": "signed in",
    "sign_out": "signed out",
    "pin": "pinned as lead",
    "unpin": "cleared the pin",
    "drop": "dropped",
    "restore": "restored",
    "note": "set the editor's note",
    "clear_note": "cleared the editor's note",
    "test": "sent a test copy",
    "unsubscribe_reader": "unsubscribed a reader",
    "erase_reader": "erased a reader",
}


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: str  # in the publication's zone
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
    tz = desk.config.newsletter.tz
    return [
        _row(e, tz) for e in desk_store.audit_entries(desk.store, limit=limit, before_id=before_id)
    ]


def _row(entry: AuditEntry, tz: ZoneInfo) -> AuditRow:
    local = entry.at.astimezone(tz)
    return AuditRow(
        id=entry.id,
        at=f"{local:%a} {local.day} {local:%b %Y %H:%M %Z}",
        editor=entry.editor,
        action=ACTIONS.get(entry.action, entry.action),
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
