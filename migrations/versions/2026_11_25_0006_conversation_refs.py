"""conversation_refs: proactive-reply references and post-history thread ids

Revision ID: 0006_conversation_refs
Revises: 0005_post_ledger
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_conversation_refs"
down_revision = "0005_post_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_refs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("conversation_key", sa.String(length=300), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("history_thread_id", sa.String(length=200), nullable=True),
        sa.Column("history_ticket_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_conversation_refs_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_refs")),
        sa.UniqueConstraint(
            "account_id",
            "conversation_key",
            name=op.f("uq_conversation_refs_account_id_conversation_key"),
        ),
    )


def downgrade() -> None:
    op.drop_table("conversation_refs")
