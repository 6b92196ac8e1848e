"""post_ledger.error_context: the facts a failure's message is worded from when shown

Revision ID: 0011_ledger_error_context
Revises: 0010_intake
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_ledger_error_context"
down_revision = "0010_intake"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("post_ledger") as batch:
        batch.add_column(sa.Column("error_context", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("post_ledger") as batch:
        batch.drop_column("error_context")
