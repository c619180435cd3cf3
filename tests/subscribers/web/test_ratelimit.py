"""The subscribe form's limits as readers meet them, with two app instances (two
replicas, each with its own engine) on one database: one budget for both, kept over a
restart, answered 429 with Retry-After."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from subscribers_support import T0, FakeClock, make_config, secrets

from digest.backends.file import FileBackend
from digest.store.database import Store, open_store
from subscribers.web.app import create_app
from tests.concurrency_support import run_together, serving

LIMIT = 4


@pytest.fixture
def stores(db_url: str) -> Iterator[list[Store]]:
    opened: list[Store] = []

    def open_one() -> Store:
        opened.append(open_store(db_url, serialize=True, pool_size=8))
        return opened[-1]

    yield [open_one(), open_one(), open_one()]
    for s in opened:
        s.dispose()


def replica(tmp_path: Path, store: Store, web: dict[str, object]) -> Starlette:
    """The app ``digest serve`` runs, on its own store: one replica."""
    cfg = make_config(tmp_path, web=web)
    app = create_app(
        cfg,
        store=store,
        secrets=secrets(),
        clock=FakeClock(T0),
        backend=FileBackend(cfg, secrets()),
        subscribe_delay=0.0,
    )
    return app


def subscribe(app: Starlette | str, email: str) -> httpx.Response:
    """A reader's visit (a browser of their own): the form (its CSRF cookie and token),
    then the post; to an app, or to the base URL of a running one."""
    with TestClient(app) if isinstance(app, Starlette) else httpx.Client(base_url=app) as client:
        page = client.get("/")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text
        data = {"email": email, "csrf_token": token[1], "website": ""}
        return client.post("/subscribe", data=data)


def test_two_replicas_share_the_per_ip_limit_and_a_restart_keeps_it(
    tmp_path: Path, stores: list[Store]
) -> None:
    web = {"rate_limit_per_ip": LIMIT, "rate_limit_per_address": 100}
    first, second, restarted = (replica(tmp_path, s, web) for s in stores)
    # two running servers; every visitor comes from 127.0.0.1: one IP for both replicas
    with serving(first) as one, serving(second) as two:
        calls = [
            lambda base=base, i=i: subscribe(base, f"reader{i}@example.com")
            for i, base in enumerate([one, two] * 6)
        ]
        codes = [r.status_code for r in run_together(calls)]
    assert sorted(codes) == [200] * LIMIT + [429] * (len(calls) - LIMIT)
    with serving(restarted) as three:  # a replica started afterwards (a restart)
        again = subscribe(three, "late@example.com")
    assert again.status_code == 429
    assert again.headers["retry-after"] == "600"
    assert "Please wait a moment" in again.text


def test_the_per_address_limit_holds_across_replicas(tmp_path: Path, stores: list[Store]) -> None:
    web = {"rate_limit_per_ip": 100, "rate_limit_per_address": 2}
    first, second, _ = (replica(tmp_path, s, web) for s in stores)
    assert subscribe(first, "same@example.com").status_code == 200
    assert subscribe(second, "SAME@example.com").status_code == 200
    refused = subscribe(first, "same@example.com")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 600
    assert subscribe(second, "other@example.com").status_code == 200


def test_unsubscribing_is_never_limited(tmp_path: Path, stores: list[Store]) -> None:
    from digest.tokens import Tokens
    from subscribers import repository as repo

    web = {"rate_limit_per_ip": 1, "rate_limit_per_address": 1}
    app = replica(tmp_path, stores[0], web)
    with stores[0].session() as s:
        ids = [repo.add(s, f"r{i}@example.com", at=T0, source="cli").id for i in range(5)]
    tokens = Tokens(secrets().secret_key or "")
    assert subscribe(app, "first@example.com").status_code == 200
    assert subscribe(app, "second@example.com").status_code == 429
    client = TestClient(app)
    for sid in ids:
        r = client.post(
            f"/unsubscribe/{tokens.unsubscribe(sid, None)}", data={"List-Unsubscribe": "One-Click"}
        )
        assert r.status_code == 200
        assert "unsubscribed" in r.text.lower()
