"""What every provider's webhook has in common.

A provider (one module per provider, like ``sendgrid.py``) does two things:
it proves a request really came from the provider (``verify``), and it turns
the provider's JSON into provider-neutral :class:`TrackingEvent` values
(``parse``). What an event then does to the list and to the per-issue counts
is decided once, for every provider, in ``effects.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from digest.config import WebConfig

# The IssueRecord counter each event adds one to.
Counter = Literal[
    "delivered",
    "bounced",
    "blocked",
    "dropped",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
    "unknown_events",
]

# What an event asks of the subscriber it names (None: counts only).
#   bounced / complained / unsubscribed: suppress with that status
#   soft_bounce: one more soft bounce; ``bounced`` once web.soft_bounce_limit is reached
#   delivered: a message got through; the soft-bounce count starts again
Action = Literal["bounced", "complained", "unsubscribed", "soft_bounce", "delivered"]


@dataclass(frozen=True)
class TrackingEvent:
    """One provider event, provider-neutral."""

    event_id: str  # the provider's id (SendGrid: sg_event_id); unique per event
    provider_event: str  # the provider's own name for it ("bounce", "spamreport", ...)
    counter: Counter | None  # None: known but not counted (SendGrid "processed", "deferred")
    action: Action | None
    email: str | None
    issue_key: str | None  # from the custom_args the send attaches: {"issue": "2026-W47"}
    occurred_at: datetime | None
    detail: str | None = None  # the provider's reason, for the consent ledger and the log
    url: str | None = None  # a click's link (counted per issue and link: ``issue_clicks``)


class WebhookRejected(Exception):
    """The request is refused with ``status``; ``reason`` is logged, not shown."""

    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(f"{status}: {reason}")


class Provider(ABC):
    """A provider's webhook: mounted at ``/webhooks/<name>``."""

    name: str
    max_body_bytes: int = 5 * 1024 * 1024

    @abstractmethod
    def verify(
        self, *, headers: Mapping[str, str], body: bytes, web: WebConfig, now: datetime
    ) -> None:
        """Raise :class:`WebhookRejected` unless the request is the provider's own and fresh."""

    @abstractmethod
    def parse(self, body: bytes) -> list[TrackingEvent]:
        """The events of a verified body; :class:`WebhookRejected` (400) if it is not a
        JSON array (single malformed elements are skipped and logged)."""
