"""The Slack transport: bolt listeners that ack first, then run the command and render the reply.

Every listener acknowledges Slack before anything that could be slow (database, ConnectWise,
even users.info), then continues in a tracked background task. Replies go back through the
request's `response_url` (bot/slack/replies.py); forms open as modals with the request's
`trigger_id`. A submitted modal is first replaced by a "working" view in the ack itself and
then updated with the result or with the form again, field errors included. The exception is
type-ahead (block_suggestion), whose answer *is* the ack: it is served from a short cache and
cut off well inside Slack's 3 seconds.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.dispatch import Dispatcher
from bot.core.errors import reply_for
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
from bot.core.reply import Reply, Tone
from bot.slack import blocks
from bot.slack.metadata import MetadataCodec
from bot.slack.replies import ReplyTarget, Responder
from bot.slack.text import from_slack
from bot.slack.users import UserDirectory

log = logging.getLogger(__name__)

COMMAND = "/ticket"
SHORTCUT = "post_to_ticket"
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
OptionsKey = tuple[str, str, str, str, str]


class SlackTransport:
    def __init__(self, app: AsyncApp, dispatcher: Dispatcher, client_for: ClientFor) -> None:
        self.app = app
        self.dispatcher = dispatcher
        self.client_for = client_for
        self.users = UserDirectory()
        self.metadata = MetadataCodec()
        self.responder = Responder(self.metadata)
        self._tasks: set[asyncio.Task[None]] = set()
        self._workers = asyncio.Semaphore(MAX_CONCURRENT_WORK)
        self._options: dict[OptionsKey, tuple[float, list[dict[str, Any]]]] = {}
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

    async def close(self) -> None:
        await self.drain()
        await self.responder.close()

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

    # -- running a command --------------------------------------------------------------------

    async def _invocation(
        self, target: ReplyTarget, action: Action, key: str, *, fallback_name: str = ""
    ) -> Invocation:
        user = await self.users.lookup(target.client, target.team_id, target.user_id, fallback_name)
        return Invocation(
            platform=Platform.SLACK,
            account_external_id=target.team_id,
            user=ChatUser(
                id=target.user_id,
                name=user.name,
                email=user.email,
                is_admin=user.is_admin,
                admin_known=True,
            ),
            conversation=Conversation(target.channel_id or f"D-{target.user_id}", target.thread_ts),
            action=action,
            idempotency_key=key,
        )

    async def _run(
        self, target: ReplyTarget, action: Action, key: str, fallback_name: str = ""
    ) -> None:
        try:
            invocation = await self._invocation(target, action, key, fallback_name=fallback_name)

            async def progress(text: str) -> None:
                await self.responder.progress(target, text)

            reply = await self.dispatcher.handle(invocation, progress)
        except Exception as exc:  # never leave the user without an answer
            reply = reply_for(exc)
        await self.responder.deliver(target, reply)

    async def _target(self, team_id: str, user_id: str, **where: Any) -> ReplyTarget:
        return ReplyTarget(
            team_id=team_id, user_id=user_id, client=await self.client_for(team_id), **where
        )

    # -- slash command ------------------------------------------------------------------------

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        self.spawn(self._command(body))

    async def _command(self, body: dict[str, Any]) -> None:
        target = await self._target(
            str(body.get("team_id", "")),
            str(body.get("user_id", "")),
            channel_id=str(body.get("channel_id", "")),
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )
        # Slack repeats a request it thinks timed out with the same trigger_id: same key.
        key = f"slack:cmd:{body.get('trigger_id') or secrets.token_hex(8)}"
        text = from_slack(str(body.get("text", "")))
        await self._run(target, Command(text), key, str(body.get("user_name", "")))

    # -- modals -------------------------------------------------------------------------------

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
        title = str((view.get("title") or {}).get("text", "psabot"))
        view_id = str(view.get("id", ""))
        team_id = str((body.get("team") or {}).get("id") or view.get("team_id", ""))
        client = await self.client_for(team_id)
        try:
            meta = self.metadata.decode(str(view.get("private_metadata", "")))
            target = ReplyTarget(
                team_id=team_id,
                user_id=str((body.get("user") or {}).get("id", "")),
                client=client,
                channel_id=meta.channel_id,
                thread_ts=meta.thread_ts,
                response_url=meta.response_url,
            )
            if meta.expired:
                reply = Reply.warning("This form expired (psabot restarted); run it again.")
                await self._update_view(client, view_id, blocks.result_view(title, reply))
                return
            # The same view state submitted twice (a double click, a retry) is one request.
            key = f"slack:view:{view_id}:{view.get('hash', '')}"
            submission = FormSubmission(
                str(view.get("callback_id", "")),
                values=blocks.submitted_values(view),
                metadata=meta.form,
            )
            invocation = await self._invocation(target, submission, key)

            async def progress(text: str) -> None:
                await self._update_view(client, view_id, blocks.progress_view(title, text))

            reply = await self.dispatcher.handle(invocation, progress)
        except Exception as exc:  # the modal must never stay on "Working on it…"
            await self._update_view(client, view_id, blocks.result_view(title, reply_for(exc)))
            return
        if reply.form is not None:
            view_out = blocks.form_view(
                reply.form, self.responder.modal_context(target, reply.form)
            )
            await self._update_view(client, view_id, view_out)
            return
        await self._update_view(client, view_id, blocks.result_view(title, reply))
        await self.responder.post(target, reply)

    async def _update_view(self, client: AsyncWebClient, view_id: str, view: blocks.View) -> None:
        try:
            await client.views_update(view_id=view_id, view=view)
        except SlackApiError as exc:  # the user closed the modal meanwhile
            log.info("views.update failed error=%s", exc.response.get("error"))

    async def _on_view_closed(self, ack: AsyncAck) -> None:
        await ack()

    # -- type-ahead ---------------------------------------------------------------------------

    async def _on_options(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            options = await asyncio.wait_for(self._options_for(body), timeout=OPTIONS_BUDGET)
        except TimeoutError:
            log.warning("type-ahead too slow; answering with no options")
            options = []
        await ack(options=options)

    async def _options_for(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        meta = self.metadata.decode(str((body.get("view") or {}).get("private_metadata", "")))
        source = meta.sources.get(str(body.get("action_id", "")), "")
        team_id = str((body.get("team") or {}).get("id", ""))
        query = str(body.get("value", ""))
        key = (team_id, source, query.strip().casefold(), meta.channel_id, meta.thread_ts or "")
        cached = self._options.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        target = await self._target(
            team_id,
            str((body.get("user") or {}).get("id", "")),
            channel_id=meta.channel_id,
            thread_ts=meta.thread_ts,
        )
        invocation = await self._invocation(
            target, OptionsQuery(source, query, meta.form), f"slack:opt:{secrets.token_hex(6)}"
        )
        reply = await self.dispatcher.handle(invocation)
        options = blocks.options_payload([(o.label, o.value) for o in reply.options])
        if reply.tone is not Tone.ERROR:  # a failure is not worth remembering
            self._options[key] = (time.monotonic() + OPTIONS_TTL, options)
        return options

    # -- the "Post to ticket" message shortcut ------------------------------------------------

    async def _on_shortcut(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        self.spawn(self._shortcut(body))

    async def _shortcut(self, body: dict[str, Any]) -> None:
        message = body.get("message") or {}
        target = await self._target(
            str((body.get("team") or {}).get("id", "")),
            str((body.get("user") or {}).get("id", "")),
            channel_id=str((body.get("channel") or {}).get("id", "")),
            thread_ts=message.get("thread_ts"),
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )
        author = ""
        if message.get("user"):
            found = await self.users.lookup(target.client, target.team_id, str(message["user"]))
            author = found.name
        permalink = ""
        ts = str(body.get("message_ts") or message.get("ts") or "")
        try:
            link = await target.client.chat_getPermalink(channel=target.channel_id, message_ts=ts)
            permalink = str(link.get("permalink") or "")
        except SlackApiError as exc:
            log.info("chat.getPermalink failed error=%s", exc.response.get("error"))
        values = {
            "text": from_slack(str(message.get("text", ""))),
            "author": author,
            "permalink": permalink,
        }
        key = f"slack:sc:{body.get('trigger_id') or secrets.token_hex(8)}"
        await self._run(target, FormSubmission("post_message", values=values), key)

    # -- buttons ------------------------------------------------------------------------------

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        action_id = str(action.get("action_id", ""))
        if action.get("type") != "button" or action_id.startswith(blocks.URL_ACTION):
            return  # selects inside modals and link buttons need no work
        if (body.get("container") or {}).get("type") == "view":
            return  # modals carry only link buttons
        value = str(action.get("value", ""))
        self.spawn(self._button(body, blocks.action_of(action_id), "" if value == "-" else value))

    async def _button(self, body: dict[str, Any], action_id: str, value: str) -> None:
        container = body.get("container") or {}
        message = body.get("message") or {}
        target = await self._target(
            str((body.get("team") or {}).get("id", "")),
            str((body.get("user") or {}).get("id", "")),
            channel_id=str(
                container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
            ),
            thread_ts=container.get("thread_ts") or message.get("thread_ts"),
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )
        key = f"slack:act:{body.get('trigger_id') or secrets.token_hex(8)}"
        await self._run(target, ButtonAction(action_id, value), key)

    # -- App Home -----------------------------------------------------------------------------

    async def _on_home_opened(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        self.spawn(self._home(str(body.get("team_id", "")), str(event.get("user", ""))))

    async def _home(self, team_id: str, user_id: str) -> None:
        target = await self._target(team_id, user_id)
        try:
            invocation = await self._invocation(
                target, Command("home"), f"slack:home:{secrets.token_hex(6)}"
            )
            reply = await self.dispatcher.handle(invocation)
        except Exception as exc:
            reply = reply_for(exc)
        try:
            await target.client.views_publish(user_id=user_id, view=blocks.home_view(reply))
        except SlackApiError as exc:
            log.warning("views.publish failed error=%s", exc.response.get("error"))
