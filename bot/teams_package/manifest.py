"""The Teams app manifest (schema v1.30) for psabot's bot and message extension."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.core.router import CommandSpec
from bot.teams_package.icons import ACCENT

MANIFEST_VERSION = "1.30"
SCHEMA_URL = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"
ACCENT_COLOR = "#{:02X}{:02X}{:02X}".format(*ACCENT)  # the icons' background
BOT_SCOPES = ("personal", "team", "groupChat")

# The message extension's command ids: Teams sends them back as `value.commandId` in
# composeExtension/query, fetchTask and submitAction, so the transport matches on them.
SEARCH_COMMAND_ID = "searchTickets"
SEARCH_PARAMETER = "query"
POST_TO_TICKET_COMMAND_ID = "postToTicket"
NEW_TICKET_COMMAND_ID = "newTicket"  # bot/teams/transport.py opens the new-ticket form for it

# Link unfurling (composeExtension/queryLink) for these domains: the ConnectWise cloud's web
# hosts; an on-premises server is added with --unfurl-domain.
DEFAULT_UNFURL_DOMAINS = ("*.myconnectwise.net",)
MAX_UNFURL_DOMAINS = 10
_UNFURL_DOMAIN = re.compile(
    r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(:\d{1,5})?$"
)

# Limits of the v1.30 schema (bots[].commandLists[].commands, name, description, ...).
MAX_BOT_COMMANDS = 12
MAX_COMMAND_TITLE = 128
MAX_COMMAND_DESCRIPTION = 4000
MAX_SHORT_NAME = 30
MAX_DEVELOPER_NAME = 32

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


class PackageError(ValueError):
    """Input the package cannot be built from; the message is one sentence for the operator."""


@dataclass(frozen=True)
class PackageOptions:
    app_id: str
    name: str = "psabot"
    base_url: str | None = None  # where Teams reaches psabot: https://bot.example.com
    developer_name: str = "psabot"
    developer_url: str | None = None  # website, privacy and terms pages; base_url when unset
    version: str = "1.0.0"
    unfurl_domains: tuple[str, ...] = DEFAULT_UNFURL_DOMAINS  # ticket links Teams unfurls


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _https_url(value: str, flag: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.query:
        raise PackageError(
            f"{flag} must be an https:// address, for example https://bot.example.com."
        )
    return value.strip().rstrip("/")


def _domain(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def unfurl_domains(domains: Iterable[str]) -> list[str]:
    """The link domains for `messageHandlers`: host names, `*.` allowed in front."""
    cleaned = list(dict.fromkeys(d.strip().lower().rstrip(".") for d in domains if d.strip()))
    if not cleaned or len(cleaned) > MAX_UNFURL_DOMAINS:
        raise PackageError(f"Give 1 to {MAX_UNFURL_DOMAINS} --unfurl-domain values.")
    for domain in cleaned:
        if not _UNFURL_DOMAIN.match(domain):
            raise PackageError(
                f"--unfurl-domain {domain} is not a host name such as psa.example.com or "
                "*.myconnectwise.net."
            )
    return cleaned


def app_version(raw: str) -> str:
    """Teams wants plain MAJOR.MINOR.PATCH; psabot's own version may carry a suffix."""
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", raw)
    if match is None:
        return "1.0.0"
    return ".".join(str(int(part)) for part in match.groups())


def bot_commands(commands: Iterable[CommandSpec]) -> list[dict[str, str]]:
    """The commands menu: the router's visible commands in its order, within Teams' limits.

    Owner-only commands stay out of the menu (everyone sees it; `help` lists them all), and
    when more remain than Teams shows, the first ones are kept and `help` is always last.
    """
    entries: list[dict[str, str]] = []
    seen: set[str] = set()
    help_entry: dict[str, str] | None = None
    for spec in commands:
        if spec.hidden or spec.owner_only:
            continue
        title = _clip(" ".join(spec.words), MAX_COMMAND_TITLE)
        if title in seen:
            continue
        seen.add(title)
        entry = {
            "title": title,
            "description": _clip(spec.summary.replace("`", ""), MAX_COMMAND_DESCRIPTION),
        }
        if spec.words == ("help",):
            help_entry = entry
        else:
            entries.append(entry)
    room = MAX_BOT_COMMANDS - (1 if help_entry else 0)
    return entries[:room] + ([help_entry] if help_entry else [])


def build_manifest(options: PackageOptions, commands: Iterable[CommandSpec]) -> dict[str, Any]:
    """manifest.json as a dict; raises PackageError with one sentence on bad options."""
    app_id = options.app_id.strip()
    if not _GUID.match(app_id):
        raise PackageError(
            "MICROSOFT_APP_ID must be the Azure Bot's Microsoft App ID, a GUID such as "
            "00000000-0000-0000-0000-000000000000."
        )
    app_id = app_id.lower()
    name = options.name.strip()
    if not name or len(name) > MAX_SHORT_NAME:
        raise PackageError(f"--name must be 1 to {MAX_SHORT_NAME} characters long.")
    developer = options.developer_name.strip()
    if not developer or len(developer) > MAX_DEVELOPER_NAME:
        raise PackageError(f"--developer-name must be 1 to {MAX_DEVELOPER_NAME} characters long.")
    if not _SEMVER.match(options.version):
        raise PackageError("--app-version must look like 1.0.0 (three numbers).")
    base = _https_url(options.base_url, "--base-url") if options.base_url else None
    if options.developer_url:
        site = _https_url(options.developer_url, "--developer-url")
    elif base:
        site = base
    else:
        raise PackageError(
            "Give --base-url https://<your host> (or --developer-url): Teams requires a "
            "website, privacy and terms address in the app package."
        )
    domains = [_domain(base)] if base else []
    links = unfurl_domains(options.unfurl_domains)

    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": options.version,
        # The bot's app id doubles as the Teams app id: a rebuilt package updates the same app.
        "id": app_id,
        "developer": {
            "name": developer,
            "websiteUrl": site,
            "privacyUrl": site,
            "termsOfUseUrl": site,
        },
        "name": {"short": name, "full": f"{name}: ConnectWise PSA from Teams"[:100]},
        "description": {
            "short": "Post notes and status changes to ConnectWise PSA tickets from Teams.",
            "full": (
                "psabot connects Microsoft Teams to ConnectWise PSA. Engineers link a chat, "
                "channel or thread to a ticket, then post notes and status changes to it as "
                'their own ConnectWise member, by mentioning the bot or with the "Post to '
                'ticket" message action, and search tickets from the compose box. The first '
                "person who connects becomes an owner; owners connect the PSA once through a "
                "dialog, and the keys are tested, encrypted and never shown again."
            ),
        },
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": ACCENT_COLOR,
        "bots": [
            {
                "botId": app_id,
                "scopes": list(BOT_SCOPES),
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": list(BOT_SCOPES), "commands": bot_commands(commands)}],
            }
        ],
        "composeExtensions": [
            {
                "botId": app_id,
                "commands": [
                    {
                        "id": SEARCH_COMMAND_ID,
                        "type": "query",
                        "title": "Search tickets",
                        "description": "Find a ConnectWise ticket to insert or link here",
                        "initialRun": False,
                        "context": ["compose", "commandBox"],
                        "parameters": [
                            {
                                "name": SEARCH_PARAMETER,
                                "title": "Ticket",
                                "description": "Words, a ticket number, company:X, board:Y",
                                "inputType": "text",
                            }
                        ],
                    },
                    {
                        "id": POST_TO_TICKET_COMMAND_ID,
                        "type": "action",
                        "title": "Post to ticket",
                        "description": "Post this message as a note to the linked ticket",
                        "context": ["message"],
                        "fetchTask": True,
                    },
                    {
                        "id": NEW_TICKET_COMMAND_ID,
                        "type": "action",
                        "title": "New ticket",
                        "description": "Create a ConnectWise ticket from this message",
                        "context": ["message"],
                        "fetchTask": True,
                    },
                ],
                # a pasted ticket link asks the bot for its card (composeExtension/queryLink)
                "messageHandlers": [{"type": "link", "value": {"domains": links}}],
            }
        ],
        "validDomains": domains,
    }
