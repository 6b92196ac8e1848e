"""`psabot` command line: serve, shell, sandbox, migrate, keygen, rotate-keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence

from aiohttp import web

from bot import logs
from bot.settings import Settings

log = logging.getLogger("psabot")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logs.install()  # secrets redacted, Slack library bodies dropped, at every level


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import create_app

    app = create_app(settings)
    print(f"psabot listening on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from storage import migrate
    from storage.engine import create_engine

    async def run() -> str | None:
        engine = create_engine(settings.resolved_database_url)
        try:
            await migrate.upgrade(engine)
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    revision = asyncio.run(run())
    print(f"database is at revision {revision}")
    return 0


def cmd_keygen(args: argparse.Namespace, settings: Settings) -> int:
    from storage.crypto import generate_key

    print(generate_key())
    return 0


def cmd_rotate_keys(args: argparse.Namespace, settings: Settings) -> int:
    from storage.crypto import CredentialCipher
    from storage.engine import create_engine
    from storage.store import Store

    async def run() -> tuple[int, int]:
        store = Store(
            create_engine(settings.resolved_database_url),
            CredentialCipher(settings.encryption_key_list()),
        )
        try:
            async with store.unit() as uow:  # all or nothing
                return await uow.connections.rotate_all(), await uow.slack_tokens.rotate_all()
        finally:
            await store.aclose()

    connections, tokens = asyncio.run(run())
    print(
        f"re-encrypted {connections} stored connection(s) and {tokens} Slack token(s) "
        "with the first key"
    )
    return 0


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from psa.connectwise.sandbox import run_sandbox

    faults = {
        "rate_429": args.rate_429,
        "rate_500": args.rate_500,
        "rate_timeout": args.rate_timeout,
        "rate_drop_after_write": args.rate_drop_after_write,
        "retry_after": args.retry_after,
        "hang_seconds": args.hang_seconds,
    }
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_sandbox(args.host, args.port, seed=args.seed, latency_ms=args.latency_ms, **faults)
        )
    return 0


def cmd_shell(args: argparse.Namespace, settings: Settings) -> int:
    from bot.shell.repl import run_shell

    if settings.log_level.upper() == "INFO":
        logging.getLogger().setLevel(logging.WARNING)  # keep the conversation readable
    return asyncio.run(
        run_shell(settings, sandbox=args.sandbox, user=args.as_user, admin=args.admin)
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="psabot",
        description="Chat-ops bot connecting Slack and Microsoft Teams to ConnectWise PSA.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the bot (HTTP routes; Slack Socket Mode when SLACK_APP_TOKEN is set)",
        description="Run the bot. On the embedded SQLite default, pending migrations are "
        "applied first; an external database must be migrated with `psabot migrate`.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    serve.set_defaults(func=cmd_serve)

    shell = sub.add_parser(
        "shell",
        help="local chat REPL over the same commands",
        description="A terminal chat: type `/ticket help`. `/as USER [--admin]` and "
        "`/in CHANNEL [THREAD]` switch identity and place.",
    )
    shell.add_argument(
        "--sandbox",
        action="store_true",
        help="start the ConnectWise sandbox in-process and connect the shell's account to it",
    )
    shell.add_argument("--as", dest="as_user", default=None, help="chat user name to start as")
    shell.add_argument("--admin", action="store_true", help="start as a workspace admin")
    shell.set_defaults(func=cmd_shell)

    sandbox = sub.add_parser(
        "sandbox",
        help="run the ConnectWise sandbox alone",
        description="An HTTP server emulating the ConnectWise REST API with seeded demo data.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8765, help="port to bind (default 8765)")
    sandbox.add_argument("--latency-ms", type=int, default=0, help="delay added to every request")
    sandbox.add_argument("--seed", type=int, default=7, help="seed of the demo data (default 7)")
    faults = sandbox.add_argument_group(
        "fault injection",
        "share of API requests that fail (0 to 1); also live at POST /_sandbox/faults",
    )
    faults.add_argument("--rate-429", type=float, default=0.0, help="answer 429 Too Many Requests")
    faults.add_argument("--rate-500", type=float, default=0.0, help="answer a ConnectWise 500")
    faults.add_argument("--rate-timeout", type=float, default=0.0, help="hold, then hang up")
    faults.add_argument(
        "--rate-drop-after-write",
        type=float,
        default=0.0,
        help="apply a POST/PATCH, then drop the connection without answering",
    )
    faults.add_argument("--retry-after", type=int, default=30, help="Retry-After of a 429 (s)")
    faults.add_argument("--hang-seconds", type=float, default=30.0, help="how long a timeout holds")
    sandbox.set_defaults(func=cmd_sandbox)

    migrate = sub.add_parser(
        "migrate",
        help="apply database migrations (alembic upgrade head)",
        description="Apply pending migrations to PSABOT_DATABASE_URL (or the embedded SQLite).",
    )
    migrate.set_defaults(func=cmd_migrate)

    keygen = sub.add_parser(
        "keygen",
        help="print a new encryption key",
        description="Print a new Fernet key for PSABOT_ENCRYPTION_KEYS.",
    )
    keygen.set_defaults(func=cmd_keygen)

    rotate = sub.add_parser(
        "rotate-keys",
        help="re-encrypt stored credentials with the first key",
        description="Re-encrypt every stored PSA credential with the first key of "
        "PSABOT_ENCRYPTION_KEYS (the others must still be listed to decrypt).",
    )
    rotate.set_defaults(func=cmd_rotate_keys)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    _configure_logging(settings.log_level)
    code: int = args.func(args, settings)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
