"""rate_limits: the web app's rate limits, shared by every replica

The subscribe limits (per IP, per address) were counted in each ``digest serve``
process's memory: N replicas allowed N times the attempts, and a restart forgot them.
They are now counted in this table (``digest.store.ratelimits``), one row per key, so
every replica on the database shares one budget. Expired rows are deleted as the app
goes (at most once a minute), so the table stays the size of one window's visitors.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key_hash"),
    )
    op.create_index("ix_rate_limits_expires_at", "rate_limits", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limits_expires_at", table_name="rate_limits")
    op.drop_table("rate_limits")
