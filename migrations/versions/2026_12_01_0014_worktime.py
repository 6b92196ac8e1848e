"""time entries and new tickets from chat: post_ledger.details, time-entry defaults

Revision ID: 0014_worktime
Revises: 0013_unfurl
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_worktime"
down_revision = "0013_unfurl"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("post_ledger") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
    with op.batch_alter_table("psa_connections") as batch:
        batch.add_column(sa.Column("work_type_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("work_role_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("psa_connections") as batch:
        batch.drop_column("work_role_id")
        batch.drop_column("work_type_id")
    with op.batch_alter_table("post_ledger") as batch:
        batch.drop_column("details")
