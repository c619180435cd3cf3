"""The list: adding, finding, listing and changing subscribers.

Every status change goes through ``set_status``, which also appends the
matching row to the consent ledger (``ConsentEvent``), so the ledger can
never fall behind the list. Functions take an open ``Session`` (from
``store.session()``) and leave committing to the caller's ``with`` block.

Addresses are checked and normalized with email-validator (no DNS lookups);
``email_key`` (the lower-cased normalized address) makes them unique
case-insensitively, and ``email_hash`` (SHA-256 of the key) is what the
ledger and the tombstones keep once a person is erased.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from digest.errors import UsageError
from digest.safetext import one_line
from digest.store.database import Store
from digest.store.tables import (
    CONSENT_KINDS,
    SUBSCRIBER_STATUSES,
    ConsentEvent,
    SendRecipient,
    Subscriber,
    Tombstone,
)

SOURCES = ("form", "import", "cli")
MAX_NAME_LENGTH = 200


class InvalidAddress(UsageError):
    """An email address email-validator refuses; the message says why."""

    def __init__(self, address: str, reason: str):
        self.address = address
        self.reason = reason
        super().__init__(f"{address!r} is not a valid email address: {reason}")


class AlreadyListed(UsageError):
    """The address is already on the list."""


@dataclass(frozen=True)
class Address:
    """A checked address: what to store, and its uniqueness key."""

    email: str  # normalized (domain lower-cased, IDNA handled)
    key: str  # lower-cased: unique across the list

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest()


def check_address(address: str) -> Address:
    """Validate and normalize ``address``; raise ``InvalidAddress`` naming it."""
    raw = (address or "").strip()
    if not raw:
        raise InvalidAddress(address, "it is empty")
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(raw, str(exc)) from None
    normalized = result.normalized
    return Address(email=normalized, key=normalized.lower())


def email_hash(address: str) -> str:
    """The SHA-256 hex of an address's key (for the ledger and tombstones)."""
    try:
        return check_address(address).hash
    except InvalidAddress:
        return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


def clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = one_line(name)  # a NUL or ESC would break the confirmation email and headers
    return cleaned[:MAX_NAME_LENGTH].strip() or None


# --- reading ---------------------------------------------------------------------


def get(session: Session, subscriber_id: int) -> Subscriber | None:
    return session.get(Subscriber, subscriber_id)


def get_by_email(session: Session, address: str) -> Subscriber | None:
    """The subscriber with this address (any case), or None (also for invalid input)."""
    try:
        key = check_address(address).key
    except InvalidAddress:
        return None
    return session.scalars(select(Subscriber).where(Subscriber.email_key == key)).first()


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


list_subscribers = iter_subscribers


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


def events_for(session: Session, subscriber: Subscriber) -> list[ConsentEvent]:
    """The subscriber's consent ledger, oldest first."""
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subscriber_id == subscriber.id)
            .order_by(ConsentEvent.id)
        )
    )


def is_tombstoned(session: Session, address: str) -> bool:
    """True when this address was erased (only its hash is kept)."""
    return session.get(Tombstone, email_hash(address)) is not None


# --- writing ---------------------------------------------------------------------


def check_status(status: str) -> str:
    if status not in SUBSCRIBER_STATUSES:
        raise UsageError(
            f"unknown status {status!r} (choose one of: {', '.join(SUBSCRIBER_STATUSES)})"
        )
    return status


def _consent_row(
    subscriber_id: int | None,
    email_hash_: str,
    kind: str,
    *,
    at: datetime,
    source: str | None,
    ip: str | None,
    user_agent: str | None,
    form_version: str | None,
    event_id: str | None,
    detail: str | None,
) -> dict[str, object]:
    """The column values of one consent-ledger row (checked, long values cut to fit)."""
    if kind not in CONSENT_KINDS:
        raise ValueError(f"unknown consent event kind {kind!r}")
    if at.tzinfo is None:
        raise ValueError("consent events need an aware datetime")
    return {
        "subscriber_id": subscriber_id,
        "email_hash": email_hash_,
        "kind": kind,
        "at": at,
        "source": source,
        "ip": ip[:64] if ip else None,
        "user_agent": user_agent[:400] if user_agent else None,
        "form_version": form_version,
        "event_id": event_id[:100] if event_id else None,
        "detail": detail,
    }


def record_event(
    session: Session,
    subscriber: Subscriber | None,
    kind: str,
    *,
    at: datetime,
    source: str | None,
    email_hash_: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    form_version: str | None = None,
    event_id: str | None = None,
    detail: str | None = None,
) -> ConsentEvent:
    """Append one row to the consent ledger."""
    if email_hash_ is None:
        if subscriber is None:
            raise ValueError("a consent event needs a subscriber or an email hash")
        email_hash_ = Address(subscriber.email, subscriber.email_key).hash
    event = ConsentEvent(**_consent_row(
        subscriber.id if subscriber is not None else None, email_hash_, kind, at=at,
        source=source, ip=ip, user_agent=user_agent, form_version=form_version,
        event_id=event_id, detail=detail,
    ))
    session.add(event)  # written with the caller's next flush or commit: a webhook's
    return event        # thousands of changes then go out as a few batched statements


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
        record_event(session, subscriber, kind, at=at, source=source, ip=ip,
                     user_agent=user_agent, form_version=form_version, detail=detail)
    return subscriber


# status → the ledger kind that normally goes with it
_KIND_FOR_STATUS = {
    "pending": "subscribed",
    "active": "confirmed",
    "unsubscribed": "unsubscribed",
    "bounced": "bounced",
    "complained": "complained",
}


def _status_fields(new_status: str, at: datetime) -> dict[str, object]:
    """What changes on the subscriber row with its status (``set_status`` and the
    one-click path both write exactly this)."""
    check_status(new_status)
    if at.tzinfo is None:
        raise ValueError("a status change needs an aware datetime")
    fields: dict[str, object] = {"status": new_status}
    if new_status == "active":
        fields.update(confirmed_at=at, unsubscribed_at=None, soft_bounces=0)
    elif new_status == "unsubscribed":
        fields["unsubscribed_at"] = at
    if new_status != "pending":
        fields["confirm_nonce"] = None  # leaving pending voids any confirmation link
    return fields


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
    for column, value in _status_fields(new_status, at).items():
        setattr(subscriber, column, value)
    return record_event(
        session,
        subscriber,
        kind or _KIND_FOR_STATUS[new_status],
        at=at,
        source=source,
        ip=ip,
        user_agent=user_agent,
        form_version=form_version,
        event_id=event_id,
        detail=detail,
    )


@dataclass(frozen=True)
class Unsubscribed:
    """What ``unsubscribe_by_id`` did: whom it was, and whether this call changed them."""

    id: int
    email: str
    status: str
    changed: bool


_SUBSCRIBERS = cast(Table, Subscriber.__table__)
_CONSENT_EVENTS = cast(Table, ConsentEvent.__table__)
# The one-click path's statements, built once: the values come as parameters (the SET
# clause is the keys of _status_fields), so a request only binds them.
_UNSUBSCRIBE = (
    update(_SUBSCRIBERS)
    .where(_SUBSCRIBERS.c.id == bindparam("subscriber_id_"),
           _SUBSCRIBERS.c.status.in_(("pending", "active")))
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
    """``set_status(…, "unsubscribed")`` for the unsubscribe link, in two Core statements
    (an UPDATE … RETURNING and the consent row's INSERT) instead of the ORM's load,
    flush and flush: the one-click POST is the request a send's readers make most.

    ``key_matches(email_key)`` says whether the row is still the link's person; when it
    is not (the id belongs to someone else), nothing changes and None is returned, as
    for an id that is not on the list. Pending and active subscribers become
    unsubscribed; anyone else is returned unchanged (bounced and complained stay so).
    The caller's transaction commits.
    """
    row = conn.execute(
        _UNSUBSCRIBE, {"subscriber_id_": subscriber_id, **_status_fields("unsubscribed", at)}
    ).first()
    if row is None:
        current = conn.execute(_CURRENT, {"subscriber_id_": subscriber_id}).first()
        if current is None or not key_matches(current.email_key):
            return None
        return Unsubscribed(subscriber_id, current.email, current.status, changed=False)
    if not key_matches(row.email_key):
        conn.rollback()
        return None
    conn.execute(_RECORD_EVENT, _consent_row(
        subscriber_id, Address(row.email, row.email_key).hash, _KIND_FOR_STATUS["unsubscribed"],
        at=at, source=source, ip=ip, user_agent=user_agent, form_version=form_version,
        event_id=None, detail=detail,
    ))
    return Unsubscribed(subscriber_id, row.email, "unsubscribed", changed=True)


def erase(
    session: Session, subscriber: Subscriber, *, at: datetime, source: str = "cli"
) -> str:
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
