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
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from cachetools import TTLCache
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.context import Progress
from bot.core.dispatch import Dispatcher
from bot.core.errors import reply_for
from bot.core.intake import (
    Accepted,
    Intake,
    Stored,
)
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
from bot.core.reply import Reply, Tone
from bot.core.transport import Responder as ChatResponder
from bot.core.transport import Worker, guarded, working_text
from bot.slack import blocks
from bot.slack.metadata import MetadataCodec
from bot.slack.replies import ReplyTarget, Responder
from bot.slack.text import from_slack
from bot.slack.users import UserDirectory

log = logging.getLogger(__name__)

COMMAND = "/ticket"
SHORTCUT = "post_to_ticket"
NEW_TICKET_SHORTCUT = "new_ticket"  # the "New ticket" message shortcut (handlers/new_ticket.py)
OPTIONS_BUDGET = 2.0  # seconds; Slack gives block_suggestion 3 s in total
OPTIONS_TTL = 30.0
MAX_OPTIONS = 1024  # type-ahead answers kept (size-bounded as well as timed)

ClientFor = Callable[[str], Awaitable[AsyncWebClient]]
OptionsKey = tuple[str, str, str, str, str]
RESPONSE_URL_LIFETIME = 25 * 60.0  # seconds; Slack honours a response_url for 30 minutes
CONTRACT: type[ChatResponder[ReplyTarget]] = Responder  # checked by mypy: Slack answers so


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


class SlackTransport:
    platform = Platform.SLACK

    def __init__(
        self, app: AsyncApp, dispatcher: Dispatcher, client_for: ClientFor, intake: Intake
    ) -> None:
        self.app = app
        self.dispatcher = dispatcher
        self.client_for = client_for
        self.intake = intake
        intake.register(self)
        self.users = UserDirectory()
        self.metadata = MetadataCodec()
        self.responder = Responder(self.metadata)
        self.worker = Worker("slack")
        self._options: TTLCache[OptionsKey, list[dict[str, Any]]] = TTLCache(
            MAX_OPTIONS, OPTIONS_TTL
        )
        self._targets: dict[int, ReplyTarget] = {}
        self._register()

    # -- background work (bot/core/transport.py) -----------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.worker.spawn(work)

    async def drain(self) -> None:
        """Wait for every piece of background work (shutdown, tests)."""
        await self.worker.drain()

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
        app.shortcut(NEW_TICKET_SHORTCUT)(self._on_new_ticket_shortcut)
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

        async def work() -> Reply:
            invocation = await self._invocation(target, action, key, fallback_name=fallback_name)

            async def progress(text: str) -> None:
                await self.responder.progress(target, text)

            return await self.dispatcher.handle(invocation, progress)

        await self.responder.deliver(target, await guarded(work))

    async def _target(self, team_id: str, user_id: str, **where: Any) -> ReplyTarget:
        return ReplyTarget(
            team_id=team_id, user_id=user_id, client=await self.client_for(team_id), **where
        )

    # -- durable writes: stored before the ack, finished from the stored row -------------------

    def _draft(
        self,
        team_id: str,
        user_id: str,
        user_name: str,
        channel_id: str,
        thread_ts: str | None,
        action: Action,
        key: str,
    ) -> Invocation:
        """An Invocation from the payload alone; user details are looked up after the ack."""
        return Invocation(
            platform=Platform.SLACK,
            account_external_id=team_id,
            user=ChatUser(id=user_id, name=user_name),
            conversation=Conversation(channel_id or f"D-{user_id}", thread_ts),
            action=action,
            idempotency_key=key,
        )

    def _go(self, accepted: Accepted) -> None:
        if accepted.fresh:
            self.spawn(self.intake.process(accepted))

    async def resolve(self, item: Stored) -> tuple[Invocation, Progress | None]:
        """IntakeTransport: the stored draft with the user looked up, and a progress callback."""
        where = item.reply_to
        age = (self.intake.clock() - item.created_at).total_seconds()
        target = await self._target(
            item.draft.account_external_id,
            item.draft.user.id,
            channel_id=_text(where.get("channel_id")),
            thread_ts=where.get("thread_ts") or None,
            # a response_url dies after 30 minutes, a trigger_id after 3 seconds
            response_url=where.get("response_url") if age < RESPONSE_URL_LIFETIME else None,
            trigger_id=None if item.resumed else where.get("trigger_id"),
        )
        self._targets[item.id] = target
        draft = item.draft
        action = draft.action
        if isinstance(action, FormSubmission) and action.form_id == "post_message":
            action = FormSubmission(
                action.form_id, await self._message_values(target, dict(action.values))
            )
        invocation = await self._invocation(
            target, action, draft.idempotency_key, fallback_name=draft.user.name
        )
        view_id = _text(where.get("view_id"))
        if view_id:
            title = _text(where.get("title")) or "psabot"

            async def view_progress(text: str) -> None:
                await self._update_view(target.client, view_id, blocks.progress_view(title, text))

            return invocation, view_progress

        async def progress(text: str) -> None:
            await self.responder.progress(target, text)

        return invocation, progress

    async def deliver(self, item: Stored, reply: Reply) -> None:
        """IntakeTransport: the outcome to its author (the modal, response_url, or the chat API)."""
        target = self._targets.pop(item.id, None)
        if target is None:  # resolve failed before a target existed
            where = item.reply_to
            target = await self._target(
                item.draft.account_external_id,
                item.draft.user.id,
                channel_id=_text(where.get("channel_id")),
                thread_ts=where.get("thread_ts"),
            )
        view_id = _text(item.reply_to.get("view_id"))
        if view_id:
            await self._finish_view(target, view_id, _text(item.reply_to.get("title")), reply)
            return
        await self.responder.deliver(target, reply)

    # -- slash command ------------------------------------------------------------------------

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        text = from_slack(_text(body.get("text")))
        # Slack repeats a request it thinks timed out with the same trigger_id: same key.
        key = f"slack:cmd:{_text(body.get('trigger_id')) or secrets.token_hex(8)}"
        if not self.dispatcher.is_write(Command(text)):
            await ack()
            self.spawn(self._command(body, text, key))
            return
        team_id, user_id = _text(body.get("team_id")), _text(body.get("user_id"))
        channel_id = _text(body.get("channel_id"))
        draft = self._draft(
            team_id, user_id, _text(body.get("user_name")), channel_id, None, Command(text), key
        )
        accepted = await self.intake.try_accept(
            draft,
            {
                "channel_id": channel_id,
                "response_url": _text(body.get("response_url")) or None,
                "trigger_id": _text(body.get("trigger_id")) or None,
            },
        )
        if isinstance(accepted, Reply):
            await self._ack_reply(ack, accepted)
            return
        if accepted.repeat is not None and accepted.finished:  # still at work: it answers
            await self._ack_reply(ack, accepted.repeat)
            return
        await ack()
        self._go(accepted)

    async def _ack_reply(self, ack: AsyncAck, reply: Reply) -> None:
        text, body = blocks.reply_blocks(reply)
        await ack(text=text, blocks=body, response_type="ephemeral")

    async def _command(self, body: dict[str, Any], text: str, key: str) -> None:
        target = await self._target(
            _text(body.get("team_id")),
            _text(body.get("user_id")),
            channel_id=_text(body.get("channel_id")),
            response_url=_text(body.get("response_url")) or None,
            trigger_id=_text(body.get("trigger_id")) or None,
        )
        await self._run(target, Command(text), key, _text(body.get("user_name")))

    # -- modals -------------------------------------------------------------------------------

    async def _on_view_submission(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = _dict(body.get("view"))
        form_id = _text(view.get("callback_id"))
        title = _text(_dict(view.get("title")).get("text")) or "psabot"
        working_view = blocks.progress_view(title, working_text(form_id))
        meta = self.metadata.decode(_text(view.get("private_metadata")))
        submission = FormSubmission(
            form_id, values=blocks.submitted_values(view), metadata=meta.form
        )
        if meta.expired or not self.dispatcher.is_write(submission):
            await ack(response_action="update", view=working_view)
            self.spawn(self._submission(body))
            return
        view_id = _text(view.get("id"))
        team_id = _text(_dict(body.get("team")).get("id")) or _text(view.get("team_id"))
        user = _dict(body.get("user"))
        # The same view state submitted twice (a double click, a retry) is one request.
        key = f"slack:view:{view_id}:{_text(view.get('hash'))}"
        draft = self._draft(
            team_id,
            _text(user.get("id")),
            _text(user.get("name")),
            meta.channel_id,
            meta.thread_ts,
            submission,
            key,
        )
        accepted = await self.intake.try_accept(
            draft,
            {
                "channel_id": meta.channel_id,
                "thread_ts": meta.thread_ts,
                "response_url": meta.response_url,
                "view_id": view_id,
                "title": title,
            },
        )
        if isinstance(accepted, Reply):  # nothing stored
            await ack(response_action="update", view=blocks.result_view(title, accepted))
            return
        if accepted.repeat is not None:
            await ack(response_action="update", view=blocks.result_view(title, accepted.repeat))
            return
        await ack(response_action="update", view=working_view)
        self._go(accepted)

    async def _submission(self, body: dict[str, Any]) -> None:
        view = _dict(body.get("view"))
        title = _text(_dict(view.get("title")).get("text")) or "psabot"
        view_id = _text(view.get("id"))
        team_id = _text(_dict(body.get("team")).get("id")) or _text(view.get("team_id"))
        client = await self.client_for(team_id)
        try:
            meta = self.metadata.decode(_text(view.get("private_metadata")))
            target = ReplyTarget(
                team_id=team_id,
                user_id=_text(_dict(body.get("user")).get("id")),
                client=client,
                channel_id=meta.channel_id,
                thread_ts=meta.thread_ts,
                response_url=meta.response_url,
            )
            if meta.expired:
                reply = Reply.warning("This form expired (psabot restarted); run it again.")
                await self._update_view(client, view_id, blocks.result_view(title, reply))
                return
            key = f"slack:view:{view_id}:{_text(view.get('hash'))}"
            submission = FormSubmission(
                _text(view.get("callback_id")),
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
        await self._finish_view(target, view_id, title, reply)

    async def _finish_view(
        self, target: ReplyTarget, view_id: str, title: str, reply: Reply
    ) -> None:
        """The modal shows the form again (with its errors) or the result, also posted."""
        if reply.form is not None:
            view_out = blocks.form_view(
                reply.form, self.responder.modal_context(target, reply.form)
            )
            await self._update_view(target.client, view_id, view_out)
            return
        await self._update_view(target.client, view_id, blocks.result_view(title, reply))
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
        meta = self.metadata.decode(_text(_dict(body.get("view")).get("private_metadata")))
        source = meta.sources.get(_text(body.get("action_id")), "")
        team_id = _text(_dict(body.get("team")).get("id"))
        query = _text(body.get("value"))
        key = (team_id, source, query.strip().casefold(), meta.channel_id, meta.thread_ts or "")
        cached = self._options.get(key)
        if cached is not None:
            return cached
        target = await self._target(
            team_id,
            _text(_dict(body.get("user")).get("id")),
            channel_id=meta.channel_id,
            thread_ts=meta.thread_ts,
        )
        invocation = await self._invocation(
            target, OptionsQuery(source, query, meta.form), f"slack:opt:{secrets.token_hex(6)}"
        )
        reply = await self.dispatcher.handle(invocation)
        options = blocks.options_payload([(o.label, o.value) for o in reply.options])
        if reply.tone is not Tone.ERROR:  # a failure is not worth remembering
            self._options[key] = options
        return options

    # -- the "Post to ticket" message shortcut ------------------------------------------------

    async def _on_shortcut(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        message = _dict(body.get("message"))
        team_id = _text(_dict(body.get("team")).get("id"))
        user = _dict(body.get("user"))
        channel_id = _text(_dict(body.get("channel")).get("id"))
        thread_ts = _text(message.get("thread_ts")) or None
        values = {
            "text": from_slack(_text(message.get("text"))),
            "author_id": _text(message.get("user")),
            "ts": _text(body.get("message_ts")) or _text(message.get("ts")),
        }
        key = f"slack:sc:{_text(body.get('trigger_id')) or secrets.token_hex(8)}"
        action = FormSubmission("post_message", values=values)
        draft = self._draft(
            team_id,
            _text(user.get("id")),
            _text(user.get("name")),
            channel_id,
            thread_ts,
            action,
            key,
        )
        reply_to = {
            "channel_id": channel_id,
            "thread_ts": thread_ts,
            "response_url": _text(body.get("response_url")) or None,
            "trigger_id": _text(body.get("trigger_id")) or None,
        }
        accepted = await self.intake.try_accept(draft, reply_to)
        await ack()
        if isinstance(accepted, Reply):  # a shortcut's ack carries no message: say it after
            target = await self._target(
                team_id,
                _text(user.get("id")),
                channel_id=channel_id,
                thread_ts=thread_ts,
                response_url=reply_to["response_url"],
            )
            self.spawn(self.responder.deliver(target, accepted))
            return
        self._go(accepted)

    async def _on_new_ticket_shortcut(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """The "New ticket" message shortcut opens the new-ticket form (nothing is written
        until it is submitted). The ticket is linked to the message's thread (started at the
        message when it has none), so the channel keeps its own link."""
        await ack()
        message = _dict(body.get("message"))
        ts = _text(body.get("message_ts")) or _text(message.get("ts"))
        target = await self._target(
            _text(_dict(body.get("team")).get("id")),
            _text(_dict(body.get("user")).get("id")),
            channel_id=_text(_dict(body.get("channel")).get("id")),
            thread_ts=_text(message.get("thread_ts")) or ts or None,
            response_url=_text(body.get("response_url")) or None,
            trigger_id=_text(body.get("trigger_id")) or None,
        )
        raw = {
            "text": from_slack(_text(message.get("text"))),
            "author_id": _text(message.get("user")),
            "ts": ts,
        }

        async def run() -> None:
            values = await self._message_values(target, raw)
            action = FormSubmission("new_ticket_message", values=values)
            key = f"slack:nt:{_text(body.get('trigger_id')) or secrets.token_hex(8)}"
            await self._run(target, action, key, _text(_dict(body.get("user")).get("name")))

        self.spawn(run())

    async def _message_values(self, target: ReplyTarget, values: dict[str, str]) -> dict[str, str]:
        """The shortcut's message with its author's name and permalink (looked up after ack)."""
        author = ""
        if values.get("author_id"):
            found = await self.users.lookup(target.client, target.team_id, values["author_id"])
            author = found.name
        permalink = ""
        try:
            link = await target.client.chat_getPermalink(
                channel=target.channel_id, message_ts=values.get("ts", "")
            )
            permalink = str(link.get("permalink") or "")
        except SlackApiError as exc:
            log.info("chat.getPermalink failed error=%s", exc.response.get("error"))
        return {"text": values.get("text", ""), "author": author, "permalink": permalink}

    # -- buttons ------------------------------------------------------------------------------

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        actions = body.get("actions")
        action = _dict(actions[0]) if isinstance(actions, list) and actions else {}
        action_id = _text(action.get("action_id"))
        container = _dict(body.get("container"))
        if (
            action.get("type") != "button"
            or action_id.startswith(blocks.URL_ACTION)
            or container.get("type") == "view"  # modals carry only link buttons
        ):
            await ack()  # selects inside modals and link buttons need no work
            return
        value = _text(action.get("value"))
        pressed = ButtonAction(blocks.action_of(action_id), "" if value == "-" else value)
        message = _dict(body.get("message"))
        team_id = _text(_dict(body.get("team")).get("id"))
        user = _dict(body.get("user"))
        channel_id = _text(container.get("channel_id")) or _text(
            _dict(body.get("channel")).get("id")
        )
        thread_ts = _text(container.get("thread_ts")) or _text(message.get("thread_ts")) or None
        key = f"slack:act:{_text(body.get('trigger_id')) or secrets.token_hex(8)}"
        where = {
            "channel_id": channel_id,
            "thread_ts": thread_ts,
            "response_url": _text(body.get("response_url")) or None,
            "trigger_id": _text(body.get("trigger_id")) or None,
        }
        if not self.dispatcher.is_write(pressed):
            await ack()
            self.spawn(self._button(team_id, _text(user.get("id")), where, pressed, key))
            return
        draft = self._draft(
            team_id,
            _text(user.get("id")),
            _text(user.get("name")),
            channel_id,
            thread_ts,
            pressed,
            key,
        )
        accepted = await self.intake.try_accept(draft, where)
        await ack()
        if isinstance(accepted, Reply):
            target = await self._target(team_id, _text(user.get("id")), **where)
            self.spawn(self.responder.deliver(target, accepted))
            return
        self._go(accepted)

    async def _button(
        self, team_id: str, user_id: str, where: dict[str, Any], pressed: ButtonAction, key: str
    ) -> None:
        target = await self._target(team_id, user_id, **where)
        await self._run(target, pressed, key)

    # -- App Home -----------------------------------------------------------------------------

    async def _on_home_opened(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        self.spawn(self._home(str(body.get("team_id", "")), str(event.get("user", ""))))

    async def _home(self, team_id: str, user_id: str) -> None:
        target = await self._target(team_id, user_id)

        async def work() -> Reply:
            invocation = await self._invocation(
                target, Command("home"), f"slack:home:{secrets.token_hex(6)}"
            )
            return await self.dispatcher.handle(invocation)

        reply = await guarded(work)
        try:
            await target.client.views_publish(user_id=user_id, view=blocks.home_view(reply))
        except SlackApiError as exc:
            log.warning("views.publish failed error=%s", exc.response.get("error"))
