"""Reader addresses and names as the list stores them.

Addresses are checked and normalized with email-validator (no DNS lookups);
``email_key`` (the lower-cased normalized address) makes them unique
case-insensitively, and ``email_hash`` (SHA-256 of the key) is what the consent
ledger and the tombstones keep once a person is erased.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

from digest.errors import InvalidAddress
from digest.safetext import one_line

MAX_NAME_LENGTH = 200


def _cache_domain_checks() -> None:
    """Remember email-validator's check of each domain (the same answer every time).

    The domain half (IDNA, UTS-46, each character's class) is about half of what a check
    costs, and a list holds few domains for many addresses: an import checks 100,000
    addresses, mostly at gmail.com and the like. Only answers are cached (a refused domain
    raises, and is checked again next time), so what is accepted or refused, and the
    normalised form, are exactly email-validator's. If a later email-validator moves the
    function, the check simply runs uncached.
    """
    module = sys.modules.get("email_validator.validate_email")
    check = getattr(module, "validate_email_domain_name", None)
    if module is None or check is None or hasattr(check, "cache_info"):
        return

    @functools.lru_cache(maxsize=4096)
    def cached(domain: str, **options: Any) -> Any:
        return check(domain, **options)

    def checked(domain: str, **options: Any) -> Any:
        return dict(cached(domain, **options))  # a copy: the caller may change it

    checked.cache_info = cached.cache_info  # type: ignore[attr-defined]
    module.validate_email_domain_name = checked  # type: ignore[attr-defined]


_cache_domain_checks()


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
