"""`POST /api/messages`: token check, activity check, then the SDK's CloudAdapter runs the turn."""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.authorization import ClaimsIdentity
from pydantic import ValidationError
from yarl import URL

from bot.core.history import HistoryThreads
from bot.runtime import Runtime
from bot.settings import Settings
from bot.teams import config
from bot.teams.auth import TokenCheck
from bot.teams.connector import Connector
from bot.teams.inbound import Malformed, envelope
from bot.teams.sharing import TeamsSharingProbe
from bot.teams.transport import INVOKE_BUDGET, TeamsHistory, TeamsTransport

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"


@dataclass(frozen=True)
class TeamsOptions:
    """Knobs for tests and benchmarks: where signing keys come from, how long invokes wait."""

    jwks_url: str | None = None
    invoke_budget: float = INVOKE_BUDGET


OPTIONS: web.AppKey[TeamsOptions] = web.AppKey("teams_options", TeamsOptions)


def _refused(text: str, status: int) -> web.Response:
    return web.json_response({"error": text}, status=status)


class TeamsService:
    def __init__(self, runtime: Runtime, settings: Settings, options: TeamsOptions) -> None:
        self.auth = config.auth_enabled(settings)
        self.acks = runtime.acks
        auth_config = config.auth_configuration(settings)
        connections = config.connection_manager(auth_config)
        self.tokens = TokenCheck(auth_config, jwks_url=options.jwks_url) if self.auth else None
        self.adapter = CloudAdapter(connection_manager=connections)
        self.adapter.on_turn_error = self._turn_error
        self.connector = Connector(connections, settings.microsoft_app_id)
        self.transport = TeamsTransport(
            runtime, self.connector, invoke_budget=options.invoke_budget
        )
        self.sharing = TeamsSharingProbe()
        runtime.sharing[self.sharing.platform] = self.sharing
        runtime.services.events.subscribe(
            HistoryThreads(runtime.store, TeamsHistory(runtime, self.connector))
        )

    async def _turn_error(self, context: TurnContext, error: Exception) -> None:
        # the SDK's default posts the exception text to the chat; psabot never shows internals
        log.error("teams turn failed", exc_info=error)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        with self.acks.acking():  # until the answer: background work lets it go first
            return await self._handle(request)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        identity = ClaimsIdentity()
        if self.tokens is not None:
            verified = await self.tokens.identity(request.headers.get("Authorization"))
            if verified is None:
                return _refused("Unauthorized: a valid Bot Framework token is required.", 401)
            identity = verified
        try:
            body = await request.json()
        except Exception:
            return _refused("The body must be a JSON activity.", 400)
        if not isinstance(body, dict):
            return _refused("The body must be a JSON activity.", 400)
        try:
            activity = Activity.model_validate(body)
        except ValidationError:
            return _refused("That is not a valid activity.", 400)
        if not activity.type or not activity.conversation or not activity.conversation.id:
            return _refused("An activity needs a type and a conversation id.", 400)
        if activity.type in (ActivityTypes.message, ActivityTypes.invoke):
            try:
                tenant = envelope(body).tenant_id
            except Malformed as exc:
                return _refused(str(exc), 400)
            url = URL(activity.service_url or "")
            if url.scheme not in ("http", "https") or not url.host:
                return _refused("The activity needs an http(s) serviceUrl.", 400)
            claimed = identity.get_claim_value("serviceurl")
            if self.tokens is not None and claimed and URL(str(claimed)).host != url.host:
                # replies go to serviceUrl: only ever to the host Teams signed for
                return _refused("Unauthorized: serviceUrl does not match the token.", 401)
            self.sharing.observe(body, tenant)  # who may read this conversation
        with warnings.catch_warnings():
            # the SDK reads the identity under this plain string key
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            request["claims_identity"] = identity
        response = await self.adapter.process(request, self.transport)
        return response if response is not None else web.Response(status=202)

    async def close(self) -> None:
        await self.transport.drain()


TEAMS: web.AppKey[TeamsService] = web.AppKey("teams", TeamsService)


def mount(app: web.Application, runtime_key: web.AppKey[Runtime], settings: Settings) -> None:
    """Add `POST /api/messages`; the service starts with the app (after the runtime)."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        service = TeamsService(app[runtime_key], settings, app.get(OPTIONS) or TeamsOptions())
        app[TEAMS] = service
        yield
        await service.close()

    async def messages(request: web.Request) -> web.StreamResponse:
        return await request.app[TEAMS].handle(request)

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post(MESSAGES_PATH, messages)
