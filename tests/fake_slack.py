"""A local Slack: the Web API (via SLACK_API_URL), response_url hooks, and signed inbound requests.

`FakeSlack` is a real aiohttp server that answers the Web API methods psabot calls and records
every call (method, parameters, token) and every response_url post. `SlackSender` builds the
requests Slack would send, from the recorded payloads in tests/data/slack/payloads, signs them
exactly as Slack does, and POSTs them to the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

PAYLOADS = Path(__file__).parent / "data" / "slack" / "payloads"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str
    raw: str
    at: float = field(default_factory=time.perf_counter)  # when it arrived (benchmarks)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass
class Hook:
    path: str
    body: dict[str, Any]
    raw: str
    at: float = field(default_factory=time.perf_counter)


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)  # method → Slack error to answer
    delay: dict[str, float] = field(default_factory=dict)  # method → seconds before answering
    ext_shared: set[str] = field(default_factory=set)  # Slack Connect channels
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    def add_user(
        self, user_id: str, name: str, *, email: str | None = None, admin: bool = False
    ) -> None:
        profile: dict[str, Any] = {"real_name": name, "display_name": name}
        if email:
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id,
            "name": name.lower().replace(" ", "."),
            "real_name": name,
            "is_admin": admin,
            "is_owner": False,
            "profile": profile,
        }

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/hooks/{tail:.*}", self._hook)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        for ws in self.sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def hook_url(self, name: str = "cmd") -> str:
        return f"{self.url}/hooks/{name}-{next(self._ts)}"

    async def _record(self, item: Call | Hook) -> None:
        async with self._changed:
            if isinstance(item, Call):
                self.calls.append(item)
            else:
                self.hooks.append(item)
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        params: dict[str, Any] = dict(request.query)
        if raw:
            if request.content_type == "application/json":
                params.update(json.loads(raw))
            else:
                params.update(dict(parse_qsl(raw)))
        for key in ("view", "blocks"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        await self._record(Call(method, params, token, raw))
        if method in self.delay:
            await asyncio.sleep(self.delay[method])
        if method in self.fail:
            return web.json_response({"ok": False, "error": self.fail[method]})
        return web.json_response(self._answer(method, params))

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "team_id": "T111",
                "team": "Acme",
                "user_id": "UBOT",
                "bot_id": "B111",
                "url": "https://acme.slack.com/",
            }
        if method == "users.info":
            user = self.users.get(str(params.get("user")))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method in ("views.open", "views.update", "views.publish"):
            view = dict(params.get("view") or {})
            view.setdefault("id", params.get("view_id") or f"V{next(self._ts)}")
            view["hash"] = f"h{next(self._ts)}"
            return {"ok": True, "view": view}
        if method in ("chat.postMessage", "chat.postEphemeral"):
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message_ts": ts}
        if method == "chat.getPermalink":
            ts = str(params.get("message_ts", "")).replace(".", "")
            return {
                "ok": True,
                "permalink": f"https://acme.slack.com/archives/{params.get('channel')}/p{ts}",
            }
        if method == "conversations.info":
            channel = str(params.get("channel", ""))
            if not channel.startswith(("C", "G", "D")):
                return {"ok": False, "error": "channel_not_found"}
            shared = channel in self.ext_shared
            return {
                "ok": True,
                "channel": {"id": channel, "is_ext_shared": shared, "is_shared": shared},
            }
        if method == "apps.connections.open":
            return {"ok": True, "url": self.url.replace("http://", "ws://") + "/socket"}
        if method == "oauth.v2.access":
            return {
                "ok": True,
                "access_token": "xoxb-oauth-T222-secret",
                "token_type": "bot",
                "scope": "commands,chat:write",
                "bot_user_id": "UBOT2",
                "app_id": "A111",
                "team": {"id": "T222", "name": "Globex"},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": "U222"},
            }
        return {"ok": True}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: psabot connects here; envelopes go down, acks come back."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A111"}}
        )
        async with self._changed:
            self.sockets.append(ws)
            self._changed.notify_all()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                async with self._changed:
                    self.socket_acks.append(json.loads(message.data))
                    self._changed.notify_all()
        return ws

    async def socket_send(self, envelope: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        """Push an envelope to the connected app and wait for its ack."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: bool(self.sockets)), timeout)
        await self.sockets[-1].send_json(envelope)

        def ack() -> dict[str, Any] | None:
            return next(
                (a for a in self.socket_acks if a.get("envelope_id") == envelope["envelope_id"]),
                None,
            )

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: ack() is not None), timeout)
        found = ack()
        assert found is not None
        return found

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.text()
        await self._record(Hook(request.path, json.loads(raw) if raw else {}, raw))
        return web.Response(text="ok")

    # -- assertions ---------------------------------------------------------------------------

    def api(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_call(
        self, method: str, where: Callable[[Call], bool] = lambda c: True, timeout: float = 10
    ) -> Call:
        def find() -> Call | None:
            return next((c for c in self.calls if c.method == method and where(c)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: find() is not None), timeout)
        found = find()
        assert found is not None
        return found

    async def wait_hook(
        self, where: Callable[[Hook], bool] = lambda h: True, timeout: float = 10
    ) -> Hook:
        def find() -> Hook | None:
            return next((h for h in self.hooks if where(h)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: find() is not None), timeout)
        found = find()
        assert found is not None
        return found

    def everything_sent(self) -> str:
        """Every byte psabot sent to Slack (Web API and response_url), for leak checks."""
        return "\n".join(
            [c.raw + json.dumps(c.params) for c in self.calls] + [h.raw for h in self.hooks]
        )


def hook_text(hook: Hook) -> str:
    return json.dumps(hook.body, ensure_ascii=False)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


_SENDERS = itertools.count(111)


class SlackSender:
    """Signs and sends what Slack would send to psabot's /slack/events."""

    def __init__(self, bot_url: str, secret: str, fake: FakeSlack, team: str = "T111") -> None:
        self.url = bot_url.rstrip("/") + "/slack/events"
        self.secret = secret
        self.fake = fake
        self.team = team
        self._ids = itertools.count(1)
        self._sender = next(_SENDERS)  # trigger ids stay unique across senders, as Slack's are

    def trigger(self) -> str:
        return f"{next(self._ids)}.{self._sender}.trigger"

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        retry: int | None = None,
    ) -> tuple[int, str, float]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        signature = SignatureVerifier(secret or self.secret).generate_signature(
            timestamp=ts, body=body
        )
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        }
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        started = time.perf_counter()
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url, data=body.encode(), headers=headers) as resp,
        ):
            text = await resp.text()
            return resp.status, text, time.perf_counter() - started

    def signature(self, timestamp: str, body: bytes, secret: str | None = None) -> str:
        """Slack's v0 signature over the raw bytes (also for bodies that are not UTF-8)."""
        base = b"v0:" + timestamp.encode() + b":" + body
        key = (secret or self.secret).encode()
        return "v0=" + hmac.new(key, base, hashlib.sha256).hexdigest()

    async def post_raw(
        self,
        body: bytes,
        content_type: str = "application/x-www-form-urlencoded",
        *,
        signed: bool = True,
        headers: dict[str, str] | None = None,
        chunked: bool = False,
        session: aiohttp.ClientSession | None = None,
    ) -> tuple[int, str]:
        """POST exact bytes; `headers` override (or, set to "", drop) the signature headers."""
        ts = str(int(time.time()))
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.signature(ts, body, None if signed else "not-the-secret"),
        }
        for name, value in (headers or {}).items():
            if value:
                sent[name] = value
            else:
                sent.pop(name, None)

        async def chunks() -> Any:
            for start in range(0, len(body), 64 * 1024):
                yield body[start : start + 64 * 1024]

        async with contextlib.AsyncExitStack() as stack:
            if session is None:
                session = await stack.enter_async_context(aiohttp.ClientSession())
            data: Any = chunks() if chunked else body
            async with session.post(self.url, data=data, headers=sent) as resp:
                return resp.status, await resp.text()

    def command_body(
        self,
        text: str,
        *,
        user: str = "U1",
        channel: str = "C1",
        trigger: str | None = None,
        team: str | None = None,
    ) -> str:
        fields = dict(parse_qsl((PAYLOADS / "slash_command.form.txt").read_text().strip()))
        fields.update(
            team_id=team or self.team,
            user_id=user,
            user_name=user.lower(),
            channel_id=channel,
            command="/ticket",
            text=text,
            trigger_id=trigger or self.trigger(),
            response_url=self.fake.hook_url("cmd"),
        )
        fields.pop("enterprise_id", None)
        fields.pop("enterprise_name", None)
        return urlencode(fields)

    async def command(self, text: str, **kw: Any) -> tuple[int, str, float]:
        retry = kw.pop("retry", None)
        body = kw.pop("body", None) or self.command_body(text, **kw)
        return await self.post(body, "application/x-www-form-urlencoded", retry=retry)

    async def interactive(self, payload: dict[str, Any], **kw: Any) -> tuple[int, str, float]:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **kw)

    def _team(self, payload: dict[str, Any], user: str) -> None:
        payload["team"] = {"id": self.team, "domain": "acme"}
        payload["user"] = {
            "id": user,
            "username": user.lower(),
            "name": user.lower(),
            "team_id": self.team,
        }

    async def submit(
        self,
        view: dict[str, Any],
        values: dict[str, Any],
        *,
        user: str = "U1",
        view_id: str = "V1",
        view_hash: str = "h1",
    ) -> tuple[int, str, float]:
        """Submit a modal that psabot opened (the `view` from views.open / views.update)."""
        payload = load("view_submission.json")
        self._team(payload, user)
        submitted = copy.deepcopy(view)
        submitted.update(
            id=view_id,
            hash=view_hash,
            team_id=self.team,
            app_id="A111",
            root_view_id=view_id,
            previous_view_id=None,
            bot_id="B111",
            app_installed_team_id=self.team,
            external_id="",
        )
        submitted["state"] = {
            "values": {block_id: {block_id: value} for block_id, value in values.items()}
        }
        payload["view"] = submitted
        return await self.interactive(payload)

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str = "U1",
        channel: str = "C1",
        trigger: str | None = None,
    ) -> tuple[int, str, float]:
        payload = load("block_actions.json")
        self._team(payload, user)
        payload["container"]["channel_id"] = channel
        payload["channel"] = {"id": channel, "name": "general"}
        payload["trigger_id"] = trigger or self.trigger()
        payload["response_url"] = self.fake.hook_url("act")
        payload["actions"] = [
            {
                "action_id": action_id,
                "block_id": "b",
                "type": "button",
                "value": value,
                "text": {"type": "plain_text", "text": "x"},
                "action_ts": "1.2",
            }
        ]
        return await self.interactive(payload)

    async def suggest(
        self, view: dict[str, Any], action_id: str, value: str, *, user: str = "U1"
    ) -> tuple[int, str, float]:
        payload = load("block_suggestion.json")
        self._team(payload, user)
        payload["action_id"] = action_id
        payload["block_id"] = action_id
        payload["value"] = value
        payload["view"] = {
            **payload["view"],
            **{k: view[k] for k in ("private_metadata", "callback_id", "blocks")},
        }
        return await self.interactive(payload)

    async def shortcut(
        self,
        text: str,
        *,
        user: str = "U1",
        author: str = "U2",
        channel: str = "C1",
        thread_ts: str | None = None,
        trigger: str | None = None,
        callback_id: str = "post_to_ticket",
    ) -> tuple[int, str, float]:
        payload = load("message_action.json")
        self._team(payload, user)
        payload["callback_id"] = callback_id
        payload["channel"] = {"id": channel, "name": "general"}
        payload["trigger_id"] = trigger or self.trigger()
        payload["response_url"] = self.fake.hook_url("sc")
        payload["message"]["text"] = text
        payload["message"]["user"] = author
        if thread_ts:
            payload["message"]["thread_ts"] = thread_ts
        return await self.interactive(payload)

    async def event(self, event: dict[str, Any]) -> tuple[int, str, float]:
        envelope = {
            "token": "verification_token",
            "team_id": self.team,
            "api_app_id": "A111",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids)}",
            "event_time": int(time.time()),
        }
        return await self.post(json.dumps(envelope), "application/json")
