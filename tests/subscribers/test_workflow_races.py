"""Two replicas (two engines on one PostgreSQL) acting on one reader at the same moment:
a double-clicked confirm reaching both, a confirm racing an unsubscribe, and the same
address subscribed again on both. Each change lands once in the consent ledger, and the
reader's own "unsubscribe" is never undone by a confirm that read the row before it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from subscribers_support import T0, FakeClock, make_config, secrets

from digest.backends.file import FileBackend
from digest.errors import TokenError
from digest.store.database import Store, open_store
from subscribers import repository as repo
from subscribers.workflow import Workflow
from tests.concurrency_support import run_together

pytestmark = pytest.mark.postgres
READERS = 12


@pytest.fixture
def replicas(tmp_path: Path, pg_url: str) -> Iterator[list[Workflow]]:
    cfg = make_config(tmp_path)
    stores = [open_store(pg_url, serialize=True, pool_size=READERS) for _ in range(2)]
    try:
        yield [
            Workflow(
                cfg, s, secrets=secrets(), clock=FakeClock(T0), backend=FileBackend(cfg, secrets())
            )
            for s in stores
        ]
    finally:
        for s in stores:
            s.dispose()


def pending_readers(wf: Workflow) -> list[tuple[int, str, str]]:
    """(id, confirm token, unsubscribe token) of ``READERS`` pending readers."""
    tokens = wf.tokens
    out = []
    with wf.store.session() as s:
        for i in range(READERS):
            sub = repo.add(s, f"reader{i}@example.com", at=T0, source="form", status="pending")
            sub.confirm_nonce = f"nonce-{i}"
            s.flush()
            out.append(
                (
                    sub.id,
                    tokens.confirm(sub.id, sub.confirm_nonce),
                    tokens.unsubscribe(sub.id, sub.email),
                )
            )
    return out


def ledger(store: Store, subscriber_id: int) -> list[str]:
    with store.session() as s:
        sub = repo.get(s, subscriber_id)
        assert sub is not None
        return [e.kind for e in repo.events_for(s, sub)]


def status(store: Store, subscriber_id: int) -> str:
    with store.session() as s:
        sub = repo.get(s, subscriber_id)
        assert sub is not None
        return sub.status


def attempt(call: object) -> str:
    try:
        return str(call())  # type: ignore[operator]
    except TokenError as exc:
        return f"refused: {exc}"


def test_a_confirm_on_both_replicas_at_once_is_recorded_once(replicas: list[Workflow]) -> None:
    a, b = replicas
    readers = pending_readers(a)
    calls = [
        (lambda wf=wf, token=confirm: wf.confirm(token)[1])
        for _, confirm, _ in readers
        for wf in (a, b)
    ]
    states = run_together(calls)
    assert sorted(states) == sorted(["ready", "already_confirmed"] * READERS)
    for sid, _, _ in readers:
        assert status(a.store, sid) == "active"
        assert ledger(a.store, sid) == ["subscribed", "confirmed"]


def test_an_unsubscribe_racing_a_confirm_is_never_undone(replicas: list[Workflow]) -> None:
    """Whichever comes first, the reader ends unsubscribed, with one ``unsubscribed`` row
    and at most one ``confirmed`` before it (an unlocked confirm wrote "active" over an
    unsubscribe that committed between its read and its write)."""
    a, b = replicas
    readers = pending_readers(a)
    calls = []
    for _, confirm, unsubscribe in readers:
        calls.append(lambda token=confirm: attempt(lambda: a.confirm(token)[1]))
        calls.append(lambda token=unsubscribe: attempt(lambda: b.unsubscribe(token)))
    run_together(calls)
    for sid, _, _ in readers:
        assert status(a.store, sid) == "unsubscribed"
        assert ledger(a.store, sid) in (
            ["subscribed", "unsubscribed"],
            ["subscribed", "confirmed", "unsubscribed"],
        )


def test_subscribing_again_on_both_replicas_at_once(replicas: list[Workflow]) -> None:
    """An unsubscribed reader fills in the form twice (two replicas): pending again once,
    one confirmation email reserved."""
    a, b = replicas
    with a.store.session() as s:
        ids = []
        for i in range(READERS):
            sub = repo.add(s, f"back{i}@example.com", at=T0, source="cli", status="active")
            repo.set_status(s, sub, "unsubscribed", source="cli", at=T0)
            s.flush()
            ids.append(sub.id)
    calls = [
        (lambda wf=wf, i=i: wf.request_subscription(f"back{i}@example.com", source="form").outcome)
        for i in range(READERS)
        for wf in (a, b)
    ]
    outcomes = run_together(calls)
    assert sorted(outcomes) == sorted(["resubscribed", "throttled"] * READERS)
    for sid in ids:
        assert ledger(a.store, sid) == ["subscribed", "confirmed", "unsubscribed", "subscribed"]
