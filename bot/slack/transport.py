"""The Slack transport: bolt listeners that ack first, then run the command and render the reply.

Every listener acknowledges Slack before anything that could be slow (database, ConnectWise,
even users.info), then continues in a tracked background task. Replies go back through the
request's `response_url` (ephemeral unless the reply is for the channel); forms open as modals
with the request's `trigger_id`. A submitted modal is first replaced by a "working" view in the
ack itself and then updated with the result or with the form again, field errors included.
The one exception is type-ahead (block_suggestion), whose answer *is* the ack: it is served from
a short cache and cut off well inside Slack's 3 seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.core.dispatch import Dispatcher
from bot.core.invocation import (
    Action,
    ButtonAction,
    ChatUser,
    Command,
    Conversation,
    FormSubmission,
    Invocation,
    OptionsQuery,
    Platform,
)
from bot.core.pacing import working
from bot.core.reply import Form, Reply, Tone, Visibility
from bot.slack import blocks
from bot.slack.text import from_slack
from bot.slack.users import UserDirectory

log = logging.getLogger(__name__)

COMMAND = "/ticket"
SHORTCUT = "post_to_ticket"
MAX_METADATA = 3000
OPTIONS_BUDGET = 2.0  # seconds; Slack gives block_suggestion 3 s in total
OPTIONS_TTL = 30.0
MAX_CONCURRENT_WORK = 8
MAX_SLOT_WAIT = 0.5  # seconds; a form's trigger_id lives 3 s
WORKING = {
    "connect": "Testing the connection to ConnectWise…",
    "note": "Posting the note to ConnectWise…",
    "status": "Changing the status in ConnectWise…",
}

ClientFor = Callable[[str], Awaitable[AsyncWebClient]]


class Context:
    """Where a reply goes: the conversation, the user, and the request's response channels."""

    def __init__(
        self,
        *,
        team_id: str,
        user_id: str,
        client: AsyncWebClient,
        channel_id: str = "",
        thread_ts: str | None = None,
        response_url: str | None = None,
        trigger_id: str | None = None,
    ) -> None:
        self.team_id = team_id
        self.user_id = user_id
        self.client = client
        self.channel_id = channel_id
        self.thread_ts = thread_ts
        self.response_url = response_url
        self.trigger_id = trigger_id


class SlackTransport:
    def __init__(
        self,
        app: AsyncApp,
        dispatcher: Dispatcher,
        client_for: ClientFor,
        *,
        api_url: str,
    ) -> None:
        self.app = app
        self.dispatcher = dispatcher
        self.client_for = client_for
        self.api_url = api_url
        self.users = UserDirectory()
        self._tasks: set[asyncio.Task[None]] = set()
        self._workers = asyncio.Semaphore(MAX_CONCURRENT_WORK)
        self._stash: dict[str, tuple[float, dict[str, str]]] = {}
        self._options: dict[tuple[str, str, str, str], tuple[float, list[dict[str, Any]]]] = {}
        self._register()

    # -- background work ----------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._limited(work))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _limited(self, work: Coroutine[Any, Any, None]) -> None:
        # A bounded number of commands work at once (waiting commands, e.g. retry back-offs,
        # give their slot up), so a burst never crowds out the loop that acks the next request.
        async with working(self._workers, max_wait=MAX_SLOT_WAIT):
            await work

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack background work failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for every piece of background work (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- registration -------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        app.command(COMMAND)(self._on_command)
        app.view(re.compile(".*"))(self._on_view_submission)
        app.view_closed(re.compile(".*"))(self._on_view_closed)
        app.options(re.compile(".*"))(self._on_options)
        app.shortcut(SHORTCUT)(self._on_shortcut)
        app.action(re.compile(".*"))(self._on_action)
        app.event("app_home_opened")(self._on_home_opened)

    # -- building invocations -----------------------------------------------------------------

    async def _invocation(
        self, ctx: Context, action: Action, key: str, *, fallback_name: str = ""
    ) -> Invocation:
        user = await self.users.lookup(ctx.client, ctx.team_id, ctx.user_id, fallback_name)
        return Invocation(
            platform=Platform.SLACK,
            account_external_id=ctx.team_id,
            user=ChatUser(
                id=ctx.user_id,
                name=user.name,
                email=user.email,
                is_admin=user.is_admin,
                admin_known=True,
            ),
            conversation=Conversation(ctx.channel_id or f"D-{ctx.user_id}", ctx.thread_ts),
            action=action,
            idempotency_key=key,
        )

    async def _run(self, ctx: Context, action: Action, key: str, fallback_name: str = "") -> None:
        invocation = await self._invocation(ctx, action, key, fallback_name=fallback_name)

        async def progress(text: str) -> None:
            await self._respond(ctx, Reply(text=f":hourglass_flowing_sand: {text}"))

        reply = await self.dispatcher.handle(invocation, progress)
        await self.deliver(ctx, reply)

    # -- rendering ----------------------------------------------------------------------------

    def _metadata(self, ctx: Context, form: Form) -> str:
        sources = {f.name: f.source for f in form.fields if f.source}
        data: dict[str, Any] = {
            "c": ctx.channel_id,
            "t": ctx.thread_ts,
            "r": ctx.response_url,
            "s": sources,
            "m": dict(form.metadata),
        }
        text = blocks.dumps(data)
        if len(text) > MAX_METADATA:
            # A long message (the Post-to-ticket shortcut) does not fit private_metadata.
            token = secrets.token_urlsafe(12)
            self._stash[token] = (time.monotonic() + 3600, dict(form.metadata))
            data["m"] = {}
            data["k"] = token
            data["r"] = None if len(blocks.dumps(data)) > MAX_METADATA else data["r"]
            text = blocks.dumps(data)
        return text

    def _read_metadata(self, raw: str) -> dict[str, Any]:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        token = data.get("k")
        if isinstance(token, str):
            stashed = self._stash.pop(token, None)
            data["m"] = stashed[1] if stashed else {}
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._stash.items() if expires < now]:
            del self._stash[key]
        return data

    async def deliver(self, ctx: Context, reply: Reply) -> None:
        """Show a reply: a form opens as a modal, anything else goes to the conversation."""
        if reply.form is not None:
            if reply.text:
                await self._respond(ctx, Reply(text=reply.text, tone=reply.tone))
            await self._open_form(ctx, reply.form)
            return
        await self._respond(ctx, reply)

    async def _open_form(self, ctx: Context, form: Form) -> None:
        if not ctx.trigger_id:
            await self._respond(ctx, Reply.warning("Run the command again to open the form."))
            return
        try:
            await ctx.client.views_open(
                trigger_id=ctx.trigger_id, view=blocks.form_view(form, self._metadata(ctx, form))
            )
        except SlackApiError as exc:
            log.warning("views.open failed error=%s", exc.response.get("error"))
            await self._respond(
                ctx, Reply.warning("Slack did not let me open the form in time; run it again.")
            )

    async def _respond(self, ctx: Context, reply: Reply) -> None:
        text, body = blocks.reply_blocks(reply)
        in_channel = reply.visibility is Visibility.CHANNEL
        if ctx.response_url:
            webhook = AsyncWebhookClient(ctx.response_url)
            response = await webhook.send(
                text=text,
                blocks=body,
                response_type="in_channel" if in_channel else "ephemeral",
                replace_original=False,
            )
            if response.status_code < 300:
                return
            log.warning("response_url answered %s; falling back to chat API", response.status_code)
        if not ctx.channel_id:
            return
        try:
            if in_channel:
                await ctx.client.chat_postMessage(
                    channel=ctx.channel_id, thread_ts=ctx.thread_ts, text=text, blocks=body
                )
            else:
                await ctx.client.chat_postEphemeral(
                    channel=ctx.channel_id,
                    user=ctx.user_id,
                    thread_ts=ctx.thread_ts,
                    text=text,
                    blocks=body,
                )
        except SlackApiError as exc:
            log.warning("could not post a reply error=%s", exc.response.get("error"))

    # -- listeners ----------------------------------------------------------------------------

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        self.spawn(self._command(body))

    async def _command(self, body: dict[str, Any]) -> None:
        ctx = Context(
            team_id=str(body.get("team_id", "")),
            user_id=str(body.get("user_id", "")),
            client=await self.client_for(str(body.get("team_id", ""))),
            channel_id=str(body.get("channel_id", "")),
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )
        key = f"slack:cmd:{body.get('trigger_id') or secrets.token_hex(8)}"
        text = from_slack(str(body.get("text", "")))
        await self._run(ctx, Command(text), key, str(body.get("user_name", "")))

    async def _on_view_submission(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        form_id = str(view.get("callback_id", ""))
        await ack(
            response_action="update",
            view=blocks.progress_view(
                str((view.get("title") or {}).get("text", "psabot")),
                WORKING.get(form_id, "Working on it…"),
            ),
        )
        self.spawn(self._submission(body))

    async def _submission(self, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        team_id = str((body.get("team") or {}).get("id") or view.get("team_id", ""))
        meta = self._read_metadata(str(view.get("private_metadata", "")))
        ctx = Context(
            team_id=team_id,
            user_id=str((body.get("user") or {}).get("id", "")),
            client=await self.client_for(team_id),
            channel_id=str(meta.get("c") or ""),
            thread_ts=meta.get("t"),
            response_url=meta.get("r"),
        )
        form_id = str(view.get("callback_id", ""))
        title = str((view.get("title") or {}).get("text", "psabot"))
        view_id = str(view.get("id", ""))
        key = f"slack:view:{view_id}:{view.get('hash', '')}"
        invocation = await self._invocation(
            ctx,
            FormSubmission(
                form_id, values=blocks.submitted_values(view), metadata=dict(meta.get("m") or {})
            ),
            key,
        )

        async def progress(text: str) -> None:
            await self._update_view(ctx, view_id, blocks.progress_view(title, text))

        reply = await self.dispatcher.handle(invocation, progress)
        if reply.form is not None:
            await self._update_view(
                ctx, view_id, blocks.form_view(reply.form, self._metadata(ctx, reply.form))
            )
            return
        await self._update_view(ctx, view_id, blocks.result_view(title, reply))
        await self._respond(ctx, reply)

    async def _update_view(self, ctx: Context, view_id: str, view: blocks.View) -> None:
        try:
            await ctx.client.views_update(view_id=view_id, view=view)
        except SlackApiError as exc:  # the user closed the modal meanwhile
            log.info("views.update failed error=%s", exc.response.get("error"))

    async def _on_view_closed(self, ack: AsyncAck) -> None:
        await ack()

    async def _on_options(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        meta = self._read_metadata(str(view.get("private_metadata", "")))
        field = str(body.get("action_id", ""))
        source = str((meta.get("s") or {}).get(field, ""))
        team_id = str((body.get("team") or {}).get("id", ""))
        query = str(body.get("value", ""))
        cache_key = (team_id, source, query.strip().casefold(), str(meta.get("c")))
        cached = self._options.get(cache_key)
        if cached is not None and cached[0] > time.monotonic():
            await ack(options=cached[1])
            return
        ctx = Context(
            team_id=team_id,
            user_id=str((body.get("user") or {}).get("id", "")),
            client=await self.client_for(team_id),
            channel_id=str(meta.get("c") or ""),
            thread_ts=meta.get("t"),
        )
        options: list[dict[str, Any]] = []
        try:
            invocation = await self._invocation(
                ctx,
                OptionsQuery(source, query, dict(meta.get("m") or {})),
                f"slack:opt:{secrets.token_hex(6)}",
            )
            reply = await asyncio.wait_for(
                self.dispatcher.handle(invocation), timeout=OPTIONS_BUDGET
            )
            options = blocks.options_payload([(o.label, o.value) for o in reply.options])
            self._options[cache_key] = (time.monotonic() + OPTIONS_TTL, options)
        except TimeoutError:
            log.warning("type-ahead too slow source=%s; answering with no options", source)
        await ack(options=options)

    async def _on_shortcut(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        self.spawn(self._shortcut(body))

    async def _shortcut(self, body: dict[str, Any]) -> None:
        team_id = str((body.get("team") or {}).get("id", ""))
        message = body.get("message") or {}
        channel_id = str((body.get("channel") or {}).get("id", ""))
        client = await self.client_for(team_id)
        ctx = Context(
            team_id=team_id,
            user_id=str((body.get("user") or {}).get("id", "")),
            client=client,
            channel_id=channel_id,
            thread_ts=message.get("thread_ts"),
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )
        author = ""
        if message.get("user"):
            author = (await self.users.lookup(client, team_id, str(message["user"]))).name
        permalink = ""
        ts = str(body.get("message_ts") or message.get("ts") or "")
        try:
            link = await client.chat_getPermalink(channel=channel_id, message_ts=ts)
            permalink = str(link.get("permalink") or "")
        except SlackApiError as exc:
            log.info("chat.getPermalink failed error=%s", exc.response.get("error"))
        values = {
            "text": from_slack(str(message.get("text", ""))),
            "author": author,
            "permalink": permalink,
        }
        key = f"slack:sc:{body.get('trigger_id') or secrets.token_hex(8)}"
        await self._run(ctx, FormSubmission("post_message", values=values), key)

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        action_id = str(action.get("action_id", ""))
        container = body.get("container") or {}
        if action.get("type") != "button" or action_id.startswith(blocks.URL_ACTION):
            return  # selects inside modals and link buttons need no work
        if container.get("type") == "view" and (body.get("view") or {}).get("type") == "modal":
            return
        self.spawn(self._button(body, blocks.action_of(action_id), str(action.get("value", ""))))

    async def _button(self, body: dict[str, Any], action_id: str, value: str) -> None:
        team_id = str((body.get("team") or {}).get("id", ""))
        container = body.get("container") or {}
        channel_id = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
        message = body.get("message") or {}
        ctx = Context(
            team_id=team_id,
            user_id=str((body.get("user") or {}).get("id", "")),
            client=await self.client_for(team_id),
            channel_id=channel_id,
            thread_ts=container.get("thread_ts") or message.get("thread_ts"),
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )
        key = f"slack:act:{body.get('trigger_id') or secrets.token_hex(8)}"
        await self._run(ctx, ButtonAction(action_id, "" if value == "-" else value), key)

    async def _on_home_opened(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        self.spawn(self._home(str(body.get("team_id", "")), str(event.get("user", ""))))

    async def _home(self, team_id: str, user_id: str) -> None:
        client = await self.client_for(team_id)
        ctx = Context(team_id=team_id, user_id=user_id, client=client)
        invocation = await self._invocation(
            ctx, Command("home"), f"slack:home:{secrets.token_hex(6)}"
        )
        reply = await self.dispatcher.handle(invocation)
        if reply.tone is Tone.ERROR:
            log.warning("app home could not be built team=%s", team_id)
        try:
            await client.views_publish(user_id=user_id, view=blocks.home_view(reply))
        except SlackApiError as exc:
            log.warning("views.publish failed error=%s", exc.response.get("error"))
