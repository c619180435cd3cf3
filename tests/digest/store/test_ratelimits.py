"""The shared rate-limit counters: what a limit allows, when it forgets, and that two
replicas (two engines on one database) counting at once never both get the last slot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from subscribers_support import T0, FakeClock

from digest.store.database import Store, open_store
from digest.store.ratelimits import RateLimits, Verdict, key_hash
from digest.store.tables import RateLimit
from tests.concurrency_support import run_together


@pytest.fixture
def replicas(db_url: str) -> Iterator[list[Store]]:
    """Two stores on one database, each with its own engine and pool: two replicas."""
    stores = [open_store(db_url, serialize=True, pool_size=8) for _ in range(2)]
    try:
        yield stores
    finally:
        for s in stores:
            s.dispose()


def rows(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(RateLimit)) or 0)


def test_a_key_gets_its_limit_then_waits_out_the_window(store: Store, clock: FakeClock) -> None:
    limits = RateLimits(store)

    def hit(key: str = "203.0.113.7") -> Verdict:
        return limits.hit("ip", key, limit=3, window_seconds=600, now=clock())

    assert [hit().allowed for _ in range(3)] == [True, True, True]
    clock.now = T0 + timedelta(seconds=100)
    assert hit() == Verdict(False, 500)  # the window started with the first attempt
    assert hit("198.51.100.1").allowed  # another key has its own budget
    clock.now = T0 + timedelta(seconds=599)
    assert hit() == Verdict(False, 1)
    clock.now = T0 + timedelta(seconds=600)
    assert hit().allowed  # a new window
    assert [hit().allowed for _ in range(3)] == [True, True, False]


def test_scopes_are_separate_and_a_limit_below_one_is_off(store: Store, clock: FakeClock) -> None:
    limits = RateLimits(store)
    assert limits.hit("ip", "x", limit=1, window_seconds=60, now=clock()).allowed
    assert limits.hit("address", "x", limit=1, window_seconds=60, now=clock()).allowed
    assert not limits.hit("ip", "x", limit=1, window_seconds=60, now=clock()).allowed
    for _ in range(5):
        assert limits.hit("ip", "y", limit=0, window_seconds=60, now=clock()).allowed
    assert rows(store) == 2  # nothing counted for a limit that is off


def test_keys_are_kept_only_as_hashes(store: Store, clock: FakeClock) -> None:
    RateLimits(store).hit("address", "reader@example.com", limit=3, window_seconds=60, now=T0)
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT scope, key_hash FROM rate_limits")).all()
    assert [tuple(r) for r in stored] == [("address", key_hash("reader@example.com"))]
    assert "example" not in stored[0][1]


def test_ended_windows_are_deleted_at_most_once_a_minute(store: Store, clock: FakeClock) -> None:
    limits = RateLimits(store, sweep_every=60)
    for i in range(5):
        limits.hit("ip", f"10.0.0.{i}", limit=3, window_seconds=30, now=clock())
    assert rows(store) == 5
    clock.now = T0 + timedelta(seconds=45)  # those windows have ended, but a sweep ran at T0
    limits.hit("ip", "10.0.1.1", limit=3, window_seconds=30, now=clock())
    assert rows(store) == 6
    clock.now = T0 + timedelta(seconds=61)
    limits.hit("ip", "10.0.1.2", limit=3, window_seconds=30, now=clock())
    assert rows(store) == 2  # the sweep kept the two windows still open
    assert limits.sweep(T0 + timedelta(hours=1)) == 2 and rows(store) == 0


def test_two_replicas_at_once_share_one_budget(replicas: list[Store]) -> None:
    """Limit 5, 24 attempts of one key at the same moment from two replicas (12 threads
    each, each thread its own connection): exactly 5 are allowed, and a restarted
    replica (a new engine) still refuses."""
    first, second = (RateLimits(s) for s in replicas)

    def attempt(limits: RateLimits) -> bool:
        return limits.hit("ip", "203.0.113.9", limit=5, window_seconds=600, now=T0).allowed

    calls = [lambda: attempt(first), lambda: attempt(second)] * 12
    allowed = run_together(calls)
    assert sum(allowed) == 5
    restarted = RateLimits(open_store(str(replicas[0].engine.url.render_as_string(False))))
    try:
        verdict = restarted.hit("ip", "203.0.113.9", limit=5, window_seconds=600, now=T0)
        assert verdict == Verdict(False, 600)
    finally:
        restarted.store.dispose()
