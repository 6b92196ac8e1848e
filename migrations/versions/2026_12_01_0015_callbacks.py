"""callbacks: ConnectWise callback endpoints, the delivery queue, watched tickets, link audience

Revision ID: 0015_callbacks
Revises: 0014_worktime
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_callbacks"
down_revision = "0014_worktime"
branch_labels = None
depends_on = None


def _account(table: str) -> list[sa.SchemaItem]:
    """The account column and its foreign key, named as the models' convention names it."""
    return [
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            ondelete="CASCADE",
            name=op.f(f"fk_{table}_account_id_accounts"),
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "callback_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        *_account("callback_endpoints"),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_endpoints")),
        sa.UniqueConstraint("account_id", name=op.f("uq_callback_endpoints_account_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_callback_endpoints_token_hash")),
    )
    op.create_table(
        "callback_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        *_account("callback_deliveries"),
        sa.Column("message_key", sa.String(length=200), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_deliveries")),
        sa.UniqueConstraint(
            "account_id", "message_key", name=op.f("uq_callback_deliveries_account_id_message_key")
        ),
    )
    op.create_index(
        "ix_callback_deliveries_due", "callback_deliveries", ["state", "next_attempt_at"]
    )
    op.create_table(
        "ticket_watch",
        sa.Column("id", sa.Integer(), nullable=False),
        *_account("ticket_watch"),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("status_id", sa.Integer(), nullable=True),
        sa.Column("status_name", sa.String(length=100), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("last_note_id", sa.Integer(), nullable=False),
        sa.Column("ticket_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_watch")),
        sa.UniqueConstraint(
            "account_id", "ticket_id", name=op.f("uq_ticket_watch_account_id_ticket_id")
        ),
    )
    with op.batch_alter_table("ticket_links") as batch:
        batch.add_column(
            sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_links") as batch:
        batch.drop_column("internal")
    op.drop_table("ticket_watch")
    op.drop_index("ix_callback_deliveries_due", table_name="callback_deliveries")
    op.drop_table("callback_deliveries")
    op.drop_table("callback_endpoints")
