"""ticket_links.board_id: the board the linked ticket was on, so its statuses need no ticket read

Revision ID: 0012_status_board
Revises: 0011_ledger_error_context
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_status_board"
down_revision = "0011_ledger_error_context"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_links") as batch:
        batch.add_column(sa.Column("board_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_links") as batch:
        batch.drop_column("board_id")
