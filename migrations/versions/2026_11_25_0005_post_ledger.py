"""post_ledger: every note and status change sent to the PSA, one row per idempotency key

Revision ID: 0005_post_ledger
Revises: 0004_member_mappings
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_post_ledger"
down_revision = "0004_member_mappings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "post_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("ref", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("conversation_key", sa.String(length=300), nullable=True),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_user_id", sa.String(length=128), nullable=False),
        sa.Column("chat_user_name", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("member_identifier", sa.String(length=64), nullable=True),
        sa.Column("note_type", sa.String(length=16), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status_id", sa.Integer(), nullable=True),
        sa.Column("status_name", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("psa_object_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("error_kind", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("give_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_post_ledger_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_ledger")),
        sa.UniqueConstraint(
            "account_id", "idempotency_key", name=op.f("uq_post_ledger_account_id_idempotency_key")
        ),
    )
    op.create_index("ix_post_ledger_due", "post_ledger", ["state", "next_attempt_at"], unique=False)
    op.create_index(
        "ix_post_ledger_ticket",
        "post_ledger",
        ["account_id", "ticket_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_post_ledger_conversation",
        "post_ledger",
        ["account_id", "conversation_key", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_post_ledger_conversation", table_name="post_ledger")
    op.drop_index("ix_post_ledger_ticket", table_name="post_ledger")
    op.drop_index("ix_post_ledger_due", table_name="post_ledger")
    op.drop_table("post_ledger")
