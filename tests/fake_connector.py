"""A fake Bot Framework connector (the `serviceUrl` Teams gives a bot): a real aiohttp server
that answers `/v3/conversations/...` replies, updates and member look-ups, and records every
call; plus a sender that posts activities to psabot's `/api/messages` as Teams would."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TENANT = "0d9b645f-597b-41f0-a2a3-ef103fbd91bb"
BOT_ID = "28:b4922ea1-5315-4fd0-9b21-d941ab06e39f"


@dataclass
class Call:
    method: str
    path: str
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def text(self) -> str:
        """Everything a person could read in the posted activity."""
        return json.dumps(self.body, ensure_ascii=False)


@dataclass
class Person:
    teams_id: str
    aad_id: str
    name: str
    email: str | None
    upn: str | None = None


@dataclass
class FakeConnector:
    calls: list[Call] = field(default_factory=list)
    people: dict[str, Person] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _runner: web.AppRunner | None = None
    url: str = ""

    def add_person(self, person: Person) -> Person:
        self.people[person.teams_id] = person
        self.people[person.aad_id] = person
        return person

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._post)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._post)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._post)
        app.router.add_get("/v3/conversations/{cid}/members/{uid}", self._member)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        aid = request.match_info.get("aid")
        self.calls.append(
            Call(
                request.method,
                request.path,
                request.match_info["cid"],
                aid,
                body,
                dict(request.headers),
            )
        )
        if request.method == "PUT":
            return web.json_response({"id": aid})
        return web.json_response({"id": f"m{next(self._ids)}"})

    async def _member(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        self.calls.append(
            Call("GET", request.path, request.match_info["cid"], None, {}, dict(request.headers))
        )
        person = self.people.get(uid)
        if person is None:
            return web.json_response(
                {"error": {"code": "MemberNotFoundInConversation"}}, status=404
            )
        body: dict[str, Any] = {
            "id": person.teams_id,
            "name": person.name,
            "aadObjectId": person.aad_id,
            "tenantId": TENANT,
            "userRole": "user",
        }
        if person.email:
            body["email"] = person.email
        if person.upn:
            body["userPrincipalName"] = person.upn
        return web.json_response(body)

    # -- reading what was sent ----------------------------------------------------------------

    def posts(self) -> list[Call]:
        return [c for c in self.calls if c.method in ("POST", "PUT")]

    def everything_sent(self) -> str:
        return "\n".join(c.text for c in self.calls)

    async def wait_post(
        self, match: Callable[[Call], bool] = lambda c: True, timeout: float = 10.0
    ) -> Call:
        deadline = time.monotonic() + timeout
        while True:
            for call in self.posts():
                if match(call):
                    return call
            if time.monotonic() > deadline:
                raise AssertionError(
                    "no matching post; sent:\n" + "\n".join(c.text[:400] for c in self.posts())
                )
            await asyncio.sleep(0.02)

    async def wait_text(self, needle: str, timeout: float = 10.0) -> Call:
        return await self.wait_post(lambda c: needle in c.text, timeout)


class TeamsSender:
    """Posts activities shaped like the fixtures in shared/platforms/teams-payloads."""

    def __init__(self, bot_url: str, connector: FakeConnector, tenant: str = TENANT) -> None:
        self.bot_url = bot_url.rstrip("/") + "/api/messages"
        self.connector = connector
        self.tenant = tenant
        self._ids = itertools.count(1)
        self.token: str | None = None
        self.answers: list[str] = []  # every HTTP answer psabot gave, to scan for secrets

    def activity(
        self,
        kind: str,
        person: Person,
        conversation: str,
        *,
        conversation_type: str = "channel",
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "type": kind,
            "id": f"{int(time.time() * 1000)}{next(self._ids)}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": person.teams_id, "name": person.name, "aadObjectId": person.aad_id},
            "recipient": {"id": BOT_ID, "name": "psabot"},
            "conversation": {
                "id": conversation,
                "conversationType": conversation_type,
                "tenantId": self.tenant,
            },
            "channelData": {"tenant": {"id": self.tenant}},
            **extra,
        }

    def message(
        self,
        person: Person,
        conversation: str,
        text: str,
        *,
        mention_bot: bool = True,
        entities: list[dict[str, Any]] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        ents = list(entities or [])
        if mention_bot:
            text = f"<at>psabot</at> {text}"
            ents.append(
                {
                    "type": "mention",
                    "text": "<at>psabot</at>",
                    "mentioned": {"id": BOT_ID, "name": "psabot"},
                }
            )
        return self.activity("message", person, conversation, text=text, entities=ents, **kw)

    def invoke(
        self, person: Person, conversation: str, name: str, value: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        return self.activity("invoke", person, conversation, name=name, value=value, **kw)

    async def send(
        self, activity: dict[str, Any] | str, *, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        all_headers = {"Content-Type": "application/json"}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        data = activity if isinstance(activity, str) else json.dumps(activity)
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.bot_url, data=data, headers=all_headers) as response,
        ):
            text = await response.text()
            self.answers.append(text)
            try:
                return response.status, json.loads(text) if text else None
            except ValueError:
                return response.status, text
