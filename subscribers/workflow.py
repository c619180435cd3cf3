"""Double opt-in and opt-out: what happens when someone subscribes, confirms or leaves.

subscribe → ``pending`` and a confirmation email → confirm → ``active``.
Subscribing again while pending resends the email at most once per
``web.resend_confirmation_minutes``; an active, bounced or complained address
gets no email; an unsubscribed one starts over with a new confirmation. The
caller (web page or CLI) answers the same whatever the outcome, so nobody
learns who is on the list.

A confirmation link carries a nonce that must match the subscriber's
``confirm_nonce``: confirming clears it, so a link works once; an unsubscribe
link is bound to one subscriber and never expires.
"""

from __future__ import annotations

import secrets as pysecrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.backends.base import Backend, Message
from digest.clock import Clock, system_clock
from digest.config import Config, Secrets
from digest.errors import TokenError
from digest.store.database import Store
from digest.store.tables import Subscriber
from digest.tokens import Tokens, address_tag
from subscribers import confirmation, welcome
from subscribers import repository as repo

Outcome = Literal[
    "new",  # added as pending, confirmation to send
    "resend",  # still pending, confirmation to send again
    "throttled",  # still pending, sent too recently: nothing sent
    "resubscribed",  # was unsubscribed: pending again, confirmation to send
    "active",  # already subscribed: nothing to do
    "suppressed",  # bounced or complained: nothing sent (and nothing said)
]

ConfirmState = Literal["ready", "already_confirmed"]


@dataclass(frozen=True)
class SubscribeResult:
    outcome: Outcome
    subscriber_id: int
    send_confirmation: bool  # the caller should call ``Workflow.send_confirmation``


@dataclass(frozen=True)
class LinkTarget:
    """Whom a confirm or unsubscribe link is for, as the page shows it."""

    subscriber_id: int
    email: str
    status: str


@dataclass(frozen=True)
class Visitor:
    """Who is asking, for the consent ledger."""

    ip: str | None = None
    user_agent: str | None = None


NOBODY = Visitor()


class Workflow:
    """The list's rules, over one store, one clock and one delivery backend."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        secrets: Secrets | None = None,
        clock: Clock = system_clock,
        backend: Backend | None = None,
    ):
        self.config = config
        self.store = store
        self.secrets = secrets if secrets is not None else Secrets.from_env()
        self.clock = clock
        self._backend = backend
        self._tokens: Tokens | None = None
        self._key_recorded = False  # the signing key's fingerprint, once per workflow

    # --- dependencies ---------------------------------------------------------------

    @property
    def tokens(self) -> Tokens:
        if self._tokens is None:
            # the newest key signs; the previous ones verify the links already sent
            self._tokens = Tokens(
                self.secrets.secret_key or "",
                previous=self.secrets.previous_secret_keys,
                clock=self.clock,
            )
        return self._tokens

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from digest.backends import get_backend

            self._backend = get_backend(self.config, self.secrets)
        return self._backend

    @property
    def confirm_max_age(self) -> int:
        return int(self.config.web.confirm_token_days * 86400)

    def now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None:
            raise ValueError("the clock must return an aware datetime")
        return moment

    # --- subscribing ----------------------------------------------------------------

    def request_subscription(
        self,
        address: str,
        *,
        name: str | None = None,
        source: str = "form",
        visitor: Visitor = NOBODY,
    ) -> SubscribeResult:
        """Record the request and decide whether a confirmation goes out.

        Raises ``repository.InvalidAddress`` for an address that is not one. An
        erased (tombstoned) address may subscribe again: the tombstone goes when
        the person confirms.
        """
        addr = repo.check_address(address)
        try:
            return self._request(addr, name=name, source=source, visitor=visitor)
        except (IntegrityError, repo.AlreadyListed):
            # the same new address posted twice at once: the other request added it
            return self._request(addr, name=name, source=source, visitor=visitor)

    def _request(
        self, addr: repo.Address, *, name: str | None, source: str, visitor: Visitor
    ) -> SubscribeResult:
        now = self.now()
        form_version = self.config.web.form_version if source == "form" else None
        with self.store.session() as s:
            # locked: two requests for one address on two replicas must not both find it
            # unsubscribed (two ledger rows) or both reserve a confirmation (two emails)
            sub = repo.get_by_email(s, addr.email, for_update=True)
            if sub is None:
                sub = repo.add(
                    s,
                    addr.email,
                    at=now,
                    name=name,
                    source=source,
                    ip=visitor.ip,
                    user_agent=visitor.user_agent,
                    form_version=form_version,
                )
                self._reserve_confirmation(sub, now, new_nonce=True)
                return SubscribeResult("new", sub.id, True)
            if sub.status == "active":
                return SubscribeResult("active", sub.id, False)
            if sub.status in ("bounced", "complained"):
                return SubscribeResult("suppressed", sub.id, False)
            if sub.status == "unsubscribed":
                if name and not sub.name:
                    sub.name = repo.clean_name(name)
                sub.source = source
                repo.set_status(
                    s,
                    sub,
                    "pending",
                    kind="subscribed",
                    at=now,
                    source=source,
                    ip=visitor.ip,
                    user_agent=visitor.user_agent,
                    form_version=form_version,
                    detail="subscribed again after unsubscribing",
                )
                self._reserve_confirmation(sub, now, new_nonce=True)
                return SubscribeResult("resubscribed", sub.id, True)
            # pending
            if self._recently_sent(sub, now):
                return SubscribeResult("throttled", sub.id, False)
            self._reserve_confirmation(sub, now, new_nonce=not sub.confirm_nonce)
            return SubscribeResult("resend", sub.id, True)

    def _recently_sent(self, sub: Subscriber, now: datetime) -> bool:
        if sub.confirmation_sent_at is None:
            return False
        wait = timedelta(minutes=self.config.web.resend_confirmation_minutes)
        return now - sub.confirmation_sent_at < wait

    @staticmethod
    def _reserve_confirmation(sub: Subscriber, now: datetime, *, new_nonce: bool) -> None:
        # Reserving the send time inside the request's transaction keeps two
        # quick requests from sending two emails.
        if new_nonce:
            sub.confirm_nonce = pysecrets.token_urlsafe(18)
        sub.confirmation_sent_at = now

    def send_confirmation(self, subscriber_id: int) -> bool:
        """Render and send the confirmation email (``subscribers.confirmation``)."""
        return confirmation.send_confirmation(self, subscriber_id)

    def record_key(self) -> None:
        """Note the fingerprint of the key that signs confirmation links (once: it cannot
        change under a running workflow), so a later key change is caught."""
        if self._key_recorded or not self.secrets.secret_key:
            return
        from digest.signing_secret import fingerprint
        from digest.store.keys import record_key_use

        record_key_use(self.store, fingerprint(self.secrets.secret_key), at=self.now())
        self._key_recorded = True

    def confirmation_message(self, url: str, *, name: str | None, source: str) -> Message:
        """The confirmation email for ``url`` (``subscribers.confirmation``)."""
        return confirmation.confirmation_message(self, url, name=name, source=source)

    def subscribe(
        self,
        address: str,
        *,
        name: str | None = None,
        source: str = "cli",
        visitor: Visitor = NOBODY,
    ) -> SubscribeResult:
        """``request_subscription`` and, when due, the confirmation email (synchronously)."""
        result = self.request_subscription(address, name=name, source=source, visitor=visitor)
        if result.send_confirmation:
            self.send_confirmation(result.subscriber_id)
        return result

    # --- confirming -----------------------------------------------------------------

    def confirm_target(self, token: str) -> tuple[LinkTarget, ConfirmState]:
        """Check a confirmation link without changing anything (the GET page).

        Raises ``TokenError`` with the reason for a tampered, expired, used or
        replaced link."""
        subscriber_id, nonce = self.tokens.read_confirm(token, self.confirm_max_age)
        with self.store.session() as s:
            sub = repo.get(s, subscriber_id)
            return self._confirm_state(sub, nonce)

    def _confirm_state(self, sub: Subscriber | None, nonce: str) -> tuple[LinkTarget, ConfirmState]:
        if sub is None:
            raise TokenError("this confirmation link is no longer valid")
        target = LinkTarget(sub.id, sub.email, sub.status)
        if sub.status == "active":
            return target, "already_confirmed"
        if sub.status != "pending" or not sub.confirm_nonce:
            raise TokenError("this confirmation link has already been used")
        if not pysecrets.compare_digest(sub.confirm_nonce, nonce):
            raise TokenError(
                "this confirmation link was replaced by a newer one; "
                "use the link in the latest email"
            )
        return target, "ready"

    def confirm(self, token: str, *, visitor: Visitor = NOBODY) -> tuple[LinkTarget, ConfirmState]:
        """Confirm (the POST): pending → active, once. Raises ``TokenError``.

        ``"ready"`` comes back only to the one call that made the change (decided under
        the row lock, returned after the commit): that caller, and no other, then sends
        the welcome email (``send_welcome``). A second confirm gets
        ``"already_confirmed"``."""
        subscriber_id, nonce = self.tokens.read_confirm(token, self.confirm_max_age)
        with self.store.session() as s:
            # locked until the commit: a second confirm (a double click reaching another
            # replica) then finds it active, and an unsubscribe racing it waits and wins
            # (an unlocked read let the confirm write "active" over the unsubscribe)
            sub = repo.get(s, subscriber_id, for_update=True)
            target, state = self._confirm_state(sub, nonce)
            if state == "ready" and sub is not None:
                repo.lift_tombstone(s, sub.email)  # they came back of their own accord
                repo.set_status(
                    s,
                    sub,
                    "active",
                    at=self.now(),
                    source="form",
                    ip=visitor.ip,
                    user_agent=visitor.user_agent,
                    form_version=self.config.web.form_version,
                )
                target = LinkTarget(sub.id, sub.email, sub.status)
            return target, state

    # --- the welcome (subscribers.welcome) -----------------------------------------------

    def confirm_and_welcome(
        self, token: str, *, visitor: Visitor = NOBODY
    ) -> tuple[LinkTarget, ConfirmState]:
        """``confirm``, then the welcome email when this call confirmed
        (``subscribers.welcome.confirm_and_welcome``)."""
        return welcome.confirm_and_welcome(self, token, visitor=visitor)

    def send_welcome(self, subscriber_id: int) -> bool:
        """The welcome email to a reader who has just confirmed
        (``subscribers.welcome.send_welcome``)."""
        return welcome.send_welcome(self, subscriber_id)

    # --- unsubscribing --------------------------------------------------------------

    def unsubscribe_target(self, token: str) -> LinkTarget | None:
        """Whom an unsubscribe link is for (None: no longer on the list). ``TokenError``
        for a tampered link."""
        with self.store.session() as s:
            sub = self._unsubscribe_subscriber(s, token)
            return LinkTarget(sub.id, sub.email, sub.status) if sub else None

    def _unsubscribe_subscriber(self, s: Session, token: str) -> Subscriber | None:
        subscriber_id, tag = self.tokens.read_unsubscribe_bound(token)
        sub = repo.get(s, subscriber_id)
        if sub is not None and not _links_person(tag, sub.email_key):
            return None  # the link's subscriber was erased; the id now belongs to someone else
        return sub

    def unsubscribe(
        self, token: str, *, one_click: bool = False, visitor: Visitor = NOBODY
    ) -> LinkTarget | None:
        """Unsubscribe the link's subscriber at once (idempotent); None when the link's
        subscriber is no longer on the list. ``TokenError`` for a tampered link."""
        subscriber_id, tag = self.tokens.read_unsubscribe_bound(token)
        source = "email" if one_click else "form"
        with self.store.transaction() as conn:
            done = repo.unsubscribe_by_id(
                conn,
                subscriber_id,
                key_matches=lambda key: _links_person(tag, key),
                at=self.now(),
                source=source,
                ip=visitor.ip,
                user_agent=visitor.user_agent,
                detail="one-click unsubscribe (RFC 8058)" if one_click else "unsubscribe page",
                form_version=self.config.web.form_version if source == "form" else None,
            )
        return LinkTarget(done.id, done.email, done.status) if done else None

    def unsubscribe_address(self, address: str, *, source: str = "cli") -> LinkTarget | None:
        """Unsubscribe by address (the CLI); None when the address is not on the list."""
        with self.store.session() as s:
            sub = repo.get_by_email(s, address)
            if sub is None:
                return None
            self._unsubscribe(s, sub, source=source, visitor=NOBODY, detail="by the editors")
            return LinkTarget(sub.id, sub.email, sub.status)

    def _unsubscribe(
        self, s: Session, sub: Subscriber, *, source: str, visitor: Visitor, detail: str
    ) -> None:
        if sub.status in ("pending", "active"):
            repo.set_status(
                s,
                sub,
                "unsubscribed",
                at=self.now(),
                source=source,
                ip=visitor.ip,
                user_agent=visitor.user_agent,
                detail=detail,
                form_version=self.config.web.form_version if source == "form" else None,
            )
        # unsubscribed already: nothing to do; bounced/complained stay as they are
        # (they get no mail either way).


def _links_person(tag: str | None, email_key: str) -> bool:
    """Whether an unsubscribe link's address tag names this row's address (a link that
    carries no tag is matched by its id alone)."""
    return tag is None or address_tag(email_key) == tag
