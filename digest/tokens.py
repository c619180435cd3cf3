"""Signed links: unsubscribe (never expires) and confirm (expires, works once).

Signed with itsdangerous and ``DIGEST_SECRET_KEY``; each purpose has its own
salt, so a confirm token is never accepted as an unsubscribe token or the
other way round. "Works once" is the workflow's part: a confirm token carries
a nonce that must match the subscriber's current ``confirm_nonce``.

Keys rotate without breaking links already sent: the newest key signs, and the
older keys (``DIGEST_SECRET_KEY_PREVIOUS``) still verify, as itsdangerous does
with a list of keys. A token has one form only: base64 that decodes to the same
bytes but is written differently (padding, unused trailing bits) is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from binascii import b2a_base64
from collections.abc import Sequence
from typing import Any

from itsdangerous import (
    BadData,
    SignatureExpired,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
    base64_decode,
    base64_encode,
)

from digest.clock import Clock, system_clock
from digest.errors import TokenError

UNSUBSCRIBE_SALT = "digest.unsubscribe.v1"
CONFIRM_SALT = "digest.confirm.v1"
CSRF_SALT = "digest.csrf.v1"
DESK_LINK_SALT = "digest.desk.link.v1"
DESK_SESSION_SALT = "digest.desk.session.v1"
DESK_CSRF_SALT = b"digest.desk.csrf.v1"


def _signer_with_clock(clock: Clock) -> type[TimestampSigner]:
    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return ClockSigner


class Tokens:
    """Makes and reads the signed tokens of the subscribe/unsubscribe links."""

    def __init__(
        self, secret_key: str, *, previous: Sequence[str] = (), clock: Clock = system_clock
    ):
        """``secret_key`` signs; it and every key of ``previous`` verify."""
        if not secret_key:
            raise TokenError(
                "DIGEST_SECRET_KEY is not set; set it with "
                "export DIGEST_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        # itsdangerous signs with the last key of the list and verifies with any of them
        keys = [k for k in previous if k and k != secret_key] + [secret_key]
        self._unsubscribe = URLSafeSerializer(keys, salt=UNSUBSCRIBE_SALT)
        signer = _signer_with_clock(clock)
        self._confirm = URLSafeTimedSerializer(keys, salt=CONFIRM_SALT, signer=signer)
        self._csrf = URLSafeTimedSerializer(keys, salt=CSRF_SALT, signer=signer)
        # the editors' desk: the emailed sign-in link and the session cookie carry a random
        # id whose validity (once, 15 min; 12 h, ended by sign-out) the store keeps
        self._desk_link = URLSafeSerializer(keys, salt=DESK_LINK_SALT)
        self._desk_session = URLSafeSerializer(keys, salt=DESK_SESSION_SALT)
        self._desk_csrf_key = hmac.new(
            secret_key.encode("utf-8"), DESK_CSRF_SALT, hashlib.sha256
        ).digest()

    # --- unsubscribe: bound to one subscriber, never expires ----------------------

    def unsubscribe(self, subscriber_id: int, email: str | None = None) -> str:
        """A link for this subscriber. Pass ``email`` too when you have it: the link
        then also names the address (as a short hash), so it can never act on
        another subscriber who later gets the same id (SQLite reuses the id of an
        erased last row)."""
        payload: dict[str, Any] = {"u": int(subscriber_id)}
        if email:
            payload["h"] = address_tag(email)
        return str(self._unsubscribe.dumps(payload))

    def read_unsubscribe(self, token: str) -> int:
        return self.read_unsubscribe_bound(token)[0]

    def read_unsubscribe_bound(self, token: str) -> tuple[int, str | None]:
        """(subscriber id, address tag or None) of an unsubscribe token."""
        try:
            data: Any = self._unsubscribe.loads(canonical(token))
        except BadData:
            raise TokenError("this unsubscribe link is not valid (it may be incomplete)") from None
        subscriber_id = _int_field(data, "u", "unsubscribe")
        tag = data.get("h")
        return subscriber_id, tag if isinstance(tag, str) else None

    # --- confirm: expires, carries a nonce -----------------------------------------

    def confirm(self, subscriber_id: int, nonce: str) -> str:
        return str(self._confirm.dumps({"c": int(subscriber_id), "n": str(nonce)}))

    def read_confirm(self, token: str, max_age_seconds: int) -> tuple[int, str]:
        try:
            data: Any = self._confirm.loads(canonical(token), max_age=max_age_seconds)
        except SignatureExpired:
            raise TokenError("this confirmation link has expired") from None
        except BadData:
            raise TokenError("this confirmation link is not valid (it may be incomplete)") from None
        subscriber_id = _int_field(data, "c", "confirmation")
        nonce = data.get("n")
        if not isinstance(nonce, str) or not nonce:
            raise TokenError("this confirmation link is not valid")
        return subscriber_id, nonce

    # --- CSRF: a signed form token, tied to a random form id -----------------------

    def csrf(self, form_id: str) -> str:
        return str(self._csrf.dumps(form_id))

    def read_csrf(self, token: str, max_age_seconds: int) -> str:
        try:
            data: Any = self._csrf.loads(canonical(token), max_age=max_age_seconds)
        except BadData:
            raise TokenError("the form has expired or was not sent by this site") from None
        if not isinstance(data, str):
            raise TokenError("the form was not sent by this site")
        return data

    # --- the editors' desk ------------------------------------------------------------

    def desk_link(self, link_id: str) -> str:
        """The token of an emailed desk sign-in link (``/desk/sign-in/{token}``)."""
        return str(self._desk_link.dumps(link_id))

    def read_desk_link(self, token: str) -> str:
        return _read_id(self._desk_link, token, "sign-in link")

    def desk_session(self, session_id: str) -> str:
        """The desk's session cookie: the session id, signed."""
        return str(self._desk_session.dumps(session_id))

    def read_desk_session(self, token: str) -> str:
        return _read_id(self._desk_session, token, "session")

    def desk_csrf(self, session_id: str) -> str:
        """The desk's form token of a session: an HMAC of its id (the newest key only;
        a rotation signs everyone out of the forms they have open, nothing more)."""
        mac = hmac.new(self._desk_csrf_key, session_id.encode("utf-8"), hashlib.sha256)
        return base64_encode(mac.digest()).decode("ascii")

    def check_desk_csrf(self, session_id: str, value: str | None) -> bool:
        """Whether ``value`` is the form token of ``session_id`` (constant time)."""
        if not value:
            return False
        return hmac.compare_digest(self.desk_csrf(session_id).encode(), value.encode())


def _read_id(serializer: URLSafeSerializer, token: str, what: str) -> str:
    try:
        data: Any = serializer.loads(canonical(token))
    except BadData:
        raise TokenError(f"this {what} is not valid (it may be incomplete)") from None
    if not isinstance(data, str) or not data:
        raise TokenError(f"this {what} is not valid")
    return data


def canonical(token: str) -> str:
    """``token`` if each of its parts is base64 exactly as itsdangerous writes it, else
    ``BadData``. itsdangerous' decoder forgives padding and unused trailing bits, so one
    signature has many spellings; a link must have one (a replayed variant is then not
    a different link, and nothing downstream sees two forms of one token)."""
    body = token.removeprefix(".")  # "." marks a compressed payload
    for part in body.split("."):
        if not part or base64_encode(base64_decode(part)).decode("ascii") != part:
            raise BadData("the token is not in its canonical form")
    return token


def address_tag(email: str) -> str:
    """A short, stable tag of an address (first 12 hex of SHA-256 of its lower case)."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:12]


def _int_field(data: Any, key: str, what: str) -> int:
    if not isinstance(data, dict) or not isinstance(data.get(key), int):
        raise TokenError(f"this {what} link is not valid")
    value: int = data[key]
    return value


def _join(public_url: str, path: str) -> str:
    return f"{public_url.rstrip('/')}{path}"


def unsubscribe_url(public_url: str, token: str) -> str:
    """``{public_url}/unsubscribe/{token}``"""
    return _join(public_url, f"/unsubscribe/{token}")


def confirm_url(public_url: str, token: str) -> str:
    """``{public_url}/confirm/{token}``"""
    return _join(public_url, f"/confirm/{token}")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


class UnsubscribeLinks:
    """subscriber id -> their own one-click unsubscribe URL (one HMAC per call).

    The token is exactly ``Tokens.unsubscribe`` (itsdangerous'
    URL-safe serializer: base64 JSON payload, "." , base64 HMAC-SHA1 with the derived
    key), computed with one keyed ``hmac`` object prepared once and copied per token, so a
    million tokens cost seconds less. Construction checks the fast tokens against ``Tokens`` and falls back
    to ``Tokens`` if they ever differ. Links are signed with the newest key only
    (``keys.current``); older keys only verify, in the web app."""

    def __init__(self, public_url: str, secret: str, previous: Sequence[str] = ()):
        self._tokens = Tokens(secret, previous=previous)  # what the check below compares
        self._base = public_url.rstrip("/") + "/unsubscribe/"
        signer = URLSafeSerializer(secret, salt=UNSUBSCRIBE_SALT).make_signer()
        self._mac = hmac.new(signer.derive_key(), digestmod=hashlib.sha1)
        self._sep = signer.sep.decode() if isinstance(signer.sep, bytes) else signer.sep
        self.fast = all(self._fast(i) == self._tokens.unsubscribe(i) for i in (1, 42, 10**6 + 7))

    def _fast(self, subscriber_id: int) -> str:
        payload = (
            b2a_base64(b'{"u":%d}' % subscriber_id, newline=False).translate(_URLSAFE).rstrip(b"=")
        )
        mac = self._mac.copy()
        mac.update(payload)
        signature = mac.digest()
        sig = b2a_base64(signature, newline=False).translate(_URLSAFE).rstrip(b"=")
        return f"{payload.decode()}{self._sep}{sig.decode()}"

    def token(self, subscriber_id: int) -> str:
        return self._fast(subscriber_id) if self.fast else self._tokens.unsubscribe(subscriber_id)

    def __call__(self, subscriber_id: int) -> str:
        return self._base + self.token(subscriber_id)

    def many(self, subscriber_ids: Sequence[int]) -> list[str]:
        """``[self(i) for i in subscriber_ids]``, with the lookups done once."""
        base, token = self._base, (self._fast if self.fast else self._tokens.unsubscribe)
        return [base + token(i) for i in subscriber_ids]
