"""The one-click unsubscribe (RFC 8058's POST and the link's page): the request a send's
readers make most, so it skips the ORM.

It is ``set_status(…, "unsubscribed")`` in two Core statements, an UPDATE … RETURNING and
the consent row's INSERT, instead of the ORM's load, flush and flush. The statements are
built once, at import, with bound parameters: building a statement and computing its
cache key costs SQLAlchemy about as much as the database spends running it, so a request
only binds values (docs/performance.md has the measurements). The values themselves come
from the same rules as every other status change (``subscribers.consent``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from digest.store.tables import ConsentEvent, Subscriber
from subscribers.addresses import Address
from subscribers.consent import KIND_FOR_STATUS, consent_row, status_fields


@dataclass(frozen=True)
class Unsubscribed:
    """What ``unsubscribe_by_id`` did: whom it was, and whether this call changed them."""

    id: int
    email: str
    status: str
    changed: bool


_SUBSCRIBERS = cast(Table, Subscriber.__table__)
_CONSENT_EVENTS = cast(Table, ConsentEvent.__table__)
# the SET clause is the keys of status_fields, given as parameters with each call
_UNSUBSCRIBE = (
    update(_SUBSCRIBERS)
    .where(
        _SUBSCRIBERS.c.id == bindparam("subscriber_id_"),
        _SUBSCRIBERS.c.status.in_(("pending", "active")),
    )
    .returning(_SUBSCRIBERS.c.email, _SUBSCRIBERS.c.email_key)
)
_CURRENT = select(_SUBSCRIBERS.c.email, _SUBSCRIBERS.c.email_key, _SUBSCRIBERS.c.status).where(
    _SUBSCRIBERS.c.id == bindparam("subscriber_id_")
)
_RECORD_EVENT = insert(_CONSENT_EVENTS)


def unsubscribe_by_id(
    conn: Connection,
    subscriber_id: int,
    *,
    key_matches: Callable[[str], bool],
    at: datetime,
    source: str,
    ip: str | None = None,
    user_agent: str | None = None,
    detail: str | None = None,
    form_version: str | None = None,
) -> Unsubscribed | None:
    """Unsubscribe the link's person, in the caller's transaction (which commits).

    ``key_matches(email_key)`` says whether the row is still the link's person; when it
    is not (the id belongs to someone else), nothing changes and None is returned, as
    for an id that is not on the list. Pending and active subscribers become
    unsubscribed; anyone else is returned unchanged (bounced and complained stay so).
    """
    row = conn.execute(
        _UNSUBSCRIBE, {"subscriber_id_": subscriber_id, **status_fields("unsubscribed", at)}
    ).first()
    if row is None:
        current = conn.execute(_CURRENT, {"subscriber_id_": subscriber_id}).first()
        if current is None or not key_matches(current.email_key):
            return None
        return Unsubscribed(subscriber_id, current.email, current.status, changed=False)
    if not key_matches(row.email_key):
        conn.rollback()
        return None
    conn.execute(_RECORD_EVENT, consent_row(
        subscriber_id, Address(row.email, row.email_key).hash, KIND_FOR_STATUS["unsubscribed"],
        at=at, source=source, ip=ip, user_agent=user_agent, form_version=form_version,
        event_id=None, detail=detail,
    ))  # fmt: skip
    return Unsubscribed(subscriber_id, row.email, "unsubscribed", changed=True)
