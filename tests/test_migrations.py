"""The Alembic migrations build exactly the tables of subscribers/models.py,
on SQLite and PostgreSQL, and upgrading twice is harmless."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from subscribers.db import Store, include_object, open_store, upgrade
from subscribers.models import Base


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


def test_scheduler_job_table_is_left_alone(store: Store) -> None:
    """APScheduler's job table lives in the same database; migrations must not drop it."""
    from sqlalchemy import text

    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE digest_scheduler_jobs (id VARCHAR(191) PRIMARY KEY)"))
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object})
        assert compare_metadata(ctx, Base.metadata) == []
