"""send_recipients' batch index also in subscriber order

A batch is read as ``WHERE issue_key = ? AND batch = ? ORDER BY subscriber_id``. With the
index on (issue_key, batch) alone SQLite chose the primary key (issue_key, subscriber_id),
which gives the order for free, and walked every recipient of the issue for each batch:
8 ms a batch at 100k readers, growing with the list (docs/performance.md). With
subscriber_id as the index's third column both the batch and its order come from the
index: 0.47 ms. PostgreSQL used the old index and sorted; it now skips the sort.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "ix_send_recipients_batch"


def upgrade() -> None:
    op.drop_index(INDEX, table_name="send_recipients")
    op.create_index(INDEX, "send_recipients", ["issue_key", "batch", "subscriber_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="send_recipients")
    op.create_index(INDEX, "send_recipients", ["issue_key", "batch"])
