"""Signing in to the desk: emailed single-use links, sessions, form tokens.

No passwords. An editor (an address of ``[newsletter] editors``) asks for a link; it
works once and for ``LINK_MINUTES``. Pressing its button (a POST: mail scanners that
open links consume nothing) opens a session of ``SESSION_HOURS``, renewed on use (at
most one write a minute) and ended by signing out. The cookie carries the signed
session id; the store keeps only a hash of each id (of links too), plus when it ends,
so a copied cookie stops working when its session ends, on every replica.

A desk form token is an HMAC of the session id (``digest.tokens.Tokens.desk_csrf``):
it cannot be made without the secret key and the cookie, and dies with the session.

Everything here blocks (store, email): the pages call it from a worker thread.
"""

from __future__ import annotations

import hashlib
import html
import logging
import secrets as pysecrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from digest.backends.base import Backend, Message, Recipient
from digest.clock import Clock
from digest.config import Config
from digest.errors import InvalidAddress, TokenError
from digest.i18n import gettext_for, html_lang
from digest.store import desk as desk_store
from digest.store.database import Store
from digest.tokens import Tokens
from subscribers.addresses import check_address

log = logging.getLogger(__name__)

LINK_MINUTES = 15
SESSION_HOURS = 12
RENEW_AFTER = timedelta(minutes=1)  # a session's end moves at most once a minute
COOKIE = "digest_desk"
COOKIE_PATH = "/desk"


def hashed(value: str) -> str:
    """What the store keeps of a link or session id (64 hex characters)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A live session: who, and the form token of its pages."""

    editor: str
    session_id: str
    csrf_token: str


class DeskAuth:
    """Links, sessions and form tokens over one store, clock and signer."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        tokens: Tokens,
        clock: Clock,
        backend: Callable[[], Backend],
    ):
        self.config = config
        self.store = store
        self.tokens = tokens
        self.clock = clock
        self._backend = backend

    # --- who is an editor -------------------------------------------------------------

    def editor_for(self, address: str) -> str | None:
        """The editor's address as ``[newsletter] editors`` writes it, when ``address``
        is one of them (compared normalized, case-insensitively); else None."""
        key = _key(address)
        if key is None:
            return None
        for editor in self.config.newsletter.editors:
            if _key(editor) == key:
                return editor
        return None

    # --- links ----------------------------------------------------------------------

    def send_link(self, address: str) -> bool:
        """The work of a sign-in request (after the page has answered): for an editor, a
        new link in the store and in their inbox. False (nothing done) for anyone else."""
        editor = self.editor_for(address)
        if editor is None:
            return False
        link_id = pysecrets.token_urlsafe(32)
        now = self.clock()
        desk_store.create_sign_in(
            self.store,
            hashed(link_id),
            editor,
            now=now,
            expires_at=now + timedelta(minutes=LINK_MINUTES),
        )
        url = link_url(self.config, self.tokens.desk_link(link_id))
        self._backend().send_batch(sign_in_message(self.config, url), [Recipient(email=editor)])
        return True

    def link_state(self, token: str) -> desk_store.LinkState:
        try:
            link_id = self.tokens.read_desk_link(token)
        except TokenError:
            return "unknown"
        return desk_store.sign_in_state(self.store, hashed(link_id), self.clock())

    def use_link(self, token: str) -> str | None:
        """Consume the link (once) and open a session: the cookie's value, or None when
        the link is not valid, was used or has expired."""
        try:
            link_id = self.tokens.read_desk_link(token)
        except TokenError:
            return None
        now = self.clock()
        editor = desk_store.use_sign_in(self.store, hashed(link_id), now)
        if editor is None or self.editor_for(editor) is None:
            return None
        session_id = pysecrets.token_urlsafe(32)
        desk_store.create_session(
            self.store,
            hashed(session_id),
            editor,
            now=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
        desk_store.record(self.store, at=now, editor=editor, action="sign_in", issue_key=None)
        return self.tokens.desk_session(session_id)

    # --- sessions -------------------------------------------------------------------

    def session(self, cookie: str | None) -> SignedIn | None:
        """The live session of a cookie, renewed; None when there is none (no cookie, a
        forged one, ended, expired, or its editor is no longer in the config)."""
        if not cookie or len(cookie) > 200:
            return None
        try:
            session_id = self.tokens.read_desk_session(cookie)
        except TokenError:
            return None
        now = self.clock()
        row = desk_store.live_session(self.store, hashed(session_id), now)
        if row is None or self.editor_for(row.email) is None:
            return None
        renewed = now + timedelta(hours=SESSION_HOURS)
        if renewed - row.expires_at >= RENEW_AFTER:
            desk_store.renew_session(self.store, hashed(session_id), renewed)
        return SignedIn(row.email, session_id, self.tokens.desk_csrf(session_id))

    def sign_out(self, signed_in: SignedIn) -> None:
        now = self.clock()
        if desk_store.end_session(self.store, hashed(signed_in.session_id), now):
            desk_store.record(
                self.store, at=now, editor=signed_in.editor, action="sign_out", issue_key=None
            )

    def check_csrf(self, signed_in: SignedIn, value: str | None) -> bool:
        return self.tokens.check_desk_csrf(signed_in.session_id, value)


def _key(address: str) -> str | None:
    try:
        return check_address(address).key
    except InvalidAddress:
        return None


def link_url(config: Config, token: str) -> str:
    """``{public_url}/desk/sign-in/{token}``"""
    return f"{config.newsletter.public_url.rstrip('/')}/desk/sign-in/{token}"


def sign_in_message(config: Config, url: str) -> Message:
    """The sign-in email: the link, how long it works, what to do if you did not ask
    (in ``[newsletter] locale``)."""
    nl = config.newsletter
    _ = gettext_for(config)
    subject = _("Your sign-in link to the %(name)s desk", name=nl.name)
    open_it = _("Open this link to sign in to the %(name)s desk:", name=nl.name)
    works = _.ngettext(
        "It works once, for %(num)d minute, and asks you to press a button.",
        "It works once, for %(num)d minutes, and asks you to press a button.",
        LINK_MINUTES,
    )
    ignore = _("If you did not ask for it, ignore this email: nobody can sign in without it.")
    lines = [open_it, "", url, "", works, ignore]
    text = "\n".join(lines) + "\n"
    sign_in = _("Sign in to the desk")
    copy_it = _("Or copy it into your browser:")
    link = html.escape(url, quote=True)
    body = (
        f"<p>{html.escape(open_it)}</p>"
        f'<p><a href="{link}">{html.escape(sign_in)}</a></p>'
        f"<p>{html.escape(copy_it)}<br>{link}</p>"
        f"<p>{html.escape(works)} {html.escape(ignore)}</p>"
    )
    page = (
        f'<!doctype html><html lang="{html_lang(nl.locale)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>"
        f'<body style="font-family:sans-serif;line-height:1.5">{body}</body></html>'
    )
    return Message(
        subject=subject,
        html=page,
        text=text,
        from_email=nl.from_email,
        from_name=nl.from_name or nl.name,
        reply_to=nl.reply_to,
        categories=("desk",),
        custom_args={"kind": "desk_sign_in"},
    )


__all__ = [
    "COOKIE",
    "COOKIE_PATH",
    "LINK_MINUTES",
    "SESSION_HOURS",
    "DeskAuth",
    "SignedIn",
    "hashed",
    "link_url",
    "sign_in_message",
]
