"""The sandbox's callback records, their signing keys, and the signed deliveries it makes
(see `callbacks` for the endpoints)."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from dataclasses import dataclass, field

import aiohttp

from psa.connectwise.callbacks import SIGNATURE_HEADER, signature
from psa.connectwise.sandbox.errors import FieldProblem, JsonObject, invalid_object
from psa.connectwise.sandbox.errors import not_found as missing

KEY_PATH = "system/callbackkey/index.rails"
RETRIED = frozenset({404, 409, 419, 429})
DELIVERY_TIMEOUT = 5.0
LEVELS = ("owner", "board", "ticket", "status", "project", "phase", "integratortag")
MAX_LOG = 1000


@dataclass
class Delivery:
    callback_id: int
    url: str
    ticket_id: int
    message_id: str
    status: int | None = None  # None: no answer (refused, timed out)
    attempts: int = 0


@dataclass
class CallbackHub:
    """Callback records, their signing keys, and the deliveries made."""

    origin: str = "http://127.0.0.1"  # the sandbox's own URL, for FromUrl and key_url
    codebase: str = "v2025_1/"
    company_id: str = "psabot"
    retry_delays: tuple[float, ...] = (2.0, 4.0)
    entries: dict[int, JsonObject] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # key id → signing key
    key_ids: dict[int, str] = field(default_factory=dict)  # callback id → key id
    deliveries: list[Delivery] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None

    def add(self, body: object, member_id: int) -> JsonObject:
        if not isinstance(body, dict):
            raise invalid_object("callbackEntry", [FieldProblem("", "The body must be an object.")])
        problems = [
            FieldProblem(name, f"The {name} field is required.")
            for name in ("url", "objectId", "type", "level")
            if body.get(name) in (None, "")
        ]
        level = str(body.get("level", "")).lower()
        if body.get("level") and level not in LEVELS:
            problems.append(FieldProblem("level", f"Level '{body['level']}' is not valid."))
        if problems:
            raise invalid_object("callbackEntry", problems)
        same = ("type", "level", "objectId", "url")
        for entry in self.entries.values():
            if all(str(entry[k]).lower() == str(body[k]).lower() for k in same):
                raise invalid_object(
                    "callbackEntry",
                    [
                        FieldProblem(
                            "objectId", "A matching callback entry already exists", "ObjectExists"
                        )
                    ],
                )
        callback_id = max(self.entries, default=0) + 1
        entry = {
            "id": callback_id,
            "description": str(body.get("description", ""))[:100],
            "url": str(body["url"]),
            "objectId": int(body["objectId"]),
            "type": str(body["type"]).lower(),
            "level": level,
            "memberId": member_id,
            "inactiveFlag": bool(body.get("inactiveFlag", False)),
            "isSelfSuppressedFlag": bool(body.get("isSelfSuppressedFlag", False)),
            "_info": {"lastUpdated": "", "updatedBy": ""},
        }
        self.entries[callback_id] = entry
        key_id = secrets.token_urlsafe(12)
        self.keys[key_id] = secrets.token_urlsafe(32)
        self.key_ids[callback_id] = key_id
        return entry

    def remove(self, callback_id: int) -> None:
        if self.entries.pop(callback_id, None) is None:
            raise missing("Callback", callback_id)
        self.keys.pop(self.key_ids.pop(callback_id, ""), None)

    def key_url(self, callback_id: int) -> str:
        return f"{self.origin}/{self.codebase}{KEY_PATH}?id={self.key_ids[callback_id]}"

    def covers(self, entry: JsonObject, ticket: JsonObject) -> bool:
        if entry["type"] != "ticket" or entry["inactiveFlag"]:
            return False
        level, object_id = entry["level"], entry["objectId"]
        if level == "owner":
            return True
        if level == "board":
            return bool(ticket.get("board", {}).get("id") == object_id)
        if level == "ticket":
            return bool(ticket["id"] == object_id)
        if level == "status":
            return bool(ticket.get("status", {}).get("id") == object_id)
        return False

    def payload(self, entry: JsonObject, ticket: JsonObject, action: str, member_id: int) -> bytes:
        body = {
            "MessageId": str(uuid.uuid4()),
            "FromUrl": self.origin,
            "CompanyId": self.company_id,
            "MemberId": member_id,
            "Action": action,
            "Type": "ticket",
            "ID": ticket["id"],
            "ProductInstanceId": "sandbox",
            "PartnerId": "sandbox",
            "Entity": json.dumps(ticket),
            "Metadata": {"key_url": self.key_url(entry["id"])},
        }
        return json.dumps(body).encode()

    def changed(self, ticket: JsonObject, action: str, member_id: int) -> None:
        """Deliver a change of `ticket` to every callback that covers it (in the background)."""
        for entry in list(self.entries.values()):
            if not self.covers(entry, ticket):
                continue
            raw = self.payload(entry, ticket, action, member_id)
            url = entry["url"] + (str(ticket["id"]) if entry["url"].endswith("recordId=") else "")
            delivery = Delivery(entry["id"], url, ticket["id"], json.loads(raw)["MessageId"])
            key = self.keys[self.key_ids[entry["id"]]]
            task = asyncio.get_running_loop().create_task(self._deliver(delivery, raw, key))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _deliver(self, delivery: Delivery, raw: bytes, key: str) -> None:
        self.deliveries.append(delivery)
        del self.deliveries[:-MAX_LOG]
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(raw, key)}
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
            )
        for wait in (0.0, *self.retry_delays):
            await asyncio.sleep(wait)
            delivery.attempts += 1
            try:
                async with self._session.post(
                    delivery.url, data=raw, headers=headers, allow_redirects=False
                ) as resp:
                    delivery.status = resp.status
            except (aiohttp.ClientError, TimeoutError, OSError):
                delivery.status = None
                return  # no answer: ConnectWise counts a failure and does not retry
            if delivery.status not in RETRIED:
                return

    async def drain(self) -> None:
        """Wait until every delivery started so far has its answer (tests)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def reset(self) -> None:
        self.entries.clear()
        self.keys.clear()
        self.key_ids.clear()
        self.deliveries.clear()
