"""A do-nothing aiohttp server: the machine's own latency floor for the Slack ack benchmark."""

from __future__ import annotations

import argparse

from aiohttp import web


async def events(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/slack/events", events)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
