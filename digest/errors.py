"""Every error digest raises on purpose, and the exit code each one maps to.

    DigestError                      exit 1 unless said otherwise
    ├── ConfigError                  exit 2: names the file and the key
    ├── UsageError                   exit 2: a bad option value (e.g. --as-of)
    ├── CollectError                 every source failed; no issue can be built
    ├── RenderError                  a template failed or produced invalid MJML
    ├── StoreError                   the database cannot be opened or migrated
    ├── DeliveryError                a backend could not deliver
    │   ├── DeliveryConfigError      exit 2: a missing setting, named
    │   ├── PermanentDeliveryError   the provider refused (4xx); its own message
    │   ├── TransientDeliveryError   429, 5xx, no connection made: retried
    │   └── DeliveryInDoubtError     sent, then no answer: perhaps delivered, never retried
    ├── SendError                    the send cannot go on (already sending, …)
    ├── KeyChangedError              DIGEST_SECRET_KEY would break the links already sent
    └── TokenError                   a signed link is tampered, expired or used

Each carries a message meant for an editor: it names the input it is about.
"""

from __future__ import annotations


class DigestError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 1


class ConfigError(DigestError):
    """A configuration problem: names the file and the key."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        self.path = path
        self.key = key
        where = ""
        if path and key:
            where = f"{path}: [{key}] "
        elif path:
            where = f"{path}: "
        elif key:
            where = f"[{key}] "
        super().__init__(f"{where}{message}")


class UsageError(DigestError):
    exit_code = 2


class CollectError(DigestError):
    pass


class RenderError(DigestError):
    pass


class StoreError(DigestError):
    pass


class DeliveryError(DigestError):
    pass


class DeliveryConfigError(DeliveryError):
    exit_code = 2


class PermanentDeliveryError(DeliveryError):
    """The provider refused the request; the message is the provider's own."""

    def __init__(self, message: str, *, status: int | None = None, body: str | None = None):
        self.status = status
        self.body = body
        super().__init__(message)


class TransientDeliveryError(DeliveryError):
    """Worth retrying: 429, 5xx, a connection that could not be made."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class DeliveryInDoubtError(DeliveryError):
    """The request went out and its answer was lost (a read timeout, a connection dropped
    after it was sent): the provider may have delivered it. Never retried: the batch is
    left in flight, as after a crash (see ``digest.in_doubt``)."""


class SendError(DigestError):
    pass


class KeyChangedError(DigestError):
    """A new DIGEST_SECRET_KEY without the one that signed the last links among
    DIGEST_SECRET_KEY_PREVIOUS: names both fingerprints and the fix."""


class TokenError(DigestError):
    pass
