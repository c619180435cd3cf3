"""send_recipients pages half free on PostgreSQL (fillfactor 50)

Every frozen recipient is updated once (queued → accepted, a thousand rows per
batch). In full pages each update wrote a new row version elsewhere and new
entries in both indexes: 6.5 ms of server time per 1,000-row batch. With half of
each page free the update stays on its page and leaves the indexes alone (a HOT
update; `state` is in no index): finishing a batch 9.5 ms → 3.0 ms
(docs/performance.md). The table takes about twice the room. SQLite has no such
setting.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE send_recipients SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE send_recipients RESET (fillfactor)")
