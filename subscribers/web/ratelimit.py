"""Sliding-window rate limits kept in memory (one process: ``digest serve``)."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime

from digest.clock import Clock


class RateLimiter:
    """At most ``limit`` hits per ``window_seconds`` for each key."""

    def __init__(self, limit: int, window_seconds: float, clock: Clock, *, max_keys: int = 100_000):
        self.limit = limit
        self.window = float(window_seconds)
        self.clock = clock
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        moment: datetime = self.clock()
        return moment.timestamp()

    def hit(self, key: str) -> bool:
        """Count one attempt; False when the key is over its limit (the attempt is
        then not counted, so waiting always helps)."""
        if self.limit <= 0:
            return True
        now = self._now()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self.max_keys:
                    self._prune(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may try again (0 when it may now)."""
        now = self._now()
        with self._lock:
            hits = self._hits.get(key)
            if not hits or len(hits) < self.limit:
                return 0
            return max(1, int(hits[0] + self.window - now + 0.999))

    def _prune(self, now: float) -> None:
        stale = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]
        for k in stale:
            del self._hits[k]
        if len(self._hits) >= self.max_keys:  # still full: forget the oldest half
            for k in list(self._hits)[: self.max_keys // 2]:
                del self._hits[k]
