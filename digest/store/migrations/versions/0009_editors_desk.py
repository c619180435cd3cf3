"""the editors' desk: sign-in links, sessions, the audit log, and clicks per link

``desk_sign_ins``: each emailed link's id, so it works once and for 15 minutes.
``desk_sessions``: signed-in editors (the cookie holds the signed id; signing out ends the
row on every replica). ``desk_audit``: who changed what, when. ``issue_clicks``: the Event
Webhook's click events counted per issue and link, so the desk can show which stories
readers opened.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_sign_ins",
        sa.Column("link_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "desk_sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_desk_sessions_expires_at", "desk_sessions", ["expires_at"])
    op.create_table(
        "desk_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("editor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("issue_key", sa.String(10), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_desk_audit_at", "desk_audit", ["at"])
    op.create_table(
        "issue_clicks",
        sa.Column("issue_key", sa.String(10), primary_key=True),
        sa.Column("url", sa.String(2000), primary_key=True),
        sa.Column("clicks", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("issue_clicks")
    op.drop_index("ix_desk_audit_at", table_name="desk_audit")
    op.drop_table("desk_audit")
    op.drop_index("ix_desk_sessions_expires_at", table_name="desk_sessions")
    op.drop_table("desk_sessions")
    op.drop_table("desk_sign_ins")
