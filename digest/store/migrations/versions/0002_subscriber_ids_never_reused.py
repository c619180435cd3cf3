"""subscriber ids are never reused (SQLite AUTOINCREMENT)

An unsubscribe link names a subscriber id. SQLite without AUTOINCREMENT hands
the id of an erased last row to the next subscriber, so an old link could act
on a new person. PostgreSQL sequences never reuse ids: nothing to do there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "subscribers", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "subscribers", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass
