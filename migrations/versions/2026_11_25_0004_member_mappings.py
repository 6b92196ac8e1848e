"""member_mappings: chat user to PSA member, one mapping per user and account

Revision ID: 0004_member_mappings
Revises: 0003_ticket_links
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_member_mappings"
down_revision = "0003_ticket_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("chat_user_id", sa.String(length=128), nullable=False),
        sa.Column("chat_user_name", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("member_identifier", sa.String(length=64), nullable=False),
        sa.Column("member_name", sa.String(length=200), nullable=False),
        sa.Column("member_email", sa.String(length=255), nullable=False),
        sa.Column("mapped_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_member_mappings_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_mappings")),
        sa.UniqueConstraint(
            "account_id", "chat_user_id", name=op.f("uq_member_mappings_account_id_chat_user_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("member_mappings")
