"""account_owners: chat users who may connect, edit and disconnect the PSA

Revision ID: 0007_account_owners
Revises: 0006_conversation_refs
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_account_owners"
down_revision = "0006_conversation_refs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_owners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_owners_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_owners")),
        sa.UniqueConstraint(
            "account_id", "user_id", name=op.f("uq_account_owners_account_id_user_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("account_owners")
