"""Microsoft Teams transport (Microsoft 365 Agents SDK): `mount` it, `check_bind` before serving."""

from __future__ import annotations

from bot.teams.config import check_bind
from bot.teams.service import MESSAGES_PATH, OPTIONS, TeamsOptions, mount

__all__ = ["MESSAGES_PATH", "OPTIONS", "TeamsOptions", "check_bind", "mount"]
