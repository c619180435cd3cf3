"""The secret that signs the links in emails (unsubscribe, confirm), and its rotation.

Production: ``$DIGEST_SECRET_KEY``, always. For the bundled sample only — a config
that says ``[web] development_secret = true``, on a SQLite database *and* a
loopback ``newsletter.public_url`` (127.0.0.1 / localhost) — a random development
secret is generated once and kept beside the database as ``<database>.dev-secret``
(mode 0600), so the sample sends with no setup and ``digest serve`` on the same
machine can read its links. Anything else without ``$DIGEST_SECRET_KEY`` is a
configuration error naming the variable, raised before anything is built or asked.

Links already sent must keep working (Gmail and Yahoo require one-click unsubscribe),
so the database records a fingerprint of every key that signed links
(``signing_keys``), and a key whose fingerprint differs from the last one used is
refused unless that one is among ``$DIGEST_SECRET_KEY_PREVIOUS`` (older keys that
verify, never sign). ``key_status`` explains the whole setup (`digest keys rotate`,
`digest check`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets as _secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from digest.config import Config, Secrets
from digest.errors import DeliveryConfigError, KeyChangedError
from digest.store.keys import KeyUse, recorded_keys
from digest.wording import plural

if TYPE_CHECKING:
    from digest.store.database import Store

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MIN_SECRET_CHARS = 16  # shorter keys can be guessed from one link, and links forged
NEW_KEY_COMMAND = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
HOW_TO_SET = (
    f"export DIGEST_SECRET_KEY=$({NEW_KEY_COMMAND}) "
    "and keep it: links already sent stop working if it changes"
)
FINGERPRINT_LABEL = b"digest key fingerprint"


def dev_secret_path(config: Config) -> Path | None:
    """Where the development secret lives, or None when one is not allowed: only a config
    that asks for one (the bundled sample), on SQLite, with links to this machine."""
    if not config.web.development_secret:
        return None
    host = urlsplit(config.newsletter.public_url).hostname or ""
    if host not in LOOPBACK_HOSTS:
        return None
    try:
        url = make_url(config.database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    db = Path(url.database)
    if not db.is_absolute():
        db = config.base_dir / db
    return db.with_name(db.name + ".dev-secret")


def signing_secret(config: Config, secrets: Secrets | None = None) -> tuple[str, bool]:
    """(secret, is_development_secret)."""
    secrets = secrets or Secrets.from_env()
    if secrets.secret_key:
        if len(secrets.secret_key) < MIN_SECRET_CHARS:
            raise DeliveryConfigError(
                f"DIGEST_SECRET_KEY is only {plural(len(secrets.secret_key), 'character')}; "
                f"links signed with it could be forged. Use at least {MIN_SECRET_CHARS}: "
                f"{HOW_TO_SET}"
            )
        return secrets.secret_key, False
    path = dev_secret_path(config)
    if path is None:
        raise DeliveryConfigError(missing_key_message(config))
    try:
        return path.read_text().strip(), True
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = _secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it just now
        return path.read_text().strip(), True
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value, True


def missing_key_message(config: Config) -> str:
    """Why there is no key, and the command that sets one (a configuration error: exit 2)."""
    whose = str(config.path) if config.path else "this newsletter"
    message = (
        f"DIGEST_SECRET_KEY is not set, and the links in the emails of {whose} "
        "(unsubscribe, confirm) are signed with it. Create one and keep it (links already "
        f"sent stop working if it changes):\n    export DIGEST_SECRET_KEY=$({NEW_KEY_COMMAND})"
    )
    if config.web.development_secret:
        message += (
            "\n(web.development_secret is for the bundled sample: it needs a SQLite database "
            "and a newsletter.public_url on this machine, 127.0.0.1 or localhost)"
        )
    return message


def fingerprint(key: str) -> str:
    """A short name for a key, safe to store and print: an HMAC of a fixed label under the
    key, so it cannot be turned back into the key nor computed without it."""
    return hmac.new(key.encode("utf-8"), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def previous_keys(secrets: Secrets) -> tuple[str, ...]:
    """``$DIGEST_SECRET_KEY_PREVIOUS``, each long enough: a key that verifies links must be
    as hard to guess as one that signs them, or links could be forged with it."""
    for n, key in enumerate(secrets.previous_secret_keys, 1):
        if len(key) < MIN_SECRET_CHARS:
            raise DeliveryConfigError(
                f"DIGEST_SECRET_KEY_PREVIOUS: key {n} is only {len(key)} characters; links it "
                f"verifies could be forged. Give the old keys exactly as they were (at least "
                f"{MIN_SECRET_CHARS} characters each), comma-separated"
            )
    return secrets.previous_secret_keys


@dataclass(frozen=True)
class SigningKeys:
    """The key that signs new links, and the older ones that still verify."""

    current: str
    previous: tuple[str, ...] = ()
    development: bool = False  # ``current`` is the sample's generated development secret

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.current)

    @property
    def previous_fingerprints(self) -> tuple[str, ...]:
        return tuple(fingerprint(k) for k in self.previous)

    def verifies(self, key_fingerprint: str) -> bool:
        """Links signed by the key with this fingerprint are accepted."""
        return key_fingerprint == self.fingerprint or key_fingerprint in self.previous_fingerprints


def signing_keys(config: Config, secrets: Secrets | None = None) -> SigningKeys:
    """The keys of this environment; ``DeliveryConfigError`` (exit 2) when there is none."""
    secrets = secrets or Secrets.from_env()
    current, development = signing_secret(config, secrets)
    return SigningKeys(current, previous_keys(secrets), development)


# --- the fingerprints in the database: digest.store.keys ------------------------------------


def check_key(config: Config, store: Store, keys: SigningKeys) -> None:
    """``KeyChangedError`` (exit 1) when the links signed last would not verify with
    ``keys``: the key changed and the old one is not in DIGEST_SECRET_KEY_PREVIOUS."""
    history = recorded_keys(store)
    if history and not keys.verifies(history[0].fingerprint):
        raise KeyChangedError(_changed_message(config, keys, history[0]))


def _changed_message(config: Config, keys: SigningKeys, last: KeyUse) -> str:
    previous = ", ".join(keys.previous_fingerprints) or "not set"
    old_key = "<the old key>"
    dev = dev_secret_path(config)
    if (
        dev is not None
        and dev.is_file()
        and fingerprint(dev.read_text().strip()) == last.fingerprint
    ):
        old_key = f"$(cat {dev})"  # the sample's development secret signed them
    return (
        f"DIGEST_SECRET_KEY has changed: its fingerprint is {keys.fingerprint}, but the links "
        f"already sent were signed with the key whose fingerprint is {last.describe()}, and "
        f"DIGEST_SECRET_KEY_PREVIOUS (fingerprints: {previous}) does not hold it. With this key "
        'alone every unsubscribe link in those emails would answer "This link does not work". '
        "Set DIGEST_SECRET_KEY back to that key, or keep it for verification beside the new "
        f"one (comma-separated, for several):\n    export DIGEST_SECRET_KEY_PREVIOUS={old_key}\n"
        "`digest keys rotate` explains the procedure."
    )


# --- the whole setup, explained (`digest keys rotate`, `digest check`) ---------------------


@dataclass(frozen=True)
class KeyStatus:
    """Whether this environment's keys keep every link signed last working.

    ``exit_code``: 0 consistent; 1 the key changed and the links signed last would break;
    2 no usable key (not set, or too short: a configuration matter). ``lines`` say what
    was found, one fact each, with the fix when there is one."""

    ok: bool
    exit_code: int
    fingerprint: str | None  # of DIGEST_SECRET_KEY (or the sample's development secret)
    last_fingerprint: str | None  # of the key that signed links last, as recorded
    previous_fingerprints: tuple[str, ...]
    lines: tuple[str, ...]


def key_status(config: Config, store: Store | None, secrets: Secrets | None = None) -> KeyStatus:
    """Check the keys of ``secrets`` (default: the environment) against the fingerprints
    recorded in ``store`` (None: a database that cannot be read; only the keys themselves
    are checked). Reads only: neither the development secret nor the database (which may
    predate the ``signing_keys`` table) is created or changed."""
    secrets = secrets or Secrets.from_env()
    history = _history_if_any(store) if store is not None else []
    last = history[0] if history else None
    if store is None:
        lines = [
            "the database cannot be read: the key was not compared with the one that "
            + "signed links last"
        ]
    else:
        lines = [
            f"links signed last with the key whose fingerprint is {last.describe()}"
            if last
            else "no key has signed links yet (or only before fingerprints were recorded)"
        ]
    try:
        keys = _peek_keys(config, secrets)
    except DeliveryConfigError as exc:
        return KeyStatus(
            False, 2, None, (last.fingerprint if last else None), (), (str(exc), *lines)
        )
    if keys is None:  # the sample, before its first send generates the development secret
        lines.insert(
            0,
            "DIGEST_SECRET_KEY: not set; this sample's first send generates a "
            f"development secret ({dev_secret_path(config)})",
        )
        if last is None:
            return KeyStatus(True, 0, None, None, (), (*lines, *(["consistent"] if store else [])))
        lines.append("NOT consistent: the development secret that signed those links is gone")
        return KeyStatus(False, 1, None, last.fingerprint, (), tuple(lines))
    source = "not set; the sample's development secret" if keys.development else "set"
    lines[:0] = [
        f"DIGEST_SECRET_KEY: {source}, fingerprint {keys.fingerprint}",
        "DIGEST_SECRET_KEY_PREVIOUS: " + (", ".join(keys.previous_fingerprints) or "not set"),
    ]
    ok = last is None or keys.verifies(last.fingerprint)
    if store is not None:
        lines.append(_verdict(keys, last))
    lines += _older_keys(keys, history)
    return KeyStatus(
        ok,
        0 if ok else 1,
        keys.fingerprint,
        (last.fingerprint if last else None),
        keys.previous_fingerprints,
        tuple(lines),
    )


def _history_if_any(store: Store) -> list[KeyUse]:
    """``recorded_keys``, or none from a database not yet migrated to record them."""
    try:
        return recorded_keys(store)
    except SQLAlchemyError:
        if "signing_keys" in inspect(store.engine).get_table_names():
            raise
        return []


def _peek_keys(config: Config, secrets: Secrets) -> SigningKeys | None:
    """``signing_keys`` without generating the development secret (None: not there yet)."""
    if not secrets.secret_key:
        path = dev_secret_path(config)
        if path is None:
            raise DeliveryConfigError(missing_key_message(config))
        if not path.is_file():
            previous_keys(secrets)
            return None
    return signing_keys(config, secrets)


def _verdict(keys: SigningKeys, last: KeyUse | None) -> str:
    if last is None:
        return "consistent: the first send or confirmation email records this key"
    if last.fingerprint == keys.fingerprint:
        return "consistent: the current key signed the links sent last"
    if keys.verifies(last.fingerprint):
        return (
            "consistent: the key that signed the links sent last is in "
            "DIGEST_SECRET_KEY_PREVIOUS, so they keep working; new links are signed with "
            "DIGEST_SECRET_KEY"
        )
    return (
        f"NOT consistent: DIGEST_SECRET_KEY ({keys.fingerprint}) differs from the key that "
        f"signed the links sent last ({last.fingerprint}), which is not in "
        "DIGEST_SECRET_KEY_PREVIOUS: `digest send` and `digest serve` refuse to run, as "
        "every link already sent would stop working"
    )


def _older_keys(keys: SigningKeys, history: list[KeyUse]) -> list[str]:
    """Facts about the keys that are not the last one: retired, or given but unknown."""
    lines = [
        f"retired: links signed with {use.describe()} no longer work (the key is in "
        "neither variable)"
        for use in history[1:]
        if not keys.verifies(use.fingerprint)
    ]
    known = {use.fingerprint for use in history}
    lines += [
        f"DIGEST_SECRET_KEY_PREVIOUS key {n} ({fp}) signed no recorded links: a typo, or "
        "links from before fingerprints were recorded"
        for n, fp in enumerate(keys.previous_fingerprints, 1)
        if fp not in known
    ]
    return lines
