"""The fingerprints of the keys that signed links (table ``signing_keys``).

Never a key itself: a fingerprint is an HMAC under the key (``digest.signing_secret``).
One row per key, with the first and last issue it signed; ``sequence`` (a counter, not the
clock, which tests fix) says which key signed last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from digest.store.database import Store
from digest.store.tables import SigningKey


@dataclass(frozen=True)
class KeyUse:
    """One key that signed links, as the database remembers it."""

    fingerprint: str
    first_used_at: datetime
    last_used_at: datetime
    first_issue: str | None
    last_issue: str | None

    def describe(self) -> str:
        if self.last_issue is None:
            signed = "confirmation links only"
        elif self.first_issue in (None, self.last_issue):
            signed = f"issue {self.last_issue}"
        else:
            signed = f"issues {self.first_issue} to {self.last_issue}"
        return f"{self.fingerprint} ({signed}; last used {self.last_used_at:%Y-%m-%d %H:%M} UTC)"


def recorded_keys(store: Store) -> list[KeyUse]:
    """Every key that signed links, the one used last first."""
    with store.session() as s:
        rows = s.scalars(select(SigningKey).order_by(SigningKey.sequence.desc())).all()
        return [
            KeyUse(r.fingerprint, r.first_used_at, r.last_used_at, r.first_issue, r.last_issue)
            for r in rows
        ]


def record_key_use(
    store: Store, key_fingerprint: str, *, at: datetime, issue: str | None = None
) -> None:
    """Note that the key with this fingerprint signs links now (``issue``'s, if given)."""
    for attempt in (1, 2):
        try:
            with store.session() as s:
                rows = {r.fingerprint: r for r in s.scalars(select(SigningKey))}
                last = max(rows.values(), key=lambda r: r.sequence, default=None)
                row = rows.get(key_fingerprint)
                if row is None:
                    row = SigningKey(
                        fingerprint=key_fingerprint,
                        sequence=0,
                        first_used_at=at,
                        last_used_at=at,
                        first_issue=issue,
                    )
                    s.add(row)
                if row is not last:
                    row.sequence = (last.sequence if last else 0) + 1
                row.last_used_at = at
                if issue is not None:
                    row.first_issue = row.first_issue or issue
                    row.last_issue = issue
            return
        except IntegrityError:  # another process recorded the same new key just now
            if attempt == 2:
                raise
