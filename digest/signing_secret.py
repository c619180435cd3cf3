"""The secret that signs the links in emails (unsubscribe, confirm).

Production: ``$DIGEST_SECRET_KEY``, always. For the bundled sample and local
trials only — a SQLite database *and* a loopback ``newsletter.public_url``
(127.0.0.1 / localhost) — a random development secret is generated once and
kept beside the database as ``<database>.dev-secret`` (mode 0600), so the
sample sends with no setup and ``digest serve`` on the same machine can read
its links. Anything else without ``$DIGEST_SECRET_KEY`` is a configuration
error naming the variable.
"""

from __future__ import annotations

import os
import secrets as _secrets
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from digest.config import Config, Secrets
from digest.errors import DeliveryConfigError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MIN_SECRET_CHARS = 16  # shorter keys can be guessed from one link, and links forged
HOW_TO_SET = (
    "export DIGEST_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') "
    "and keep it: links already sent stop working if it changes"
)


def dev_secret_path(config: Config) -> Path | None:
    """Where the development secret lives, or None when one is not allowed."""
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
                f"DIGEST_SECRET_KEY is only {len(secrets.secret_key)} characters; links signed "
                f"with it could be forged. Use at least {MIN_SECRET_CHARS}: {HOW_TO_SET}"
            )
        return secrets.secret_key, False
    path = dev_secret_path(config)
    if path is None:
        raise DeliveryConfigError(
            "DIGEST_SECRET_KEY is not set; the unsubscribe links in every email are signed "
            f"with it: {HOW_TO_SET}"
        )
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
