"""Repositories: the only place with SQL. Each takes an AsyncSession; every query is per account."""

from storage.repositories.accounts import AccountRepository, OwnerRepository
from storage.repositories.connections import ConnectionRepository
from storage.repositories.intake import IntakeRepository, NewIntake
from storage.repositories.ledger import LedgerRepository, NewPost
from storage.repositories.links import LinkRepository
from storage.repositories.mappings import MappingRepository
from storage.repositories.refs import ConversationRefRepository
from storage.repositories.unfurls import UnfurlRepository

__all__ = [
    "AccountRepository",
    "ConnectionRepository",
    "ConversationRefRepository",
    "IntakeRepository",
    "LedgerRepository",
    "LinkRepository",
    "MappingRepository",
    "NewIntake",
    "NewPost",
    "OwnerRepository",
    "UnfurlRepository",
]
