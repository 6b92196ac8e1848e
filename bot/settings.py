"""Process settings from the environment (README "Configuration"); secrets are SecretStr."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.crypto import KEY_FILE_NAME, load_or_create_key_file, parse_keys
from storage.doctor import DRIVERS, url_parts
from storage.engine import default_sqlite_url, is_sqlite

log = logging.getLogger(__name__)

SECOND_HOST_WARNING = (
    "PSABOT_ENCRYPTION_KEYS is not set while using an external database: this host uses the "
    "key file {path}, and a second host on the same database would generate its own key and "
    "fail to read the stored credentials; set PSABOT_ENCRYPTION_KEYS to the same key everywhere"
)
_warned: list[bool] = []


class ConfigError(ValueError):
    """A setting is present but unusable; the message says what to change."""


def check_database_url(url: str) -> str:
    """`url` if its driver is one psabot ships, else ConfigError naming the right scheme."""
    parts = url_parts(url)
    if parts is None:
        raise ConfigError(
            "PSABOT_DATABASE_URL is not a database URL: use "
            "postgresql+asyncpg://user:password@host:5432/dbname."
        )
    driver = parts.driver
    if driver in DRIVERS:
        return url
    right = (
        "sqlite+aiosqlite:///path/to/file"
        if driver.startswith("sqlite")
        else ("postgresql+asyncpg://user:password@host:5432/dbname")
    )
    raise ConfigError(
        f"PSABOT_DATABASE_URL starts with `{driver}://`, which psabot cannot use: "
        f"write it as {right}."
    )


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    database_url: str | None = Field(None, validation_alias=_env("PSABOT_DATABASE_URL"))
    data_dir: Path = Field(Path(".psabot"), validation_alias=_env("PSABOT_DATA_DIR"))
    encryption_keys: SecretStr | None = Field(None, validation_alias=_env("PSABOT_ENCRYPTION_KEYS"))
    cw_allowed_hosts: str = Field("", validation_alias=_env("PSABOT_CW_ALLOWED_HOSTS"))
    cw_client_id: str | None = Field(None, validation_alias=_env("PSABOT_CW_CLIENT_ID"))
    log_level: str = Field("INFO", validation_alias=_env("PSABOT_LOG_LEVEL"))
    public_url: str | None = Field(None, validation_alias=_env("PSABOT_PUBLIC_URL"))

    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_client_id: str | None = Field(None, validation_alias=_env("SLACK_CLIENT_ID"))
    slack_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_CLIENT_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))

    microsoft_app_id: str | None = Field(None, validation_alias=_env("MICROSOFT_APP_ID"))
    microsoft_app_password: SecretStr | None = Field(
        None, validation_alias=_env("MICROSOFT_APP_PASSWORD")
    )
    microsoft_app_tenant_id: str | None = Field(
        None, validation_alias=_env("MICROSOFT_APP_TENANT_ID")
    )
    microsoft_app_type: str | None = Field(None, validation_alias=_env("MICROSOFT_APP_TYPE"))

    # How long a claimed write is held by a process that stops answering (then another
    # process finishes it), and how long after an attempt with an unknown outcome psabot
    # waits before it looks for the note again or re-posts it (docs/reliability.md).
    lease_seconds: float = Field(60.0, gt=0, validation_alias=_env("PSABOT_LEASE_SECONDS"))
    settle_seconds: float = Field(120.0, ge=0, validation_alias=_env("PSABOT_SETTLE_SECONDS"))
    # How often linked open tickets are compared with ConnectWise, for changes whose callback
    # never arrived (docs/connectwise.md, "Two-way").
    cw_reconcile_seconds: float = Field(
        300.0, gt=0, validation_alias=_env("PSABOT_CW_RECONCILE_SECONDS")
    )

    @field_validator(
        "database_url",
        "encryption_keys",
        "public_url",
        "cw_client_id",
        "slack_signing_secret",
        "slack_bot_token",
        "slack_client_id",
        "slack_client_secret",
        "slack_app_token",
        "microsoft_app_id",
        "microsoft_app_password",
        "microsoft_app_tenant_id",
        "microsoft_app_type",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`FOO=` in an env file means "not set", not "set to nothing"."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url is None:
            return default_sqlite_url(self.data_dir)
        return check_database_url(self.database_url)

    @property
    def key_file(self) -> Path:
        return self.data_dir / KEY_FILE_NAME

    @property
    def keys_configured(self) -> bool:
        return self.encryption_keys is not None and bool(
            self.encryption_keys.get_secret_value().strip()
        )

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None or is_sqlite(self.resolved_database_url)

    @property
    def allowed_hosts(self) -> list[str]:
        return [h.strip() for h in self.cw_allowed_hosts.split(",") if h.strip()]

    def encryption_key_list(self) -> list[str]:
        """Configured keys, or the generated key file of the data dir (embedded mode)."""
        if self.encryption_keys is not None and self.keys_configured:
            return parse_keys(self.encryption_keys.get_secret_value())
        if not self.embedded_database and not _warned:
            _warned.append(True)  # once per process, however many parts ask for the keys
            log.warning(SECOND_HOST_WARNING.format(path=self.key_file))
        return load_or_create_key_file(self.data_dir)
