"""The subscribe form's rate limits (per IP, per address), counted in the database.

Counted in each process's memory, N ``digest serve`` replicas allowed N times the
attempts and a restart forgot them; the counters now live in the store
(``digest.store.ratelimits``), which every replica on one database shares. A limiter
blocks on the database: pages call ``hit`` through ``subscribers.web.database.in_database``.
"""

from __future__ import annotations

from digest.clock import Clock
from digest.store.ratelimits import RateLimits, Verdict


class RateLimiter:
    """At most ``limit`` attempts per ``window_seconds`` for each key of one scope."""

    def __init__(
        self, counters: RateLimits, scope: str, limit: int, window_seconds: float, clock: Clock
    ):
        self.counters = counters
        self.scope = scope
        self.limit = limit
        self.window = float(window_seconds)
        self.clock = clock

    def hit(self, key: str) -> Verdict:
        """Count one attempt of ``key``; refused (with the seconds to wait) past the limit."""
        return self.counters.hit(
            self.scope, key, limit=self.limit, window_seconds=self.window, now=self.clock()
        )


__all__ = ["RateLimiter", "Verdict"]
