"""post_ledger.previous_status_id: the status a status change started from

Revision ID: 0009_ledger_previous_status
Revises: 0008_slack_oauth
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_ledger_previous_status"
down_revision = "0008_slack_oauth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("post_ledger") as batch:
        batch.add_column(sa.Column("previous_status_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("post_ledger") as batch:
        batch.drop_column("previous_status_id")
