"""SendGrid's signed Event Webhook.

Verification: SendGrid signs ``timestamp header + raw body`` with ECDSA
(P-256, SHA-256) and sends the base64 DER signature in
``X-Twilio-Email-Event-Webhook-Signature`` and the Unix time in
``X-Twilio-Email-Event-Webhook-Timestamp``. The public key is the base64 DER
SubjectPublicKeyInfo SendGrid shows under Settings → Mail Settings → Event
Webhook → Signature Verification; it goes in ``[web] sendgrid_webhook_public_key``.

We verify with ``cryptography`` directly rather than with
``sendgrid.helpers.eventwebhook.EventWebhook``: that helper wants the body as
a ``str`` (re-encoding it as UTF-8, so the bytes checked may differ from the
bytes received), lets a malformed base64 signature raise instead of failing,
accepts a key on any curve and has no replay window. Here the raw bytes are
verified, the key must be P-256, and the timestamp must be within
``[web] webhook_tolerance_seconds`` of now, in either direction.

Events (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event):
see ``_EVENT_MAP`` and ``_dropped_action`` for what each one does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from digest.config import WebConfig
from digest.errors import ConfigError

log = logging.getLogger(__name__)
from subscribers.webhooks.base import Action, Counter, Provider, TrackingEvent, WebhookRejected

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
KEY_SETTING = "web.sendgrid_webhook_public_key"
MAX_BODY_BYTES = 5 * 1024 * 1024  # SendGrid batches events well below this

_ISSUE_KEY = re.compile(r"^\d{4}-W\d{2}$")
_MAX_EVENT_ID = 100  # WebhookEvent.event_id is String(100)

# event name → (counter, action). Not listed: counted as unknown_events, ignored.
_EVENT_MAP: dict[str, tuple[Counter | None, Action | None]] = {
    "delivered": ("delivered", "delivered"),
    "open": ("opened", None),
    "click": ("clicked", None),
    "spamreport": ("complained", "complained"),
    "unsubscribe": ("unsubscribed", "unsubscribed"),
    "group_unsubscribe": ("unsubscribed", "unsubscribed"),
    # Known, but nothing to count or do: every message is "processed"; "deferred" is
    # retried by SendGrid and ends as delivered, bounce or dropped; a re-subscribe to a
    # SendGrid group does not re-subscribe anyone here (that takes our own opt-in).
    "processed": (None, None),
    "deferred": (None, None),
    "group_resubscribe": (None, None),
}


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The P-256 key from ``[web] sendgrid_webhook_public_key`` (base64 DER; PEM also taken)."""
    return _load_public_key(text)


@lru_cache(maxsize=8)
def _load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    body = re.sub(r"-----(BEGIN|END) PUBLIC KEY-----", "", text)
    body = "".join(body.split())
    try:
        der = base64.b64decode(body, validate=True)
        key = load_der_public_key(der)
    except (binascii.Error, ValueError):
        raise ConfigError(
            "is not a public key: paste the base64 text SendGrid shows under Mail Settings → "
            "Event Webhook → Signature Verification",
            key=KEY_SETTING,
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError("must be an ECDSA P-256 public key (SendGrid's)", key=KEY_SETTING)
    return key


def sign_payload(private_key: ec.EllipticCurvePrivateKey, timestamp: str, body: bytes) -> str:
    """What SendGrid does: base64 DER ECDSA/SHA-256 over ``timestamp + body`` (for tests/tools)."""
    signature = private_key.sign(timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode("ascii")


class SendGridProvider(Provider):
    name = "sendgrid"
    max_body_bytes = MAX_BODY_BYTES

    def verify(
        self, *, headers: Mapping[str, str], body: bytes, web: WebConfig, now: datetime
    ) -> None:
        if not web.sendgrid_webhook_public_key:
            raise WebhookRejected(
                503,
                f"[{KEY_SETTING}] is not set in the config: the SendGrid Event Webhook "
                "cannot be verified, so nothing is accepted (see docs/webhooks.md)",
            )
        try:
            key = load_public_key(web.sendgrid_webhook_public_key)
        except ConfigError as exc:
            raise WebhookRejected(503, str(exc)) from None
        signature = headers.get(SIGNATURE_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise WebhookRejected(403, f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
        timestamp = timestamp.strip()
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            raise WebhookRejected(403, f"{TIMESTAMP_HEADER} {timestamp[:40]!r} is not Unix time")
        age = now.timestamp() - int(timestamp)
        if abs(age) > web.webhook_tolerance_seconds:
            when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
            raise WebhookRejected(
                403,
                f"{TIMESTAMP_HEADER} is {when}, outside the tolerance of "
                f"{web.webhook_tolerance_seconds} s ([web] webhook_tolerance_seconds): "
                "a replayed request, or this server's clock is wrong",
            )
        try:
            raw_signature = base64.b64decode(signature.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise WebhookRejected(403, f"{SIGNATURE_HEADER} is not base64") from None
        try:
            key.verify(raw_signature, timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise WebhookRejected(403, "the signature does not match the body") from None

    def parse(self, body: bytes) -> list[TrackingEvent]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise WebhookRejected(400, f"the body is not JSON: {exc}") from None
        if not isinstance(data, list):
            raise WebhookRejected(400, "the body is not a JSON array of events")
        events = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                # Refusing the whole POST would make SendGrid retry it for a day and the
                # valid events beside this item would never be applied: skip it, loudly.
                log.warning(
                    "SendGrid webhook: event %d is not a JSON object, skipped: %.100r", i, item
                )
                continue
            events.append(to_tracking_event(item))
        return events


def to_tracking_event(item: dict[str, Any]) -> TrackingEvent:
    """One SendGrid event as a provider-neutral :class:`TrackingEvent`."""
    name = _text(item.get("event")) or ""
    counter: Counter | None
    action: Action | None
    detail: str | None = None
    if name == "bounce":
        # "type" is "bounce" (hard: the address does not exist) or "blocked" (soft: the
        # receiving server refused for now; also "expired": retried until SendGrid gave
        # up). Older payloads have no type: a hard bounce. Any other type is taken as
        # soft: only a clear hard bounce suppresses at once.
        kind = (_text(item.get("type")) or "bounce").lower()
        if kind == "bounce":
            counter, action = "bounced", "bounced"
        else:
            counter, action = "blocked", "soft_bounce"
        detail = _join(
            f"{name} ({kind})",
            _text(item.get("status")),
            _text(item.get("bounce_classification")),
            _text(item.get("reason")),
        )
    elif name == "dropped":
        reason = _text(item.get("reason")) or _text(item.get("type"))
        counter, action = "dropped", _dropped_action(reason)
        detail = _join("dropped", reason)
    elif name in _EVENT_MAP:
        counter, action = _EVENT_MAP[name]
        if name == "group_unsubscribe":
            detail = _join(name, f"asm_group_id={item.get('asm_group_id')}")
        elif action is not None:
            detail = name
    else:
        counter, action = "unknown_events", None
        detail = _join(name) or "(no event name)"
    return TrackingEvent(
        event_id=_event_id(item),
        provider_event=name[:30] or "(none)",
        counter=counter,
        action=action,
        email=_text(item.get("email")),
        issue_key=_issue_key(item.get("issue")),
        occurred_at=_occurred_at(item.get("timestamp")),
        detail=detail,
        url=_text(item.get("url")) if name == "click" else None,
    )


def _dropped_action(reason: str | None) -> Action | None:
    """SendGrid drops mail to addresses on its suppression lists; mirror those here.

    Other drop reasons ("Invalid SMTPAPI header", "Spam Content", "Recipient List over
    Package Quota") are about our message or account, not the person: counted only.
    """
    r = (reason or "").strip().lower()
    if r == "invalid" or r.startswith(("bounced address", "invalid address")):
        return "bounced"
    if r.startswith("spam reporting address"):
        return "complained"
    if r.startswith(("unsubscribed address", "unsubscribed group")):
        return "unsubscribed"
    return None


def _event_id(item: dict[str, Any]) -> str:
    """``sg_event_id``; SendGrid always sends one. Without it, a hash of the event itself,
    so a repeated delivery of the very same event is still applied once."""
    sg = _text(item.get("sg_event_id"))
    if sg and len(sg) <= _MAX_EVENT_ID:
        return sg
    source = sg.encode("utf-8") if sg else orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(source).hexdigest()


def _issue_key(value: Any) -> str | None:
    text = _text(value)
    return text if text and _ISSUE_KEY.match(text) else None


def _occurred_at(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _join(*parts: str | None) -> str:
    """One line (remote servers write the reasons: no newlines or control characters
    reach the log or the ledger), at most 1,000 characters."""
    text = ": ".join(p for p in parts if p)
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:1000]
