"""Before `serve` listens: prove the database, schema and keys work; then say what is running."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from bot import __version__
from bot.failures import OperatorError
from bot.settings import Settings
from storage import migrate
from storage.crypto import CredentialCipher
from storage.doctor import Engine, UnknownRevision, schema_state, undecryptable, url_parts
from storage.engine import create_engine

DOCS_URL = "docs/deploy.md and docs/slack.md in the psabot source"


@dataclass
class Preflight:
    """What `serve` and `check` learnt about the database and keys."""

    database: str
    revision: str | None = None
    applied: list[str] = field(default_factory=list)
    credentials: int = 0
    key_source: str = ""
    warnings: list[str] = field(default_factory=list)


def database_label(settings: Settings) -> str:
    parts = url_parts(settings.resolved_database_url)
    if parts is None:
        return "the database"
    if parts.backend == "sqlite":
        return f"SQLite {parts.database}"
    return f"PostgreSQL {parts.display}"


def key_source(settings: Settings) -> str:
    if settings.keys_configured:
        count = len(settings.encryption_key_list())
        return f"PSABOT_ENCRYPTION_KEYS ({count} key{'s' if count != 1 else ''})"
    return f"key file {settings.key_file}"


def cipher_for(settings: Settings) -> CredentialCipher:
    return CredentialCipher(settings.encryption_key_list())


async def pending_revisions(engine: Engine) -> tuple[str | None, list[str]]:
    """The database's revision and the revisions (oldest first) it still lacks."""
    try:
        return await schema_state(engine)
    except UnknownRevision as exc:
        raise OperatorError(
            f"The database is at revision {exc}, which this psabot {__version__} does not "
            "know (a newer psabot migrated it): upgrade psabot on this host."
        ) from None


async def require_schema(engine: Engine, *, embedded: bool) -> tuple[str | None, list[str]]:
    """Migrate the embedded database; refuse an external one that is behind."""
    current, missing = await pending_revisions(engine)
    if not missing:
        return current, []
    if embedded:
        await migrate.upgrade(engine)
        return await migrate.current_revision(engine), missing
    raise OperatorError(
        f"The database schema is at {current or 'nothing (never migrated)'} and this psabot "
        f"needs {migrate.head_revision()}: run `psabot migrate` first."
    )


def keys_problem(settings: Settings, total: int, bad: int) -> str:
    where = (
        f"this host uses its generated key file {settings.key_file}, so set "
        "PSABOT_ENCRYPTION_KEYS to the key the other hosts use"
        if not settings.keys_configured
        else "set PSABOT_ENCRYPTION_KEYS to the key(s) that encrypted them, newest first"
    )
    return f"The encryption keys cannot decrypt {bad} of {total} stored credential(s): {where}."


async def preflight(settings: Settings) -> Preflight:
    """Database reachable, schema current, every stored credential decrypts; else OperatorError."""
    report = Preflight(database=database_label(settings))
    if settings.keys_configured:
        cipher_for(settings)  # a malformed key is reported before the database is touched
    engine = create_engine(settings.resolved_database_url)
    try:
        report.revision, report.applied = await require_schema(
            engine, embedded=settings.embedded_database
        )
        # Only now may a key file be generated: the database is known to be usable.
        cipher = cipher_for(settings)
        report.key_source = key_source(settings)
        if not settings.keys_configured and not settings.embedded_database:
            report.key_source += " (a second host needs PSABOT_ENCRYPTION_KEYS, see above)"
        total, bad = await undecryptable(engine, cipher)
        if bad:
            raise OperatorError(keys_problem(settings, total, bad))
        report.credentials = total
    finally:
        await engine.dispose()
    return report


# -- what is running --------------------------------------------------------------------------


def slack_mode(settings: Settings) -> tuple[str, str | None]:
    """(mode, what is missing) for the Slack settings present."""
    token = settings.slack_bot_token is not None
    oauth = settings.slack_client_id is not None or settings.slack_client_secret is not None
    secret = settings.slack_signing_secret is not None
    socket_mode = settings.slack_app_token is not None
    if not (token or oauth or secret or socket_mode):
        return "off", None
    if (
        oauth
        and not token
        and (settings.slack_client_id is None or settings.slack_client_secret is None)
    ):
        return "off", "set both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for the OAuth install"
    if not (token or oauth):
        return "off", (
            "set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth)"
        )
    if not (secret or socket_mode):
        return "off", "set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode)"
    kind = "one workspace" if token else "OAuth, many workspaces"
    if socket_mode:
        return f"Socket Mode ({kind})", None
    return f"HTTP ({kind})", None


def public_base(settings: Settings) -> str:
    return (settings.public_url or "https://<your public host>").rstrip("/")


def teams_mode(settings: Settings) -> str:
    if not settings.microsoft_app_id:
        return "on, without authentication (loopback only; set MICROSOFT_APP_ID, docs/teams.md)"
    kind = settings.microsoft_app_type or "SingleTenant"
    return f"on, app {settings.microsoft_app_id} ({kind})"


def routes(settings: Settings) -> list[str]:
    shown = ["/", "/healthz", "/metrics", "/slack/events", "/api/messages"]
    mode, _ = slack_mode(settings)
    if mode != "off" and settings.slack_bot_token is None:
        shown += ["/slack/install", "/slack/oauth_redirect"]
    return shown


def next_steps(settings: Settings) -> str:
    mode, missing = slack_mode(settings)
    if missing:
        return f"Slack is incomplete: {missing} (docs/slack.md)."
    if mode == "off":
        return (
            "set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN to connect Slack (docs/slack.md), "
            "or try the commands with `psabot shell --sandbox`."
        )
    if mode.startswith("Socket Mode"):
        return "type `/ticket connect` in Slack; `psabot check` verifies the set-up."
    return (
        f"set the Slack app's Request URLs to {public_base(settings)}/slack/events, then type "
        "`/ticket connect` in Slack; `psabot check` verifies the set-up."
    )


def summary(settings: Settings, report: Preflight, host: str, port: int) -> str:
    """The start-up block: what is configured, where it listens, what to do next."""
    mode, missing = slack_mode(settings)
    applied = f", applied {len(report.applied)} migration(s)" if report.applied else ""
    lines = [
        f"psabot {__version__}",
        f"  database  {report.database} (revision {report.revision}{applied})",
        f"  keys      {report.key_source}; {report.credentials} stored credential(s) decrypt",
        f"  slack     {mode}" + (f" ({missing})" if missing else ""),
        f"  teams     {teams_mode(settings)}",
        f"  routes    {' '.join(routes(settings))}",
        f"  next      {next_steps(settings)}",
        *(f"  warning   {w}" for w in report.warnings),
        f"psabot listening on http://{host}:{port}",
    ]
    return "\n".join(lines)


async def index(request: web.Request) -> web.Response:
    """`GET /`: a pointer for whoever opens the bot's URL in a browser."""
    return web.json_response(
        {
            "service": "psabot",
            "version": __version__,
            "health": "/healthz",
            "metrics": "/metrics",
            "slack": "/slack/events",
            "teams": "/api/messages",
            "docs": DOCS_URL,
        }
    )
