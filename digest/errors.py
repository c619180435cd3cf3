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
    │   └── IssueLocked              another process is sending this issue right now
    ├── KeyChangedError              DIGEST_SECRET_KEY would break the links already sent
    ├── TokenError                   a signed link is tampered, expired or used
    └── (UsageError)
        ├── InvalidAddress           an address email-validator refuses, and why
        └── AlreadyListed            `subscribers add` of an address already on the list

Caught where they are raised, never shown as they are (each becomes a warning or a
ConfigError naming the source or key):

    FeedProblem (Exception)          these bytes are no usable feed: the source's warning
    NotJsonFeed (ValueError)         JSON that is no JSON Feed: becomes a FeedProblem
    CrontabError (ValueError)        a crontab cron would refuse: becomes a ConfigError

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


class IssueLocked(SendError):
    """Another process is sending this issue right now."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(f"issue {key} is being sent by another process; nothing done")


class InvalidAddress(UsageError):
    """An email address email-validator refuses; the message says why."""

    def __init__(self, address: str, reason: str):
        self.address = address
        self.reason = reason
        super().__init__(f"{address!r} is not a valid email address: {reason}")


class AlreadyListed(UsageError):
    """The address is already on the list."""


class FeedProblem(Exception):
    """The bytes are not a usable feed; the message is the reason an editor reads."""


class NotJsonFeed(ValueError):
    """The bytes are JSON that is not a JSON Feed, or not JSON at all (the message says which)."""


class CrontabError(ValueError):
    """A crontab that cron would not accept; the message names the field."""
