"""send_recipients without foreign keys

Freezing a million recipients spent 13 of its 18 seconds on PostgreSQL in the two
per-row foreign-key checks of send_recipients; the freeze only ever selects
existing subscribers into the issue it has just created, so the checks prove
nothing. repository.erase now deletes a person's rows itself.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _table(*, with_keys: bool) -> sa.Table:
    keys = (
        [
            sa.ForeignKeyConstraint(["issue_key"], ["issues.key"], ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        ]
        if with_keys
        else []
    )
    return sa.Table(
        "send_recipients",
        sa.MetaData(),
        sa.Column("issue_key", sa.String(length=10), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("issue_key", "subscriber_id"),
        sa.Index("ix_send_recipients_batch", "issue_key", "batch"),
        *keys,
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # unnamed constraints: rebuild the table without them
        with op.batch_alter_table(
            "send_recipients", copy_from=_table(with_keys=False), recreate="always"
        ):
            pass
        return
    for fk in sa.inspect(bind).get_foreign_keys("send_recipients"):
        if fk["name"]:  # PostgreSQL names every constraint
            op.drop_constraint(fk["name"], "send_recipients", type_="foreignkey")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(
            "send_recipients", copy_from=_table(with_keys=True), recreate="always"
        ):
            pass
        return
    op.create_foreign_key(
        None, "send_recipients", "issues", ["issue_key"], ["key"], ondelete="CASCADE"
    )
    op.create_foreign_key(
        None, "send_recipients", "subscribers", ["subscriber_id"], ["id"], ondelete="CASCADE"
    )
