"""issue_articles.image_url: the picture of each story an issue carried

The archive list shows each issue's lead picture; until now only the stories' links and
titles were kept. Older issues have none (NULL), and show none.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issue_articles") as batch:
        batch.add_column(sa.Column("image_url", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issue_articles") as batch:
        batch.drop_column("image_url")
