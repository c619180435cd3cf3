"""Rate limits shared by every process on the database (the ``rate_limits`` table).

Each limited key (an IP, an address) has one row: the attempts its window has seen and
when that window ends. A window starts with the first attempt after the last one ended,
so a refused visitor waits at most one window. One statement counts an attempt and
answers with the count:

    INSERT INTO rate_limits VALUES (:scope, :key_hash, 1, :now + window)
    ON CONFLICT (scope, key_hash) DO UPDATE SET
        hits = CASE WHEN rate_limits.expires_at <= :now THEN 1 ELSE rate_limits.hits + 1 END,
        expires_at = CASE WHEN rate_limits.expires_at <= :now THEN … ELSE … END
    RETURNING hits, expires_at

There is no read before the write: PostgreSQL locks the row for the update, so two
replicas counting the same key at once take turns and the second sees the first's hit,
and SQLite has one writer at a time. The last slot therefore goes to one attempt only.
Refused attempts are counted too (the answer then needs no second statement); that
changes nothing, since the window ends at the same moment whatever the count.

Rows of windows that have ended are deleted at most once a ``sweep_every`` seconds per
``RateLimits`` (and process), in a transaction of their own, so the table holds about
one window's worth of keys. Keys are stored as SHA-256 hashes: they are IPs and
addresses, which need not outlive the window in readable form.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Float, Table, bindparam, case, delete
from sqlalchemy.dialects import postgresql, sqlite

from digest.store.database import Store
from digest.store.tables import RateLimit

SWEEP_EVERY = 60.0  # seconds between two deletions of ended windows (per process)

_TABLE = cast(Table, RateLimit.__table__)
_NOW = bindparam("now", type_=Float)
_EXPIRES = bindparam("expires", type_=Float)
_DELETE_ENDED = delete(_TABLE).where(_TABLE.c.expires_at <= _NOW)


@dataclass(frozen=True)
class Verdict:
    """One attempt's answer: allowed, or refused for ``retry_after`` more seconds."""

    allowed: bool
    retry_after: int = 0


def _count_statement(dialect: str) -> Any:
    """The counting upsert for ``dialect`` (built once per dialect: building a statement
    costs SQLAlchemy about as much as running it)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_TABLE).values(
        scope=bindparam("scope"), key_hash=bindparam("key_hash"), hits=1, expires_at=_EXPIRES
    )
    ended = _TABLE.c.expires_at <= _NOW
    return stmt.on_conflict_do_update(
        index_elements=[_TABLE.c.scope, _TABLE.c.key_hash],
        set_={
            "hits": case((ended, 1), else_=_TABLE.c.hits + 1),
            "expires_at": case((ended, _EXPIRES), else_=_TABLE.c.expires_at),
        },
    ).returning(_TABLE.c.hits, _TABLE.c.expires_at)


_STATEMENTS: dict[str, Any] = {}


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class RateLimits:
    """The shared counters of one store; safe to use from many threads."""

    def __init__(self, store: Store, *, sweep_every: float = SWEEP_EVERY):
        if store.dialect not in ("postgresql", "sqlite"):  # pragma: no cover - make_engine refuses
            raise ValueError(f"no rate limits on {store.dialect}")
        self.store = store
        self.sweep_every = sweep_every
        if store.dialect not in _STATEMENTS:
            _STATEMENTS[store.dialect] = _count_statement(store.dialect)
        self._count = _STATEMENTS[store.dialect]
        self._next_sweep = -math.inf
        self._sweep_guard = threading.Lock()

    def hit(
        self, scope: str, key: str, *, limit: int, window_seconds: float, now: datetime
    ) -> Verdict:
        """Count one attempt of ``key`` in ``scope``: allowed while its window has seen at
        most ``limit`` (a limit below 1 allows everything and counts nothing)."""
        if limit < 1:
            return Verdict(True)
        moment = now.timestamp()
        params = {
            "scope": scope,
            "key_hash": key_hash(key),
            "now": moment,
            "expires": moment + float(window_seconds),
        }
        with self.store.transaction() as conn:
            hits, expires_at = conn.execute(self._count, params).one()
        self._sweep_if_due(moment)
        if hits <= limit:
            return Verdict(True)
        return Verdict(False, max(1, math.ceil(expires_at - moment)))

    def sweep(self, now: datetime) -> int:
        """Delete the rows of windows that have ended by ``now``; how many went."""
        with self.store.transaction() as conn:
            result = conn.execute(_DELETE_ENDED, {"now": now.timestamp()})
        return int(getattr(result, "rowcount", 0) or 0)

    def _sweep_if_due(self, moment: float) -> None:
        # One thread claims the sweep; the others go on at once (nobody waits on a delete).
        with self._sweep_guard:
            if moment < self._next_sweep:
                return
            self._next_sweep = moment + self.sweep_every
        with self.store.transaction() as conn:
            conn.execute(_DELETE_ENDED, {"now": moment})


__all__ = ["SWEEP_EVERY", "RateLimits", "Verdict", "key_hash"]
