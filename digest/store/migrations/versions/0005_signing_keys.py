"""signing_keys: the fingerprints of the keys that signed links

Every unsubscribe link in an issue already sent is signed with the key of its
day; a new DIGEST_SECRET_KEY made them all answer "This link does not work".
The database now remembers which key (by a fingerprint that cannot be turned
back into it) signed links last, so `digest send` and `digest serve` refuse a
new key unless the old one is kept in DIGEST_SECRET_KEY_PREVIOUS.

A database upgraded from 0004 starts with no fingerprint: the key its sent
issues were signed with is unknown, and the next use records the key then set.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_issue", sa.String(length=10), nullable=True),
        sa.Column("last_issue", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("fingerprint"),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
