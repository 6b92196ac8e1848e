"""unfurl_settings: per channel, whether an owner allows ticket unfurls in a shared channel

Revision ID: 0013_unfurl
Revises: 0012_status_board
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_unfurl"
down_revision = "0012_status_board"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unfurl_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_unfurl_settings_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unfurl_settings")),
        sa.UniqueConstraint(
            "account_id", "channel_id", name=op.f("uq_unfurl_settings_account_id_channel_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("unfurl_settings")
