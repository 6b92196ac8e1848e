"""Multi-workspace install: slack_sdk's SQLAlchemy stores on our tables, tokens encrypted."""

from __future__ import annotations

import copy
import time
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore

from storage.crypto import CredentialCipher
from storage.store import Store

TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")


class EncryptedInstallationStore(AsyncInstallationStore):
    """Bot and user tokens go into the database encrypted with psabot's credential keys."""

    def __init__(self, inner: AsyncSQLAlchemyInstallationStore, cipher: CredentialCipher) -> None:
        self.inner = inner
        self.cipher = cipher

    @property
    def logger(self) -> Any:
        return self.inner.logger

    def _seal(self, record: Any) -> Any:
        sealed = copy.copy(record)
        for name in TOKEN_FIELDS:
            value = getattr(sealed, name, None)
            if value:
                setattr(sealed, name, self.cipher.encrypt(str(value).encode()))
        return sealed

    def _open(self, record: Any) -> Any:
        if record is None:
            return None
        for name in TOKEN_FIELDS:
            value = getattr(record, name, None)
            if value:
                setattr(record, name, self.cipher.decrypt(str(value)).decode())
        return record

    async def async_save(self, installation: Installation) -> None:
        await self.inner.async_save(self._seal(installation))

    async def async_save_bot(self, bot: Bot) -> None:
        await self.inner.async_save_bot(self._seal(bot))

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        bot = await self.inner.async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        opened: Bot | None = self._open(bot)
        return opened

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        installation = await self.inner.async_find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )
        opened: Installation | None = self._open(installation)
        return opened

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.inner.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self.inner.async_delete_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.inner.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)


class CachedBotAuthorize(AsyncAuthorize):
    """bolt's authorize step for OAuth installs, kept off the ack path: the first request of a
    workspace reads its bot token from the store; later ones find it in memory (no database
    and no auth.test before the ack). A new install for the workspace replaces the entry."""

    def __init__(self, store: EncryptedInstallationStore, ttl_seconds: float = 600.0) -> None:
        super().__init__()
        self.store = store
        self.ttl = ttl_seconds
        self._cache: dict[tuple[str | None, str | None], tuple[float, AuthorizeResult]] = {}

    def forget(self) -> None:
        self._cache.clear()

    async def __call__(
        self,
        *,
        context: Any,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        key = (enterprise_id, team_id)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        bot = await self.store.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None or not bot.bot_token:
            return None  # bolt answers "not installed" for this workspace
        result = AuthorizeResult(
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )
        self._cache[key] = (time.monotonic() + self.ttl, result)
        return result


def installation_store(client_id: str, store: Store) -> EncryptedInstallationStore:
    """slack_sdk's store on psabot's own (migrated) tables, sealed with psabot's keys."""
    return EncryptedInstallationStore(
        AsyncSQLAlchemyInstallationStore(client_id, store.engine), store.cipher
    )
