"""The list: adding, finding, listing and changing subscribers, and erasing them.

Every status change goes through ``set_status``, which also appends the matching row
to the consent ledger (``ConsentEvent``), so the ledger can never fall behind the list.
Functions take an open ``Session`` (from ``store.session()``) and leave committing to
the caller's ``with`` block; the one-click unsubscribe takes the Core connection of
``store.transaction()`` instead.

This module is the list's one entry point: it also names what its parts hold, the
address checks (``subscribers.addresses``), the status rule and the consent ledger
(``subscribers.consent``) and the one-click unsubscribe (``subscribers.one_click``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from digest.errors import AlreadyListed, InvalidAddress
from digest.store.database import Store
from digest.store.tables import (
    SUBSCRIBER_STATUSES,
    ConsentEvent,
    SendRecipient,
    Subscriber,
    Tombstone,
)
from subscribers.addresses import (
    Address,
    check_address,
    clean_name,
    email_hash,
)
from subscribers.consent import (
    KIND_FOR_STATUS,
    check_status,
    events_for,
    record_event,
    status_fields,
)
from subscribers.one_click import Unsubscribed, unsubscribe_by_id

__all__ = [
    "SOURCES",
    "Address",
    "AlreadyListed",
    "InvalidAddress",
    "Unsubscribed",
    "add",
    "check_address",
    "check_status",
    "clean_name",
    "counts_by_status",
    "email_hash",
    "erase",
    "events_for",
    "get",
    "get_by_email",
    "is_tombstoned",
    "iter_subscribers",
    "lift_tombstone",
    "record_event",
    "set_status",
    "unsubscribe_by_id",
]

SOURCES = ("form", "import", "cli")


# --- reading ---------------------------------------------------------------------


def get(session: Session, subscriber_id: int, *, for_update: bool = False) -> Subscriber | None:
    """The subscriber, or None. ``for_update``: lock the row until the transaction ends
    (PostgreSQL), for a read that decides a write: a second request for the same row,
    in this process or another, then waits and decides on what the first wrote."""
    return session.get(Subscriber, subscriber_id, with_for_update=for_update or None)


def get_by_email(session: Session, address: str, *, for_update: bool = False) -> Subscriber | None:
    """The subscriber with this address (any case), or None (also for invalid input);
    ``for_update`` as for ``get``."""
    try:
        key = check_address(address).key
    except InvalidAddress:
        return None
    query = select(Subscriber).where(Subscriber.email_key == key)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).first()


def iter_subscribers(
    session: Session, *, status: str | None = None, batch_size: int = 1000
) -> Iterator[Subscriber]:
    """Every subscriber (optionally of one status) by id, fetched ``batch_size`` at a time."""
    if status is not None:
        check_status(status)
    last_id = 0
    while True:
        query = select(Subscriber).where(Subscriber.id > last_id)
        if status is not None:
            query = query.where(Subscriber.status == status)
        rows = list(session.scalars(query.order_by(Subscriber.id).limit(batch_size)))
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        if len(rows) < batch_size:
            return


def counts_by_status(source: Session | Store) -> dict[str, int]:
    """``{"pending": n, "active": n, ...}`` with every status present (0 when none).

    Takes a session, or a Store (then opens its own session).
    """
    if isinstance(source, Store):
        with source.session() as session:
            return counts_by_status(session)
    counts = {status: 0 for status in SUBSCRIBER_STATUSES}
    rows = source.execute(
        select(Subscriber.status, func.count(Subscriber.id)).group_by(Subscriber.status)
    )
    for status, n in rows:
        counts[str(status)] = int(n)
    return counts


def is_tombstoned(session: Session, address: str) -> bool:
    """True when this address was erased (only its hash is kept)."""
    return session.get(Tombstone, email_hash(address)) is not None


# --- writing ---------------------------------------------------------------------


def add(
    session: Session,
    address: str,
    *,
    at: datetime,
    source: str,
    name: str | None = None,
    status: str = "pending",
    ip: str | None = None,
    user_agent: str | None = None,
    form_version: str | None = None,
    detail: str | None = None,
) -> Subscriber:
    """Insert a new subscriber and its ``subscribed`` ledger row (and ``confirmed``
    when added as ``active``). Raise ``InvalidAddress`` for a bad address and
    ``AlreadyListed`` (a ``UsageError``) when the address is already on the list."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if status not in ("pending", "active"):
        raise ValueError("a new subscriber is pending or active")
    addr = check_address(address)
    if session.scalars(select(Subscriber.id).where(Subscriber.email_key == addr.key)).first():
        raise AlreadyListed(f"{addr.email} is already on the list")
    subscriber = Subscriber(
        email=addr.email,
        email_key=addr.key,
        name=clean_name(name),
        status=status,
        source=source,
        created_at=at,
        confirmed_at=at if status == "active" else None,
        soft_bounces=0,
    )
    session.add(subscriber)
    session.flush()
    for kind in ("subscribed", "confirmed") if status == "active" else ("subscribed",):
        record_event(
            session,
            subscriber,
            kind,
            at=at,
            source=source,
            ip=ip,
            user_agent=user_agent,
            form_version=form_version,
            detail=detail,
        )
    return subscriber


def set_status(
    session: Session,
    subscriber: Subscriber,
    new_status: str,
    *,
    kind: str | None = None,
    source: str | None,
    ip: str | None = None,
    user_agent: str | None = None,
    event_id: str | None = None,
    detail: str | None = None,
    form_version: str | None = None,
    at: datetime,
) -> ConsentEvent:
    """Change a subscriber's status and append the consent event (``kind`` defaults
    to the one that goes with the status: active → confirmed, …).

    Sets ``confirmed_at`` on active and ``unsubscribed_at`` on unsubscribed; leaving
    ``pending`` voids any confirmation link still out there.
    """
    for column, value in status_fields(new_status, at).items():
        setattr(subscriber, column, value)
    return record_event(
        session,
        subscriber,
        kind or KIND_FOR_STATUS[new_status],
        at=at,
        source=source,
        ip=ip,
        user_agent=user_agent,
        form_version=form_version,
        event_id=event_id,
        detail=detail,
    )


def erase(session: Session, subscriber: Subscriber, *, at: datetime, source: str = "cli") -> str:
    """Remove the person's data: the subscriber row goes, their ledger rows keep
    only the address hash, and a tombstone keeps the hash so a later import
    cannot bring the address back silently. Returns the hash."""
    hashed = Address(subscriber.email, subscriber.email_key).hash
    session.execute(
        update(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber.id)
        .values(subscriber_id=None, ip=None, user_agent=None, detail=None)
    )
    record_event(session, None, "erased", at=at, source=source, email_hash_=hashed)
    if session.get(Tombstone, hashed) is None:
        session.add(Tombstone(email_hash=hashed, erased_at=at))
    session.execute(delete(SendRecipient).where(SendRecipient.subscriber_id == subscriber.id))
    session.delete(subscriber)
    session.flush()
    return hashed


def lift_tombstone(session: Session, address: str) -> bool:
    """Forget an erasure (the person subscribed again through the form)."""
    stone = session.get(Tombstone, email_hash(address))
    if stone is None:
        return False
    session.delete(stone)
    session.flush()
    return True
