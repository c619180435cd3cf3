"""``GET /healthz`` as a load balancer sees it: 200 while the database answers at this
code's migration revision, 503 with the reason otherwise; the revision is read again
after a few seconds, not at every poll; a change is logged once, never as an error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient
from subscribers_support import T0, FakeClock, make_config, secrets

from digest.store.database import Store
from digest.store.schema import head_revision
from subscribers.web.app import create_app
from subscribers.web.health import REVISION_SECONDS, Health


class Ticks:
    """A settable monotonic clock for the revision cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(tmp_path: Path, store: Store, ticks: Ticks) -> TestClient:
    app = create_app(make_config(tmp_path), store=store, secrets=secrets(), clock=FakeClock(T0))
    app.state.health = Health(store, monotonic=ticks)
    return TestClient(app)


def set_revision(store: Store, revision: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_healthy_then_behind_then_newer(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="subscribers.web.health")
    ticks = Ticks()
    client = client_for(tmp_path, store, ticks)
    ok = client.get("/healthz")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "revision": head_revision()}
    assert ok.headers["cache-control"] == "no-store"

    set_revision(store, "0006")  # the database restored from an older backup, say
    assert client.get("/healthz").status_code == 200  # still the cached comparison
    ticks.now += REVISION_SECONDS
    behind = client.get("/healthz")
    assert behind.status_code == 503
    assert behind.json() == {
        "status": "error",
        "migrations": "not current",
        "database_revision": "0006",
        "code_revision": head_revision(),
    }
    assert client.get("/healthz").status_code == 503  # a bad answer is not cached

    # a newer release migrated first (the upgrade order): the old replicas keep serving
    set_revision(store, "9999_from_a_newer_release")
    newer = client.get("/healthz")
    assert newer.status_code == 200
    assert newer.json() == {
        "status": "ok",
        "revision": "9999_from_a_newer_release",
        "code_revision": head_revision(),
    }
    health_logs = [r for r in caplog.records if r.name == "subscribers.web.health"]
    assert [(r.levelno, r.getMessage()[:19]) for r in health_logs] == [
        (logging.WARNING, "healthz: unhealthy:"),
        (logging.INFO, "healthz: healthy ag"),
    ]


def test_a_database_that_does_not_answer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from digest.store.database import open_store

    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    ticks = Ticks()
    client = client_for(tmp_path, store, ticks)
    assert client.get("/healthz").status_code == 200
    store.engine.dispose()
    (tmp_path / "x.db").unlink()
    (tmp_path / "x.db").mkdir()  # the file is now a directory: unopenable
    for _ in range(3):  # the cached revision does not hide it: every poll queries
        r = client.get("/healthz")
        assert r.status_code == 503
        assert r.json() == {"status": "error", "database": "unreachable"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert sum("unhealthy" in r.getMessage() for r in caplog.records) == 1


def test_healthz_is_not_rate_limited(tmp_path: Path, sqlite_store: Store) -> None:
    cfg = make_config(tmp_path, web={"rate_limit_per_ip": 1})
    app = create_app(cfg, store=sqlite_store, secrets=secrets(), clock=FakeClock(T0))
    client = TestClient(app)
    assert all(client.get("/healthz").status_code == 200 for _ in range(20))
