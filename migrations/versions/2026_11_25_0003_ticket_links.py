"""ticket_links: a conversation linked to a ticket, one link per conversation

Revision ID: 0003_ticket_links
Revises: 0002_psa_connections
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_ticket_links"
down_revision = "0002_psa_connections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("conversation_key", sa.String(length=300), nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("thread_id", sa.String(length=200), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("ticket_summary", sa.String(length=200), nullable=False),
        sa.Column("linked_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_ticket_links_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_links")),
        sa.UniqueConstraint(
            "account_id",
            "conversation_key",
            name=op.f("uq_ticket_links_account_id_conversation_key"),
        ),
    )
    op.create_index(
        "ix_ticket_links_account_ticket", "ticket_links", ["account_id", "ticket_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_links_account_ticket", table_name="ticket_links")
    op.drop_table("ticket_links")
