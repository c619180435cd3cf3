"""Provider event ids already applied (``webhook_events``): each event acts once.

``claim_new`` inserts a POST's event ids with ``ON CONFLICT DO NOTHING … RETURNING`` and
answers with the ids this transaction inserted. When two replicas get the same batch at
the same moment, the second one's insert waits on the first one's uncommitted rows and,
once that commits, skips them: each event is claimed by exactly one transaction, with
no read before the write and nothing to retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from digest.store.tables import WebhookEvent

CHUNK = 200  # rows per INSERT: 4 parameters each, far below every database's limit

_TABLE = cast(Table, WebhookEvent.__table__)


def claim_new(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert ``rows`` (``event_id``, ``kind``, ``issue_key``, ``received_at``) that are not
    there yet, in the caller's transaction; the event ids this call inserted. Give the rows
    in a stable order (by id): concurrent claims then wait on each other in the same order."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    claimed: set[str] = set()
    for start in range(0, len(rows), CHUNK):
        stmt = (
            insert(_TABLE)
            .values(list(rows[start : start + CHUNK]))
            .on_conflict_do_nothing(index_elements=[_TABLE.c.event_id])
            .returning(_TABLE.c.event_id)
        )
        claimed.update(session.scalars(stmt))
    return claimed


__all__ = ["CHUNK", "claim_new"]
