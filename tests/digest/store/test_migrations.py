"""The Alembic migrations build exactly the tables of digest/store/tables.py,
on SQLite and PostgreSQL, and upgrading twice is harmless."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from digest.store.database import (
    HEAD_REVISION,
    MIGRATIONS_DIR,
    Store,
    include_object,
    is_current,
    open_store,
    upgrade,
)
from digest.store.tables import Base


def test_migrations_match_models(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_object": include_object}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations disagree; add a revision: {diff}"


def test_upgrade_is_idempotent(db_url: str) -> None:
    first = open_store(db_url)
    upgrade(first.engine)  # a second upgrade on an up-to-date database does nothing
    with first.engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    assert rev is not None
    first.dispose()


def test_head_revision_is_the_newest_migration() -> None:
    """Opening a database at HEAD_REVISION skips Alembic: a stale constant would leave a
    new migration unapplied."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_a_database_behind_the_head_is_still_upgraded(db_url: str) -> None:
    from alembic import command

    from digest.store.database import make_engine

    engine = make_engine(db_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    assert not is_current(engine)
    engine.dispose()
    store = open_store(db_url)
    assert is_current(store.engine)
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object})
        assert compare_metadata(ctx, Base.metadata) == []  # 0006 and later ran
    store.dispose()


def test_scheduler_job_table_is_left_alone(store: Store) -> None:
    """APScheduler's job table lives in the same database; migrations must not drop it."""
    from sqlalchemy import text

    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE digest_scheduler_jobs (id VARCHAR(191) PRIMARY KEY)"))
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object})
        assert compare_metadata(ctx, Base.metadata) == []


def test_an_erased_subscribers_id_is_never_given_to_the_next(store: Store) -> None:
    """Old unsubscribe links name an id: it must never come back for someone else."""
    from datetime import UTC, datetime

    from subscribers import repository as repo

    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    with store.session() as s:
        first = repo.add(s, "first@example.com", at=now, source="cli", status="active")
        s.flush()
        old_id = first.id
    with store.session() as s:
        repo.erase(s, repo.get_by_email(s, "first@example.com"), at=now)
    with store.session() as s:
        second = repo.add(s, "second@example.com", at=now, source="cli", status="active")
        s.flush()
        assert second.id != old_id


def test_upgrading_an_old_sqlite_database_keeps_every_row(sqlite_url: str) -> None:
    """0002 rebuilds the subscribers table on SQLite: the rows pointing at it (consent
    ledger, send ledger) must survive, and foreign keys must be on again afterwards."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from digest.store.database import MIGRATIONS_DIR, make_engine

    engine = make_engine(sqlite_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    zeros = ", ".join(["0"] * 13)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (id, email, email_key, status, source, created_at, soft_bounces)"
                " VALUES (1, 'a@example.com', 'a@example.com', 'active', 'cli', '2026-01-01', 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO consent_events (subscriber_id, email_hash, kind, at)"
                " VALUES (1, 'h', 'subscribed', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO issues (key, status, as_of, created_at, recipients, sent, skipped_recipients,"
                " failed_recipients, delivered, bounced, blocked, dropped, complained, unsubscribed,"
                f" opened, clicked, unknown_events) VALUES ('2026-W01', 'sending', '2026-01-01',"
                f" '2026-01-01', {zeros})"
            )
        )
        conn.execute(
            text(
                "INSERT INTO send_recipients (issue_key, subscriber_id, batch, state)"
                " VALUES ('2026-W01', 1, 0, 'queued')"
            )
        )
    engine.dispose()

    store = open_store(sqlite_url)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM send_recipients")).scalar() == 1
        assert conn.execute(text("SELECT subscriber_id FROM consent_events")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.dispose()


def test_a_serialized_sqlite_store_lets_one_session_in_at_a_time(sqlite_url: str) -> None:
    """`digest serve` opens its store with serialize=True: on SQLite, a second thread's
    session waits for the first to commit (instead of SQLite's sleeping busy handler)."""
    import threading
    import time

    store = open_store(sqlite_url, serialize=True)
    inside = threading.Event()
    order: list[str] = []

    def second() -> None:
        inside.wait()
        with store.session():
            order.append("second")

    t = threading.Thread(target=second)
    t.start()
    with store.session():
        inside.set()
        time.sleep(0.2)
        order.append("first")
    t.join(5)
    assert order == ["first", "second"]
    store.dispose()


def test_processes_migrating_one_new_database_at_once_take_turns(db_url: str) -> None:
    """Replicas or schedulers started together on a new database: every one comes up."""
    import subprocess
    import sys

    code = "import sys; from digest.store.database import open_store; open_store(sys.argv[1]).dispose()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    store = open_store(db_url)
    assert is_current(store.engine)
    store.dispose()
