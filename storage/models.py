"""Tables: accounts, owners, PSA connections, ticket links, member mappings, post ledger, refs,
unfurl settings.

Every row below `accounts` belongs to exactly one account, and every repository query filters on
it: that is how tenants are kept apart.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime, utcnow


class LedgerState(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    FAILED = "failed"


class LedgerKind(enum.StrEnum):
    NOTE = "note"
    STATUS = "status"
    TIME = "time"  # a time entry on the ticket (`details`: minutes, billing, work type/role)
    TICKET = "ticket"  # a new ticket (`details`: summary, company, board, priority)


class Account(Base):
    """One chat workspace: a Slack team, a Teams tenant, or the local shell."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AccountOwner(Base):
    """A chat user who may connect, edit and disconnect the PSA for an account."""

    __tablename__ = "account_owners"
    __table_args__ = (UniqueConstraint("account_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(128))
    user_name: Mapped[str] = mapped_column(String(200), default="")
    added_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PsaConnection(Base):
    """The account's PSA credentials; keys only as ciphertext plus masked hints."""

    __tablename__ = "psa_connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    provider: Mapped[str] = mapped_column(String(32), default="connectwise")
    site: Mapped[str] = mapped_column(String(255))
    company_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    credentials: Mapped[str] = mapped_column(Text)  # Fernet token of {"public_key", "private_key"}
    public_key_hint: Mapped[str] = mapped_column(String(32))
    private_key_hint: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    last_validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_validation_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # defaults for time entries from chat; None lets ConnectWise use the member's own defaults
    work_type_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    work_role_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TicketLink(Base):
    """A conversation (channel, or thread) linked to one PSA ticket."""

    __tablename__ = "ticket_links"
    __table_args__ = (
        UniqueConstraint("account_id", "conversation_key"),
        Index("ix_ticket_links_account_ticket", "account_id", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    conversation_key: Mapped[str] = mapped_column(String(300))
    channel_id: Mapped[str] = mapped_column(String(200))
    thread_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ticket_id: Mapped[int] = mapped_column(Integer)
    ticket_summary: Mapped[str] = mapped_column(String(200), default="")
    # The ticket's board when it was last read (None for links made before it was kept): the
    # status picker lists this board's cached statuses without reading the ticket.
    board_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    linked_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # May internal notes coming back from ConnectWise be shown here? True for a conversation
    # of the MSP's own workspace; an owner turns it off for a customer-facing one (and a
    # channel shared with another organisation never gets them, whatever this says).
    internal: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class MemberMapping(Base):
    """A chat user mapped to the PSA member their notes are posted as."""

    __tablename__ = "member_mappings"
    __table_args__ = (UniqueConstraint("account_id", "chat_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    chat_user_id: Mapped[str] = mapped_column(String(128))
    chat_user_name: Mapped[str] = mapped_column(String(200), default="")
    member_id: Mapped[int] = mapped_column(Integer)
    member_identifier: Mapped[str] = mapped_column(String(64))
    member_name: Mapped[str] = mapped_column(String(200), default="")
    member_email: Mapped[str] = mapped_column(String(255), default="")
    mapped_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PostLedger(Base):
    """Every note, status change, time entry and new ticket sent from chat to the PSA, and what
    became of it."""

    __tablename__ = "post_ledger"
    __table_args__ = (
        UniqueConstraint("account_id", "idempotency_key"),
        Index("ix_post_ledger_due", "state", "next_attempt_at"),
        Index("ix_post_ledger_ticket", "account_id", "ticket_id", "created_at"),
        Index("ix_post_ledger_conversation", "account_id", "conversation_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    ref: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    ticket_id: Mapped[int] = mapped_column(Integer)
    conversation_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_user_id: Mapped[str] = mapped_column(String(128))
    chat_user_name: Mapped[str] = mapped_column(String(200), default="")
    member_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    member_identifier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    body: Mapped[str] = mapped_column(Text, default="")
    status_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    previous_status_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # what a time entry or a new ticket needs beyond `body` (see LedgerKind); None for the rest
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=LedgerState.PENDING.value)
    psa_object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error_kind: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the facts the message for `error_kind` is worded from when shown (bot/core/errors.py);
    # `last_error` keeps the words of the time, for older rows and kinds no longer known
    error_context: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def is_finished(self) -> bool:
        return self.state != LedgerState.PENDING.value


class ConversationRef(Base):
    """Per conversation: the platform's proactive-reply reference and the history thread."""

    __tablename__ = "conversation_refs"
    __table_args__ = (UniqueConstraint("account_id", "conversation_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    conversation_key: Mapped[str] = mapped_column(String(300))
    platform: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    history_thread_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    history_ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class UnfurlSetting(Base):
    """An owner's choice for one channel: may ticket unfurls appear there even though people of
    another organisation can read it (Slack Connect, a Teams shared channel)? No row: they may
    not. Channels only the MSP reads need no row; unfurls work there anyway."""

    __tablename__ = "unfurl_settings"
    __table_args__ = (UniqueConstraint("account_id", "channel_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(200))
    allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    set_by: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class IntakeState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"


class IntakeItem(Base):
    """A write command stored before the platform is acknowledged, until it has an outcome.

    `invocation` holds the neutral request (JSON, see bot/core/intake.py) and `reply_to` the
    transport's own way back to the author (a Slack response_url and channel, a Teams
    conversation reference), so a later process can finish the work and still tell them.
    """

    __tablename__ = "intake"
    __table_args__ = (
        UniqueConstraint("platform", "account_external_id", "idempotency_key"),
        Index("ix_intake_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    account_external_id: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    invocation: Mapped[str] = mapped_column(Text)  # JSON
    reply_to: Mapped[str] = mapped_column(Text, default="{}")  # JSON, the transport's
    state: Mapped[str] = mapped_column(String(16), default=IntakeState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def is_finished(self) -> bool:
        return self.state != IntakeState.PENDING.value


class CallbackEndpoint(Base):
    """An account's ConnectWise callback: where ConnectWise delivers ticket changes.

    The delivery URL carries an unguessable token; only its SHA-256 is stored (looked up by
    it). A new token is minted at every (re-)registration, so the old address dies with it.
    """

    __tablename__ = "callback_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))  # PSABOT_PUBLIC_URL it was made for
    level: Mapped[str] = mapped_column(String(16), default="owner")
    callback_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # ConnectWise's id
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CallbackDelivery(Base):
    """A verified callback, queued before ConnectWise gets its answer; also the replay guard
    (one row per delivered message, kept for a bounded time after it is done)."""

    __tablename__ = "callback_deliveries"
    __table_args__ = (
        UniqueConstraint("account_id", "message_key"),
        Index("ix_callback_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    message_key: Mapped[str] = mapped_column(String(200))
    ticket_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16), default="")
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TicketWatch(Base):
    """What psabot last saw of a linked ticket, to tell what changed: its status (the "from"
    of a status change), whether it was closed, the newest note id, and its lastUpdated."""

    __tablename__ = "ticket_watch"
    __table_args__ = (UniqueConstraint("account_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(Integer)
    status_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status_name: Mapped[str] = mapped_column(String(100), default="")
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    last_note_id: Mapped[int] = mapped_column(Integer, default=0)
    ticket_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0)
