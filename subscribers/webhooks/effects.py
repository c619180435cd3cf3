"""What provider events do to the list and to the per-issue counts (every provider).

``apply_events`` takes the events of one POST and, inside the caller's
transaction:

* skips every event whose id was seen before (``WebhookEvent``, claimed with
  ``digest.store.webhook_events.claim_new``), and repeats inside the POST, so the
  same POST twice, even on two replicas at the same moment, changes nothing;
* adds the rest to the counters of the issue each names (``IssueRecord``:
  delivered, bounced, blocked, dropped, complained, unsubscribed, opened,
  clicked, unknown_events), one UPDATE per issue;
* adds each click to its link's count (``digest.store.clicks``: per issue and link,
  the unsubscribe link without its token);
* changes subscribers' status through ``subscribers.repository.set_status``,
  so each change lands in the consent ledger with the provider's event id.

Status precedence (a webhook only ever makes suppression stronger):
``complained`` > ``unsubscribed`` > ``bounced`` > ``active``/``pending``.
So a complaint is never turned back into ``bounced``; an unsubscribed person
whose address later bounces stays ``unsubscribed`` (their own choice is the
fact worth keeping; either way they get nothing); a bounced address that
later reports spam becomes ``complained``.

Soft bounces (SendGrid's ``blocked``): each adds one to
``Subscriber.soft_bounces``; at ``[web] soft_bounce_limit`` in a row the
subscriber becomes ``bounced``. A ``delivered`` event starts the count again.
A limit below 1 turns that off (soft bounces are only counted).

Only counts are kept for deliveries, opens and clicks (and clicks per link): nothing per
person.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest.store.clicks import add_clicks
from digest.store.tables import IssueRecord, Subscriber
from digest.store.webhook_events import claim_new
from subscribers import repository
from subscribers.webhooks.base import TrackingEvent

log = logging.getLogger("digest.webhooks")

CHUNK = 900  # ids per IN (...) query: below every database's parameter limit
SOURCE = "webhook"

# how strongly a status suppresses; a webhook never lowers it
_RANK = {"pending": 0, "active": 0, "bounced": 1, "unsubscribed": 2, "complained": 3}


@dataclass
class Outcome:
    """What one POST did (returned to the provider as JSON and logged)."""

    received: int = 0
    applied: int = 0
    duplicates: int = 0
    status_changes: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # issue → counter → n
    unknown_issues: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "applied": self.applied,
            "duplicates": self.duplicates,
            "status_changes": self.status_changes,
        }


def apply_events(
    session: Session,
    events: Sequence[TrackingEvent],
    *,
    now: datetime,
    soft_bounce_limit: int,
    provider: str = "sendgrid",
) -> Outcome:
    """Apply one POST's events in ``session`` (the caller commits); see the module doc."""
    outcome = Outcome(received=len(events))
    unique: dict[str, TrackingEvent] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    # Claimed with one INSERT … ON CONFLICT DO NOTHING, not looked up first: the same POST
    # on two replicas at once then applies each event on one of them only.
    ordered = sorted(unique.values(), key=lambda e: e.event_id)  # a stable lock order
    claimed = claim_new(
        session,
        [
            {
                "event_id": e.event_id,
                "kind": e.provider_event[:30],
                "issue_key": e.issue_key,
                "received_at": now,
            }
            for e in ordered
        ],
    )
    fresh = [e for e in unique.values() if e.event_id in claimed]  # in the POST's order
    outcome.duplicates = len(events) - len(fresh)
    outcome.applied = len(fresh)
    if not fresh:
        return outcome
    _add_counts(session, fresh, outcome)
    _add_clicks(session, fresh, outcome)
    outcome.status_changes = _change_subscribers(
        session, fresh, now=now, soft_bounce_limit=soft_bounce_limit
    )
    _log_notable(fresh, provider)
    return outcome


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def _add_counts(session: Session, events: Sequence[TrackingEvent], outcome: Outcome) -> None:
    per_issue: dict[str, Tally[str]] = {}
    for e in events:
        if e.issue_key and e.counter:
            per_issue.setdefault(e.issue_key, Tally())[e.counter] += 1
    for key, tally in sorted(per_issue.items()):
        values = {name: getattr(IssueRecord, name) + n for name, n in tally.items()}
        result = session.execute(
            update(IssueRecord).where(IssueRecord.key == key).values(**values),
            execution_options={"synchronize_session": False},
        )
        if getattr(result, "rowcount", 1) == 0:
            # events for an issue this database never sent (a test copy, another install)
            outcome.unknown_issues.append(key)
            log.warning(
                "webhook events for issue %s, which is not in the database: not counted", key
            )
        else:
            outcome.counts[key] = dict(tally)


def _add_clicks(session: Session, events: Sequence[TrackingEvent], outcome: Outcome) -> None:
    """Clicks per link (``issue_clicks``) of the issues just counted (not of unknown ones)."""
    per_issue: dict[str, Tally[str]] = {}
    for e in events:
        if e.counter == "clicked" and e.url and e.issue_key and e.issue_key in outcome.counts:
            per_issue.setdefault(e.issue_key, Tally())[e.url] += 1
    add_clicks(session, per_issue)


def _address_key(email: str) -> str:
    try:
        return repository.check_address(email).key
    except repository.InvalidAddress:
        return email.strip().lower()


def _load_subscribers(session: Session, keys: Sequence[str]) -> dict[str, Subscriber]:
    found: dict[str, Subscriber] = {}
    for chunk in _chunks(keys):
        # Locked in address order until the commit: two POSTs with different events for
        # one person (two replicas) then count soft bounces and change status one after
        # the other, each on what the other wrote, and never lock in opposite orders.
        query = (
            select(Subscriber)
            .where(Subscriber.email_key.in_(chunk))
            .order_by(Subscriber.email_key)
            .with_for_update()
        )
        for sub in session.scalars(query):
            found[sub.email_key] = sub
    return found


def _change_subscribers(
    session: Session, events: Sequence[TrackingEvent], *, now: datetime, soft_bounce_limit: int
) -> int:
    acting = [e for e in events if e.action and e.email]
    if not acting:
        return 0
    keyed = [(_address_key(e.email or ""), e) for e in acting]
    subscribers = _load_subscribers(session, sorted({k for k, _ in keyed}))
    # each person's events in the order they happened ("blocked, delivered, blocked" is one
    # soft bounce in a row); people in address order, so concurrent POSTs lock rows alike
    keyed.sort(key=lambda pair: (pair[0], pair[1].occurred_at or now))
    changes = 0
    for key, event in keyed:
        sub = subscribers.get(key)
        if sub is None:
            continue  # not (or no longer) on the list
        at = min(event.occurred_at or now, now)
        if event.action == "delivered":
            if sub.soft_bounces and _RANK[sub.status] == 0:
                sub.soft_bounces = 0
            continue
        if event.action == "soft_bounce":
            if _RANK[sub.status] > 0:
                continue
            sub.soft_bounces = (sub.soft_bounces or 0) + 1
            if soft_bounce_limit < 1 or sub.soft_bounces < soft_bounce_limit:
                continue
            target = "bounced"
            detail = f"{sub.soft_bounces} soft bounces in a row; last: {event.detail}"
        else:
            target = str(event.action)
            detail = event.detail or event.provider_event
        if _RANK[target] <= _RANK.get(sub.status, 0):
            continue
        repository.set_status(
            session,
            sub,
            target,
            source=SOURCE,
            event_id=event.event_id,
            detail=detail,
            at=at,
        )
        changes += 1
    return changes


def _log_notable(events: Sequence[TrackingEvent], provider: str) -> None:
    dropped = Tally(e.detail or "dropped" for e in events if e.counter == "dropped")
    for reason, n in dropped.most_common():
        log.info("%s: %d dropped (%s)", provider, n, reason)
    unknown = Tally(e.provider_event for e in events if e.counter == "unknown_events")
    for name, n in unknown.most_common():
        log.info("%s: %d unknown event(s) %r counted and ignored", provider, n, name)
