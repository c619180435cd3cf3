"""Status changes and the consent ledger they leave.

A subscriber's status changes by one rule (``status_fields``: what else changes on the
row with it), and every change appends the matching ``ConsentEvent`` row
(``record_event``), so the ledger can never fall behind the list. The ORM path
(``repository.set_status``) and the one-click unsubscribe's Core statements
(``subscribers.one_click``) both build their values here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.errors import UsageError
from digest.store.tables import CONSENT_KINDS, SUBSCRIBER_STATUSES, ConsentEvent, Subscriber
from subscribers.addresses import Address

# status → the ledger kind that normally goes with it
KIND_FOR_STATUS = {
    "pending": "subscribed",
    "active": "confirmed",
    "unsubscribed": "unsubscribed",
    "bounced": "bounced",
    "complained": "complained",
}


def check_status(status: str) -> str:
    if status not in SUBSCRIBER_STATUSES:
        raise UsageError(
            f"unknown status {status!r} (choose one of: {', '.join(SUBSCRIBER_STATUSES)})"
        )
    return status


def status_fields(new_status: str, at: datetime) -> dict[str, object]:
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


def consent_row(
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
    event = ConsentEvent(**consent_row(
        subscriber.id if subscriber is not None else None, email_hash_, kind, at=at,
        source=source, ip=ip, user_agent=user_agent, form_version=form_version,
        event_id=event_id, detail=detail,
    ))  # fmt: skip
    session.add(event)  # written with the caller's next flush or commit: a webhook's
    return event  # thousands of changes then go out as a few batched statements


def events_for(session: Session, subscriber: Subscriber) -> list[ConsentEvent]:
    """The subscriber's consent ledger, oldest first."""
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subscriber_id == subscriber.id)
            .order_by(ConsentEvent.id)
        )
    )
