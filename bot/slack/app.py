"""Builds the Slack side of the process from settings and mounts it on the aiohttp app.

Single workspace: SLACK_SIGNING_SECRET + SLACK_BOT_TOKEN. Many workspaces: SLACK_CLIENT_ID +
SLACK_CLIENT_SECRET (+ signing secret), with installs stored encrypted in our database.
Socket Mode in addition when SLACK_APP_TOKEN is set. Unconfigured, `/slack/events` answers 503
with a message saying what to set.

HTTP requests pass the gate (bot/slack/gate.py: size cap, signature, payload shape) before bolt
sees them, so bolt's own signature check, which logs rejected bodies, is off. Socket Mode
payloads get the same shape check in a bolt middleware. A listener that fails before its ack
answers 400 with one log line, not bolt's 500 and traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from cachetools import TTLCache
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.core.history import HistoryThreads
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack import inbound
from bot.slack.gate import Admitted, Rejected, SlackGate
from bot.slack.history import SlackHistory
from bot.slack.oauth import CachedBotAuthorize, EncryptedInstallationStore, installation_store
from bot.slack.sharing import SlackSharingProbe
from bot.slack.transport import SlackTransport
from bot.slack.unfurls import SlackUnfurls

log = logging.getLogger(__name__)

MAX_CLIENTS = 1000  # workspaces whose Web API client is kept
WEB_API_TIMEOUT = 30.0  # seconds per Web API call (slack_sdk's own default)
CLIENT_TTL = 3600.0  # seconds a client is kept unused

BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "users:read.email",
    "links:read",  # link_shared: ticket links posted in channels the app is in
    "links:write",  # chat.unfurl: the ticket card under such a link
    "channels:read",  # conversations.info: is a public channel a Slack Connect channel?
    "groups:read",  # the same for private channels
    "channels:history",  # message.channels: `#12345` in linked channels
)
EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
SOCKET_MODE_ONLY = (
    "This psabot runs Slack in Socket Mode only; set SLACK_SIGNING_SECRET to accept HTTP requests"
)
NOT_CONFIGURED = (
    "Slack is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN (one workspace) or "
    "SLACK_SIGNING_SECRET, SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth install); see "
    "docs/slack.md"
)
FAILED = "psabot could not handle this request."


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else ""


def slack_configured(settings: Settings) -> bool:
    single = settings.slack_bot_token is not None
    oauth = settings.slack_client_id is not None and settings.slack_client_secret is not None
    verifiable = settings.slack_signing_secret is not None or settings.slack_app_token is not None
    return (single or oauth) and verifiable


class SlackService:
    """The bolt app, its transport, and the extras around it (OAuth store, Socket Mode)."""

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        self.settings = settings
        self.api_url = settings.slack_api_url
        logs.add_settings(settings)
        self.acks = runtime.acks
        bot_token = _secret(settings.slack_bot_token) or None
        self.gate = SlackGate(_secret(settings.slack_signing_secret))
        self.installations: EncryptedInstallationStore | None = None
        self.authorize: CachedBotAuthorize | None = None
        oauth_settings: AsyncOAuthSettings | None = None
        if bot_token is None:
            assert settings.slack_client_id is not None
            self.installations = installation_store(settings.slack_client_id, runtime.store)
            self.authorize = CachedBotAuthorize(self.installations)
            oauth_settings = AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=_secret(settings.slack_client_secret),
                scopes=list(BOT_SCOPES),
                installation_store=self.installations,
                state_store=AsyncSQLAlchemyOAuthStateStore(
                    expiration_seconds=600, engine=runtime.store.engine
                ),
                install_path=INSTALL_PATH,
                redirect_uri_path=REDIRECT_PATH,
            )
        # One connection pool for every Web API call (slack_sdk otherwise opens a session, and
        # a TCP connection, per call: a note's users.info and history post were two each).
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEB_API_TIMEOUT))
        self.client = AsyncWebClient(token=bot_token, base_url=self.api_url, session=self.http)
        self.app = AsyncApp(
            signing_secret=_secret(settings.slack_signing_secret),
            client=self.client,  # carries the single-workspace token, and the API base URL
            oauth_settings=oauth_settings,
            installation_store=self.installations,
            authorize=self.authorize,  # type: ignore[arg-type]  # an AsyncAuthorize is accepted too
            # The gate verifies HTTP requests (bolt's check logs a rejected body); Socket Mode
            # requests arrive over an authenticated websocket.
            request_verification_enabled=False,
            before_authorize=self._check_body,
            # Listeners store a write, ack and hand the rest to our own worker, so bolt may
            # answer as soon as they return (instead of polling for the ack every 10 ms).
            process_before_response=True,
        )
        self.app.error(self._on_error)
        # one Web API client per workspace, kept while used (an OAuth app may serve many)
        self._clients: TTLCache[str, AsyncWebClient] = TTLCache(MAX_CLIENTS, CLIENT_TTL)
        self.transport = SlackTransport(
            self.app, runtime.dispatcher, self.client_for, runtime.intake
        )
        runtime.services.events.subscribe(
            HistoryThreads(runtime.store, SlackHistory(self.client_for))
        )
        self.sharing = SlackSharingProbe(self.client_for)
        runtime.sharing[self.sharing.platform] = self.sharing
        self.unfurls = SlackUnfurls(self.transport)
        self.socket: AsyncSocketModeHandler | None = None

    async def client_for(self, team_id: str) -> AsyncWebClient:
        """A Web API client with the bot token of that workspace."""
        if self.installations is None:
            return self.client
        cached = self._clients.get(team_id)
        if cached is not None:
            return cached
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            log.warning("no Slack installation for team=%s", team_id)
            return self.client
        logs.secrets.add(bot.bot_token)
        client = AsyncWebClient(token=bot.bot_token, base_url=self.api_url, session=self.http)
        self._clients[team_id] = client
        return client

    async def handle_events(self, request: web.Request) -> web.Response:
        with self.acks.acking():  # until the answer: background work lets it go first
            return await self._handle_events(request)

    async def _handle_events(self, request: web.Request) -> web.Response:
        try:
            admitted = await self.gate.admit(request)
        except Rejected as rejected:
            return self.gate.reject(request, rejected)
        except (aiohttp.ClientError, ConnectionError) as exc:  # the client left mid-body
            self.gate.rejections.log(
                "unreadable", "slack request not read error=%s", type(exc).__name__
            )
            return web.json_response({"ok": False, "error": FAILED}, status=400)
        if admitted.ssl_check:
            return web.Response(text="")
        try:
            response = await self.app.async_dispatch(self._bolt_request(request, admitted))
        except Exception as exc:  # bolt catches listener errors; this is the rest
            self._log_failure(exc)
            return web.json_response({"ok": False, "error": FAILED}, status=400)
        return await to_aiohttp_response(response)

    @staticmethod
    def _bolt_request(request: web.Request, admitted: Admitted) -> AsyncBoltRequest:
        # bolt guesses the body's kind from its text (a form body starting with "{" is JSON to
        # it; one containing the word "payload" is interactive, which empties `/ticket note
        # the payload arrived`), so it is handed what the gate parsed instead.
        bolt_request = AsyncBoltRequest(
            body="", query=request.query_string, headers=dict(request.headers)
        )
        bolt_request.raw_body = admitted.raw
        bolt_request.body = admitted.body
        bolt_request.context = build_async_context(bolt_request.context, admitted.body)
        return bolt_request

    async def _check_body(
        self,
        request: AsyncBoltRequest,
        body: dict[str, Any],
        response: BoltResponse,
        next_: Callable[[], Awaitable[None]],
    ) -> BoltResponse:
        """Socket Mode payloads skip the gate: the same shape check, before authorization."""
        try:
            inbound.validate(body)
        except inbound.MalformedPayload as exc:
            self.gate.rejections.log(
                "malformed_socket", "slack payload rejected reason=%s", exc.reason
            )
            # Over Socket Mode an unacknowledged envelope is sent again: ack it, do nothing.
            ok = request.mode == "socket_mode"
            return BoltResponse(status=200 if ok else 400, body="" if ok else FAILED)
        await next_()
        return response

    async def _on_error(
        self, error: Exception, response: BoltResponse | None
    ) -> BoltResponse | None:
        """One line per failure, never the body; 400 instead of bolt's 500 before the ack."""
        self._log_failure(error)
        if response is None:  # already acknowledged: nothing to answer
            return None
        return BoltResponse(status=400, body=FAILED)

    def _log_failure(self, error: BaseException) -> None:
        self.gate.rejections.log(
            "listener_failed", "slack request failed error=%s", type(error).__name__
        )
        log.debug("slack request failed", exc_info=error)  # redacted like every record

    async def handle_oauth(self, request: web.Request) -> web.Response:
        flow = self.app.oauth_flow
        if flow is None:
            raise web.HTTPNotFound(text="OAuth install is not configured (SLACK_CLIENT_ID)")
        bolt_request = await to_bolt_request(request)
        if request.path == flow.install_path:
            response = await flow.handle_installation(bolt_request)
        else:
            response = await flow.handle_callback(bolt_request)
        self._clients.clear()  # a reinstall may have brought a new token
        if self.authorize is not None:
            self.authorize.forget()
        return await to_aiohttp_response(response)

    async def start(self) -> None:
        if self.settings.slack_app_token is not None:
            self.socket = AsyncSocketModeHandler(
                self.app, _secret(self.settings.slack_app_token), web_client=self.client
            )
            await self.socket.connect_async()
            log.info("slack socket mode connected")

    async def stop(self) -> None:
        if self.socket is not None:
            await self.socket.close_async()
        await self.transport.close()
        await self.http.close()


SLACK: web.AppKey[SlackService] = web.AppKey("slack", SlackService)


async def _socket_mode_only(request: web.Request) -> web.Response:
    return web.json_response({"ok": False, "error": SOCKET_MODE_ONLY}, status=503)


async def _not_configured(request: web.Request) -> web.Response:
    return web.json_response({"ok": False, "error": NOT_CONFIGURED}, status=503)


def mount(app: web.Application, runtime_key: web.AppKey[Runtime], settings: Settings) -> None:
    """Add the Slack routes; the service itself starts with the app (after the runtime)."""
    if not slack_configured(settings):
        app.router.add_post(EVENTS_PATH, _not_configured)
        return

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        service = SlackService(app[runtime_key], settings)
        app[SLACK] = service
        await service.start()
        yield
        await service.stop()

    async def events(request: web.Request) -> web.Response:
        return await request.app[SLACK].handle_events(request)

    async def oauth(request: web.Request) -> web.Response:
        return await request.app[SLACK].handle_oauth(request)

    app.cleanup_ctx.append(lifecycle)
    if settings.slack_signing_secret is not None:
        app.router.add_post(EVENTS_PATH, events)
    else:
        # Socket Mode only: nothing could verify an HTTP request, so none is accepted.
        app.router.add_post(EVENTS_PATH, _socket_mode_only)
    if settings.slack_bot_token is None:
        app.router.add_get(INSTALL_PATH, oauth)
        app.router.add_get(REDIRECT_PATH, oauth)
