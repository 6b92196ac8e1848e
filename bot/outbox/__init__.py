"""The outbox: ledger rows to the PSA exactly once (bot/outbox/delivery.py has the whole story)."""

from bot.outbox.delivery import Outbox
from bot.outbox.records import UNCONFIRMED, Outcome, compose_note, marker, preview

__all__ = ["UNCONFIRMED", "Outbox", "Outcome", "compose_note", "marker", "preview"]
