"""The composition root: the aiohttp application with its routes and the services behind them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from bot import __version__, callbacks_route, teams
from bot.core.intake import IntakeTuning
from bot.runtime import OutboxTuning, Runtime
from bot.settings import Settings
from bot.slack import app as slack
from bot.startup import index
from psa.registry import ProviderRegistry

log = logging.getLogger(__name__)

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)

Mount = Callable[[web.Application, web.AppKey[Runtime], Settings], None]
# Every chat transport: one folder with a `mount` that adds its routes and starts its service
# with the app (after the runtime). Adding a transport is one line here.
TRANSPORTS: tuple[Mount, ...] = (
    slack.mount,
    teams.mount,
)


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    database = await runtime.store.ping()
    body = {
        "status": "ok" if database else "degraded",
        "version": __version__,
        "database": "reachable" if database else "unreachable",
    }
    return web.json_response(body, status=200 if database else 503)


async def metrics(request: web.Request) -> web.Response:
    body = await request.app[RUNTIME].metrics.render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


def create_app(
    settings: Settings,
    *,
    tuning: OutboxTuning | None = None,
    intake_tuning: IntakeTuning | None = None,
    registry: ProviderRegistry | None = None,
) -> web.Application:
    """The app; `tuning`, `intake_tuning` and `registry` (the PSA clients' timeout and
    retries) default to the shipped values, tests shorten them."""
    app = web.Application()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        runtime = await Runtime.open(
            settings, tuning=tuning, intake_tuning=intake_tuning, registry=registry
        )
        app[RUNTIME] = runtime
        runtime.start()  # the outbox worker first re-drives what an earlier process left pending
        log.info(
            "psabot %s ready database=%s",
            __version__,
            runtime.store.engine.url.render_as_string(hide_password=True),
        )
        yield
        await runtime.aclose()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    for mount in TRANSPORTS:
        mount(app, RUNTIME, settings)
    callbacks_route.mount(app, RUNTIME, settings)  # ConnectWise → linked threads
    return app
