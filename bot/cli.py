"""`psabot` command line: serve, check, shell, sandbox, migrate, keygen, rotate-keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from aiohttp import web

from bot import __version__, logs
from bot.failures import OperatorError, bind, explain, port_problem
from bot.settings import Settings

log = logging.getLogger("psabot")
DEBUG_HINT = "(run with --debug for the details)"
DEBUG_HELP = "show tracebacks and debug logs (also PSABOT_LOG_LEVEL=DEBUG)"


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # the Agents SDK logs its whole connection summary at INFO on every start
    logging.getLogger("microsoft_agents").setLevel(logging.WARNING)
    logs.install()  # secrets redacted, Slack library bodies dropped, at every level


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import create_app
    from bot.startup import preflight, summary
    from bot.teams import check_bind

    # Everything that can be wrong with the set-up is found before "listening" is printed.
    refused = check_bind(settings, args.host)
    if refused is not None:
        raise OperatorError(refused)
    report = asyncio.run(preflight(settings))
    sock = bind(args.host, args.port)
    app = create_app(settings)
    print(summary(settings, report, args.host, args.port), file=sys.stderr, flush=True)
    web.run_app(app, sock=sock, print=None, access_log=None)
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.check import run_checks

    return asyncio.run(run_checks(settings, connections=args.connections))


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.startup import pending_revisions
    from storage import migrate
    from storage.engine import create_engine

    async def run() -> tuple[list[str], str | None]:
        engine = create_engine(settings.resolved_database_url)
        try:
            _, missing = await pending_revisions(engine)
            if missing:
                await migrate.upgrade(engine)
            return missing, await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    applied, revision = asyncio.run(run())
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
        print(f"database is at revision {revision}")
    else:
        print(f"database is at revision {revision}; nothing to apply")
    return 0


def cmd_keygen(args: argparse.Namespace, settings: Settings) -> int:
    from storage.crypto import generate_key

    print(generate_key())
    return 0


def cmd_rotate_keys(args: argparse.Namespace, settings: Settings) -> int:
    from storage.crypto import CredentialCipher, CredentialDecryptError
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

    try:
        connections, tokens = asyncio.run(run())
    except CredentialDecryptError:
        raise OperatorError(
            "A stored credential cannot be decrypted with any key in PSABOT_ENCRYPTION_KEYS: "
            "list the new key and the old one, newest first (`new,old`), and run rotate-keys again."
        ) from None
    print(
        f"re-encrypted {connections} stored connection(s) and {tokens} Slack token(s) "
        "with the first key"
    )
    return 0


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from psa.connectwise.sandbox import run_sandbox
    from psa.connectwise.sandbox.data import check_ticket_count

    try:
        check_ticket_count(args.tickets)
    except ValueError as exc:
        raise OperatorError(f"--tickets {args.tickets}: {exc}.") from None

    faults = {
        "rate_429": args.rate_429,
        "rate_500": args.rate_500,
        "rate_timeout": args.rate_timeout,
        "rate_drop_after_write": args.rate_drop_after_write,
        "retry_after": args.retry_after,
        "hang_seconds": args.hang_seconds,
    }
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                run_sandbox(
                    args.host,
                    args.port,
                    seed=args.seed,
                    latency_ms=args.latency_ms,
                    ticket_count=args.tickets,
                    tls=args.tls,
                    **faults,
                )
            )
    except OSError as exc:
        raise port_problem(exc, args.host, args.port) from None
    return 0


def cmd_shell(args: argparse.Namespace, settings: Settings) -> int:
    from bot.shell.repl import run_shell

    if settings.log_level.upper() == "INFO" and not args.debug:
        logging.getLogger().setLevel(logging.WARNING)  # keep the conversation readable
    try:
        return asyncio.run(
            run_shell(settings, sandbox=args.sandbox, user=args.as_user, admin=args.admin)
        )
    except KeyboardInterrupt:  # Ctrl-C leaves like Ctrl-D: a newline, no traceback
        print(flush=True)
        return 0


def cmd_teams_package(args: argparse.Namespace, settings: Settings) -> int:
    from bot.teams_package import run

    return run(
        settings,
        out=args.out,
        base_url=args.base_url,
        name=args.name,
        developer_name=args.developer_name,
        developer_url=args.developer_url,
        version=args.app_version,
        unfurl_domains=args.unfurl_domain or (),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="psabot",
        description="Chat-ops bot connecting Slack and Microsoft Teams to ConnectWise PSA.",
        epilog="`psabot COMMAND --help` describes a command. Settings come from the "
        "environment (README, Configuration).",
    )
    parser.add_argument("--version", action="version", version=f"psabot {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the bot (HTTP routes; Slack Socket Mode when SLACK_APP_TOKEN is set)",
        description="Run the bot. On the embedded SQLite default, pending migrations are "
        "applied first; an external database must be migrated with `psabot migrate`.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser(
        "check",
        help="check the deployment: settings, database, keys, Slack, URLs",
        description="One line per check, ✓ or ✗ with the fix; the exit code is 0 only if "
        "every check passes. Reads only; migrates nothing.",
    )
    check.add_argument(
        "--connections",
        action="store_true",
        help="also test every stored ConnectWise connection (one API call each)",
    )
    check.set_defaults(func=cmd_check)

    shell = sub.add_parser(
        "shell",
        help="local chat REPL over the same commands",
        description="A terminal chat over the bot's commands: type `help`. `/as USER "
        "[--admin]` and `/in CHANNEL [THREAD]` switch identity and place; `@name` mentions a "
        "shell user.",
    )
    shell.add_argument(
        "--sandbox",
        action="store_true",
        help="start the ConnectWise sandbox in-process and connect the shell's account to it "
        "(its data lives in a temporary directory, removed on exit)",
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
    sandbox.add_argument(
        "--tickets",
        type=int,
        default=200,
        help="how many tickets the demo data has (200 to 20000, default 200)",
    )
    sandbox.add_argument(
        "--tls",
        action="store_true",
        help="serve https with a certificate generated at start; the CA file to trust is printed",
    )
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

    teams_package = sub.add_parser(
        "teams-package",
        help="build the app package (manifest + icons) for the Azure Bot in MICROSOFT_APP_ID",
        description="Write a Teams app package (manifest.json, color.png, outline.png) for the "
        "Azure Bot named by MICROSOFT_APP_ID; upload it as described in docs/teams.md.",
    )
    teams_package.add_argument("--out", required=True, help="zip file to write")
    teams_package.add_argument(
        "--base-url", help="https address where Teams reaches psabot (for validDomains)"
    )
    teams_package.add_argument("--name", help="app name shown in Teams (default psabot)")
    teams_package.add_argument("--developer-name", help="publisher shown in Teams (default psabot)")
    teams_package.add_argument(
        "--developer-url", help="https page for website, privacy and terms (default --base-url)"
    )
    teams_package.add_argument("--app-version", help="app version, raise it on every update")
    teams_package.add_argument(
        "--unfurl-domain",
        action="append",
        help="domain whose ticket links unfurl (repeat it; default *.myconnectwise.net; "
        "add your on-premises ConnectWise host)",
    )
    teams_package.set_defaults(func=cmd_teams_package)
    for command in sub.choices.values():
        # `psabot serve --debug` works as well as `psabot --debug serve`.
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
        )
    return parser


def _load_settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper() or 'a setting'}: {e['msg']}"
            for e in exc.errors()
        )
        raise OperatorError(f"A setting in the environment is invalid ({problems}).") from None


def _fail(exc: BaseException, settings: Settings | None, debug: bool) -> int:
    """One or two sentences on stderr (the traceback too with --debug); exit code 1."""
    text = explain(exc, settings)
    if text is None:
        detail = str(exc).splitlines()[0] if str(exc) else ""
        text = f"psabot failed: {type(exc).__name__}{': ' + detail if detail else ''}."
        if not debug:
            text += f" {DEBUG_HINT}"
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(text, file=sys.stderr, flush=True)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    os.umask(0o077)  # the data dir holds credentials and the key: files are 0600, dirs 0700
    settings: Settings | None = None
    debug = bool(args.debug) or os.environ.get("PSABOT_LOG_LEVEL", "").upper() == "DEBUG"
    args.debug = debug
    try:
        settings = _load_settings()
        _configure_logging("DEBUG" if debug else settings.log_level)
        code: int = args.func(args, settings)
        return code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except Exception as exc:
        return _fail(exc, settings, debug)


if __name__ == "__main__":
    raise SystemExit(main())
