"""The editors' desk: sign-in links, sessions and the audit log (tables ``desk_sign_ins``,
``desk_sessions``, ``desk_audit``).

Ids arrive already hashed (``desk.auth`` keeps the random ids themselves only in the
signed link and the cookie), so reading these tables gives nobody a way in.

A link works once: ``use_sign_in`` is one ``UPDATE … SET used_at WHERE link_id = ? AND
used_at IS NULL AND expires_at > now``; of two presses at once (two replicas, PostgreSQL
or SQLite) exactly one changes the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import Table, select, update

from digest.store.database import Store
from digest.store.tables import DeskAudit, DeskSession, DeskSignIn

LinkState = Literal["ready", "used", "expired", "unknown"]


@dataclass(frozen=True)
class SessionRow:
    email: str
    expires_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    editor: str
    action: str
    issue_key: str | None
    detail: str


# --- sign-in links -----------------------------------------------------------------------


def create_sign_in(
    store: Store, link_id: str, email: str, *, now: datetime, expires_at: datetime
) -> None:
    with store.session() as s:
        s.add(DeskSignIn(link_id=link_id, email=email, created_at=now, expires_at=expires_at))


def sign_in_state(store: Store, link_id: str, now: datetime) -> LinkState:
    """What pressing the link's button would do (the GET page shows it)."""
    with store.session() as s:
        row = s.get(DeskSignIn, link_id)
        if row is None:
            return "unknown"
        if row.used_at is not None:
            return "used"
        return "ready" if row.expires_at > now else "expired"


def use_sign_in(store: Store, link_id: str, now: datetime) -> str | None:
    """Mark the link used and return its address; None when it was used, has expired or
    does not exist (nothing changes then)."""
    table = cast(Table, DeskSignIn.__table__)
    with store.transaction() as conn:
        result = conn.execute(
            update(table)
            .where(
                table.c.link_id == link_id,
                table.c.used_at.is_(None),
                table.c.expires_at > now,
            )
            .values(used_at=now)
        )
        if result.rowcount != 1:
            return None
        email = conn.execute(select(table.c.email).where(table.c.link_id == link_id)).scalar_one()
    return str(email)


# --- sessions ------------------------------------------------------------------------------


def create_session(
    store: Store, session_id: str, email: str, *, now: datetime, expires_at: datetime
) -> None:
    with store.session() as s:
        s.add(
            DeskSession(session_id=session_id, email=email, created_at=now, expires_at=expires_at)
        )


def live_session(store: Store, session_id: str, now: datetime) -> SessionRow | None:
    """The session when it has neither ended nor expired."""
    with store.session() as s:
        row = s.get(DeskSession, session_id)
        if row is None or row.ended_at is not None or row.expires_at <= now:
            return None
        return SessionRow(email=row.email, expires_at=row.expires_at)


def renew_session(store: Store, session_id: str, expires_at: datetime) -> None:
    """Move a live session's end to ``expires_at`` (an ended one stays ended)."""
    with store.session() as s:
        s.execute(
            update(DeskSession)
            .where(DeskSession.session_id == session_id, DeskSession.ended_at.is_(None))
            .values(expires_at=expires_at)
        )


def end_session(store: Store, session_id: str, now: datetime) -> bool:
    """Sign out: the session no longer works, whoever holds its cookie."""
    with store.session() as s:
        result = s.execute(
            update(DeskSession)
            .where(DeskSession.session_id == session_id, DeskSession.ended_at.is_(None))
            .values(ended_at=now)
        )
        return bool(getattr(result, "rowcount", 0))


# --- the audit log ------------------------------------------------------------------------


def record(
    store: Store,
    *,
    at: datetime,
    editor: str,
    action: str,
    issue_key: str | None,
    detail: str = "",
) -> None:
    with store.session() as s:
        s.add(DeskAudit(at=at, editor=editor, action=action, issue_key=issue_key, detail=detail))


def audit_entries(
    store: Store, *, limit: int = 100, before_id: int | None = None
) -> list[AuditEntry]:
    """The newest ``limit`` entries (older than ``before_id`` when given), newest first."""
    query = select(DeskAudit).order_by(DeskAudit.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(DeskAudit.id < before_id)
    with store.session() as s:
        rows = s.scalars(query).all()
        return [
            AuditEntry(
                id=r.id,
                at=r.at,
                editor=r.editor,
                action=r.action,
                issue_key=r.issue_key,
                detail=r.detail,
            )
            for r in rows
        ]


__all__ = [
    "AuditEntry",
    "LinkState",
    "SessionRow",
    "audit_entries",
    "create_session",
    "create_sign_in",
    "end_session",
    "live_session",
    "record",
    "renew_session",
    "sign_in_state",
    "use_sign_in",
]
