"""`psabot check`: the deployment doctor, one ✓/✗ line per check with the fix."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import message_for
from bot.failures import explain
from bot.settings import SECOND_HOST_WARNING, Settings
from bot.slack.auth_check import check_bot_token
from bot.startup import (
    cipher_for,
    database_label,
    key_source,
    keys_problem,
    pending_revisions,
    public_base,
    slack_mode,
)
from psa.connectwise.hosts import HostPolicy
from psa.registry import ProviderRegistry
from storage import migrate
from storage.crypto import CredentialCipher, generate_key
from storage.doctor import Engine, probe, stored_connections, undecryptable, url_parts
from storage.engine import create_engine
from storage.store import Store


@dataclass(frozen=True)
class Line:
    ok: bool
    name: str
    text: str

    def render(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name:<10} {self.text}"


def _exists(path: str) -> bool:
    return Path(path).exists()  # a stat before anything else runs; nothing to wait on


def _embedded(settings: Settings) -> bool:
    """Like Settings.embedded_database, without raising on a URL that does not parse."""
    parts = url_parts(settings.database_url) if settings.database_url else None
    return settings.database_url is None or (parts is not None and parts.backend == "sqlite")


def _problem(exc: BaseException, settings: Settings) -> str:
    return explain(exc, settings) or f"{type(exc).__name__}: {exc}"


async def _database(settings: Settings, lines: list[Line]) -> Engine | None:
    """Reachable and migrated; the engine when the later checks can read it."""
    url = settings.resolved_database_url
    if settings.embedded_database:
        parts = url_parts(url)
        path = parts.database if parts else ""
        if path and path != ":memory:" and not _exists(path):
            lines.append(Line(True, "database", f"SQLite {path} is created by `psabot serve`"))
            return None
    engine = create_engine(url)
    try:
        await probe(engine)
    except Exception as exc:
        lines.append(Line(False, "database", _problem(exc, settings)))
        await engine.dispose()
        return None
    lines.append(Line(True, "database", f"{database_label(settings)} is reachable"))
    try:
        current, missing = await pending_revisions(engine)
    except Exception as exc:
        lines.append(Line(False, "schema", _problem(exc, settings)))
        await engine.dispose()
        return None
    if not missing:
        lines.append(Line(True, "schema", f"at revision {current}, the latest"))
    elif settings.embedded_database:
        lines.append(
            Line(True, "schema", f"{len(missing)} migration(s) pending; `psabot serve` applies")
        )
    else:
        lines.append(
            Line(
                False,
                "schema",
                f"at {current or 'nothing (never migrated)'}, needs {migrate.head_revision()}: "
                "run `psabot migrate`",
            )
        )
        await engine.dispose()
        return None
    return engine


async def _keys(
    settings: Settings, engine: Engine | None, lines: list[Line]
) -> CredentialCipher | None:
    if not settings.keys_configured and not _embedded(settings):
        lines.append(Line(False, "keys", SECOND_HOST_WARNING.format(path=settings.key_file)))
    if not settings.keys_configured and not _exists(str(settings.key_file)):
        # Read-only: no key file is generated here. A throwaway key decrypts nothing, so
        # `total` counts what this host would be unable to read.
        total = (
            (await undecryptable(engine, CredentialCipher([generate_key()])))[0] if engine else 0
        )
        if total:
            lines.append(Line(False, "keys", keys_problem(settings, total, total)))
        else:
            lines.append(
                Line(True, "keys", f"none yet; `psabot serve` generates {settings.key_file}")
            )
        return None
    try:
        cipher = cipher_for(settings)
    except Exception as exc:
        lines.append(Line(False, "keys", _problem(exc, settings)))
        return None
    if engine is None:
        lines.append(Line(True, "keys", f"{key_source(settings)} parse"))
        return cipher
    total, bad = await undecryptable(engine, cipher)
    if bad:
        lines.append(Line(False, "keys", keys_problem(settings, total, bad)))
        return None
    lines.append(
        Line(True, "keys", f"{key_source(settings)} decrypt all {total} stored credential(s)")
    )
    return cipher


async def _slack(settings: Settings, lines: list[Line]) -> None:
    mode, missing = slack_mode(settings)
    if missing:
        lines.append(Line(False, "slack", f"settings incomplete: {missing} (docs/slack.md)"))
        return
    if mode == "off":
        lines.append(Line(True, "slack", "off (no SLACK_* settings); docs/slack.md turns it on"))
        return
    if settings.slack_bot_token is not None:
        token = await check_bot_token(
            settings.slack_bot_token.get_secret_value(), settings.slack_api_url
        )
        if token.error.startswith("unreachable"):
            lines.append(
                Line(
                    False,
                    "slack",
                    f"cannot reach {settings.slack_api_url} ({token.error}): allow outbound "
                    "HTTPS from this host",
                )
            )
            return
        if not token.ok:
            lines.append(
                Line(
                    False,
                    "slack",
                    f"Slack rejected SLACK_BOT_TOKEN ({token.error}): copy the Bot User OAuth "
                    "Token (xoxb-…) from the app's OAuth & Permissions page",
                )
            )
            return
        lines.append(Line(True, "slack", f"{mode}: token valid for {token.team}"))
    else:
        lines.append(Line(True, "slack", f"{mode}: workspaces install at /slack/install"))
    if (
        settings.slack_app_token is not None
        and not settings.slack_app_token.get_secret_value().startswith("xapp-")
    ):
        lines.append(
            Line(False, "slack", "SLACK_APP_TOKEN is not an app-level token: it starts with xapp-")
        )


def _urls(settings: Settings, lines: list[Line]) -> None:
    mode, _ = slack_mode(settings)
    needs_http = mode.startswith("HTTP")
    base = public_base(settings)
    if settings.public_url is None:
        if needs_http:
            lines.append(
                Line(
                    False,
                    "urls",
                    "set PSABOT_PUBLIC_URL to the https address Slack reaches (the reverse "
                    "proxy), so the URLs to paste can be shown",
                )
            )
        return
    if not settings.public_url.startswith("https://"):
        lines.append(
            Line(
                False,
                "urls",
                f"PSABOT_PUBLIC_URL {base} must start with https:// (Slack "
                "calls only TLS addresses; terminate TLS at the reverse proxy)",
            )
        )
        return
    pasted = [f"{base}/slack/events (Slack: Slash Commands, Interactivity, Event Subscriptions)"]
    if mode.startswith(("HTTP (OAuth", "Socket Mode (OAuth")):
        pasted.append(f"{base}/slack/oauth_redirect (Slack: OAuth Redirect URL)")
    lines.append(Line(True, "urls", "paste " + "; ".join(pasted)))


async def _connections(
    settings: Settings, engine: Engine, cipher: CredentialCipher, lines: list[Line]
) -> None:
    stored = await stored_connections(Store(engine, cipher))
    if not stored:
        lines.append(Line(True, "connection", "none stored yet (`/ticket connect` adds one)"))
        return
    registry = ProviderRegistry(HostPolicy(settings.allowed_hosts), timeout=10.0)
    try:
        for item in stored:
            try:
                provider = registry.build(Store(engine, cipher).cipher_settings(item.row))
                try:
                    found = await provider.test_connection()
                finally:
                    await provider.aclose()
            except Exception as exc:
                lines.append(
                    Line(False, "connection", f"{item.workspace} ({item.site}): {message_for(exc)}")
                )
                continue
            lines.append(
                Line(True, "connection", f"{item.workspace}: {item.site}, {found.company_name}")
            )
    finally:
        await registry.aclose()


def _teams(settings: Settings, lines: list[Line]) -> None:
    """Teams settings complete (when any is set), and the URL to paste into the Azure Bot."""
    if not settings.microsoft_app_id:
        lines.append(
            Line(True, "teams", "off until MICROSOFT_APP_ID is set (docs/teams.md); loopback only")
        )
        return
    from bot.teams import check_bind

    problem = check_bind(settings, "127.0.0.1")
    if problem is not None:
        lines.append(Line(False, "teams", problem))
        return
    where = f"{public_base(settings)}/api/messages" if settings.public_url else "/api/messages"
    lines.append(
        Line(
            True, "teams", f"app {settings.microsoft_app_id}; Azure Bot messaging endpoint {where}"
        )
    )


async def collect(settings: Settings, *, connections: bool) -> list[Line]:
    lines = [Line(True, "settings", "parsed from the environment")]
    try:
        engine = await _database(settings, lines)
    except Exception as exc:
        lines.append(Line(False, "database", _problem(exc, settings)))
        engine = None
    try:
        cipher = await _keys(settings, engine, lines)
        await _slack(settings, lines)
        _teams(settings, lines)
        _urls(settings, lines)
        if connections and engine is not None and cipher is not None:
            await _connections(settings, engine, cipher, lines)
    finally:
        if engine is not None:
            await engine.dispose()
    return lines


async def run_checks(settings: Settings, *, connections: bool) -> int:
    lines = await collect(settings, connections=connections)
    for line in lines:
        print(line.render(), flush=True)
    failed = sum(not line.ok for line in lines)
    print(f"{failed} problem(s) found." if failed else "All checks passed.", file=sys.stderr)
    return 1 if failed else 0
