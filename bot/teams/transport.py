"""The Teams transport: the SDK's turn → Invocation → dispatch → Adaptive Card, dialog or post.

Messages are answered at once (the HTTP answer is Teams' ack) and worked on in the
background; the outcome is posted to the conversation (the thread, in a channel). Invokes
carry their answer in the HTTP body: dialogs (task/fetch, task/submit), message-extension
search and the "Post to ticket" action, card buttons (adaptiveCard/action) and dialog
type-ahead (application/search). An invoke waits for its outcome only for a bounded time;
past that it answers "working on it" and the outcome is posted to the chat when it comes.

Writes (a note, a status change, a message posted to a ticket) are stored by the durable
intake before the turn is answered, and finished from the stored row, also by a later process,
which tells the author from the stored conversation reference. A repeated activity (same id)
maps to the same stored row and posts nothing twice.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from cachetools import TTLCache
from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.core import TurnContext

from bot.core.context import Progress
from bot.core.errors import reply_for
from bot.core.history import HistoryPlace
from bot.core.intake import Stored
from bot.core.invocation import (
    Action,
    ButtonAction,
    Command,
    FormSubmission,
    Invocation,
    OptionsQuery,
    Platform,
)
from bot.core.reply import Form, Option, Reply, Tone
from bot.core.transport import DelayedProgress, Worker, guarded, working_text
from bot.core.transport import Responder as ChatResponder
from bot.runtime import Runtime
from bot.teams import cards, unfurls
from bot.teams.connector import Connector
from bot.teams.inbound import Envelope, Json, Malformed, command_text, envelope
from bot.teams.markup import html_to_text

log = logging.getLogger(__name__)

INVOKE_BUDGET = 8.0  # seconds an invoke waits for its outcome (Teams gives it about 15)
SEARCH_BUDGET = 3.0  # composeExtension/query: Teams gives it 5 s
OPTIONS_BUDGET = 3.0
SEARCH_TTL = 60.0
FORM_TTL = 3600.0
POST_TO_TICKET = "post_message"
NEW_TICKET_FROM_MESSAGE = "new_ticket_message"  # handlers/new_ticket.py
NEW_TICKET_FORM = "new_ticket"
NEW_TICKET_COMMAND_ID = "newTicket"  # bot/teams_package/manifest.py
POSTED_HERE = {"connect": "the result will be posted here."}
OUTCOME_HERE = "the outcome will be posted here."
WORKING_DEFAULT = working_text("", OUTCOME_HERE)
REFERENCE_TTL = 3600.0  # seconds a saved conversation reference is not saved again
MENTION_PREFIX = "<@29:"


def _dict(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


@dataclass
class Thread:
    """Where one request's answers go, and the progress message posted for it (if any)."""

    service_url: str
    conversation_id: str
    reply_to: str = ""
    progress: DelayedProgress | None = field(default=None, repr=False)

    @classmethod
    def of(cls, where: Json) -> Thread:
        return cls(
            service_url=_str(where.get("service_url")),
            conversation_id=_str(where.get("conversation_id")),
            reply_to=_str(where.get("reply_to")),
        )


def _working(form_id: str) -> str:
    return working_text(form_id, POSTED_HERE.get(form_id, OUTCOME_HERE))


class TeamsResponder:
    """The Responder for Teams (bot/core/transport.py): every answer outside an invoke's own
    body is a message posted through the connector into the request's conversation."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.forms: TTLCache[str, Form] = TTLCache(maxsize=5000, ttl=FORM_TTL)

    async def deliver(self, target: Thread, reply: Reply) -> None:
        """To the invoker: the reply posted to their conversation, a form as its opener."""
        await self.post(target, reply)

    async def open_form(self, target: Thread, form: Form) -> None:
        await self.post(target, Reply.show_form(form))

    async def progress(self, target: Thread, text: str) -> None:
        await self.progress_for(target)(text)

    def progress_for(self, target: Thread) -> Progress:
        """A "working…" message, only for work slower than a second; the outcome replaces it."""
        if target.progress is None:

            async def show(text: str) -> str | None:
                body = cards.message_activity(Reply.info(f"⏳ {text}"))
                return await self.connector.post(
                    target.service_url, target.conversation_id, body, target.reply_to
                )

            target.progress = DelayedProgress(show)
        return target.progress.callback

    async def post(self, target: Thread, reply: Reply, origin: Action | None = None) -> None:
        """The reply into the conversation (replacing the progress message, if one is up)."""
        progress_id = await target.progress.settle() if target.progress is not None else None
        if not target.service_url or not target.conversation_id:
            log.warning("teams reply has nowhere to go")
            return
        body = self.message_body(reply, origin)
        if progress_id and await self.connector.update(
            target.service_url, target.conversation_id, progress_id, body
        ):
            return
        await self.connector.post(target.service_url, target.conversation_id, body, target.reply_to)

    def message_body(self, reply: Reply, origin: Action | None) -> Json:
        body = cards.message_activity(replace(reply, form=None))
        if reply.form is not None:
            card = body["attachments"][0]["content"]
            card["body"].extend(cards.form_opener(reply.form))
            token = secrets.token_urlsafe(12)
            self.forms[token] = reply.form
            opener = card["body"][-1]["items"][-1]["actions"][0]["data"]
            opener["token"] = token
            if isinstance(origin, Command):
                opener["origin"] = {"kind": "command", "text": origin.text}
            elif isinstance(origin, ButtonAction):
                opener["origin"] = {"kind": "button", "id": origin.action_id, "value": origin.value}
        return body


CONTRACT: type[ChatResponder[Thread]] = TeamsResponder  # checked by mypy: Teams answers so


class TeamsTransport:
    """The SDK agent (`on_turn`) and the intake transport for Teams."""

    platform = Platform.TEAMS

    def __init__(
        self, runtime: Runtime, connector: Connector, *, invoke_budget: float = INVOKE_BUDGET
    ) -> None:
        self.runtime = runtime
        self.invoke_budget = invoke_budget
        self.dispatcher = runtime.dispatcher
        self.intake = runtime.intake
        self.connector = connector
        self.intake.register(self)
        self.worker = Worker("teams")
        self.responder = TeamsResponder(connector)
        self._waiting: dict[int, asyncio.Future[Reply]] = {}
        self._threads: dict[int, Thread] = {}
        self._searches: TTLCache[tuple[str, str], Json] = TTLCache(maxsize=2000, ttl=SEARCH_TTL)
        self._forms = self.responder.forms
        self._saved: TTLCache[tuple[str, str, str], bool] = TTLCache(
            maxsize=5000, ttl=REFERENCE_TTL
        )

    # -- background work (bot/core/transport.py) -----------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.worker.spawn(work)

    async def drain(self) -> None:
        await self.worker.drain()

    # -- the turn -----------------------------------------------------------------------------

    async def on_turn(self, context: TurnContext) -> None:
        """The SDK's entry point for one activity; invokes get their answer set here."""
        activity = context.activity.model_dump(by_alias=True, mode="json", exclude_none=True)
        kind = _str(activity.get("type"))
        try:
            if kind == ActivityTypes.message:
                await self._message(activity)
            elif kind == ActivityTypes.invoke:
                status, body = await self._invoke(activity)
                await self._answer(context, status, body)
        except Malformed as exc:
            if kind == ActivityTypes.invoke:
                await self._answer(context, 400, {"error": str(exc)})
            else:
                raise
        except Exception as exc:  # an invoke always gets an answer
            log.exception("teams turn failed type=%s name=%s", kind, activity.get("name"))
            if kind == ActivityTypes.invoke:
                await self._answer(context, 200, self._failure_body(activity, reply_for(exc)))

    async def _answer(self, context: TurnContext, status: int, body: Json) -> None:
        await context.send_activity(
            Activity(
                type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body=body)
            )
        )

    def _failure_body(self, activity: Json, reply: Reply) -> Json:
        name = _str(activity.get("name"))
        if name == "adaptiveCard/action":
            return cards.card_action_response(cards.reply_card(reply, buttons=False))
        if name == "composeExtension/query":
            return {"composeExtension": {"type": "message", "text": cards.fallback_text(reply)}}
        if name == "application/search":
            return cards.options_response(())
        if name == "composeExtension/queryLink":
            return unfurls.NO_CARD
        return cards.result_dialog("psabot", reply)

    # -- building invocations -----------------------------------------------------------------

    def _invocation(self, env: Envelope, action: Action, key: str | None = None) -> Invocation:
        return Invocation(
            platform=Platform.TEAMS,
            account_external_id=env.tenant_id,
            user=env.user,
            conversation=env.conversation,
            action=action,
            idempotency_key=key or env.key,
        )

    async def _complete(self, invocation: Invocation, where: Json) -> Invocation:
        """The draft with what only the connector knows: the author's e-mail/UPN (for
        `map me`) and the Entra ids behind mentions (for `owners add @…`, `map @…`)."""
        service_url = _str(where.get("service_url"))
        conversation_id = _str(where.get("conversation_id"))
        teams_user = _str(where.get("teams_user_id"))
        await self._remember(invocation, where)
        user = invocation.user
        if service_url and teams_user:
            member = await self.connector.member(service_url, conversation_id, teams_user)
            if member is not None:
                user = replace(user, email=member.email, name=user.name or member.name)
        action = invocation.action
        if isinstance(action, Command) and MENTION_PREFIX in action.text and service_url:
            text = action.text
            for token in list(dict.fromkeys(_mentions(text))):
                member = await self.connector.member(service_url, conversation_id, token)
                if member is not None and member.aad_object_id:
                    text = text.replace(f"<@{token}|", f"<@{member.aad_object_id}|")
            action = Command(text)
        return replace(invocation, user=user, action=action)

    async def _remember(self, invocation: Invocation, where: Json) -> None:
        """Keep the conversation's reference (service URL and conversation id as Teams sent
        them), so post-history entries reach it proactively, also from a later process."""
        service_url = _str(where.get("service_url"))
        conversation_id = _str(where.get("conversation_id"))
        if not service_url or not conversation_id:
            return
        key = invocation.conversation.key
        seen = (invocation.account_external_id, key, service_url)
        if seen in self._saved:
            return
        reference = json.dumps({"service_url": service_url, "conversation_id": conversation_id})
        try:
            async with self.runtime.store.unit() as uow:
                account = await uow.accounts.find(Platform.TEAMS.value, seen[0])
                if account is None:  # not connected yet: nothing to keep a history for
                    return
                await uow.refs.save_reference(account.id, key, Platform.TEAMS.value, reference)
        except Exception as exc:  # the command goes on; only its history would miss this
            log.warning("teams conversation reference not saved error=%s", type(exc).__name__)
            return
        self._saved[seen] = True

    # -- messages -----------------------------------------------------------------------------

    async def _message(self, activity: Json) -> None:
        env = envelope(activity)
        value = _dict(activity.get("value"))
        action: Action
        if value.get("psabot") == "button":  # Action.Submit on one of our cards
            action = ButtonAction(_str(value.get("action_id")), _str(value.get("value")))
        elif value.get("psabot") == "form":
            form_id, values, meta = cards.submitted(value)
            action = FormSubmission(form_id, values, meta)
        else:
            action = Command(command_text(activity))
        where = env.reply_to() | {"reply_to": env.activity_id}
        if not self.dispatcher.is_write(action):
            self.spawn(self._run(env, action, where))
            return
        accepted = await self.intake.try_accept(self._invocation(env, action), where)
        if isinstance(accepted, Reply):
            self.spawn(self._post(Thread.of(where), accepted))
            return
        if accepted.fresh:
            self.spawn(self.intake.process(accepted))
        # a repeat (Teams redelivered the activity) posts nothing at all

    async def _run(self, env: Envelope, action: Action, where: Json) -> None:
        thread = Thread.of(where)

        async def work() -> Reply:
            invocation = await self._complete(self._invocation(env, action), where)
            return await self.dispatcher.handle(invocation, self.responder.progress_for(thread))

        await self._post(thread, await guarded(work), origin=action)

    async def _post(self, thread: Thread, reply: Reply, origin: Action | None = None) -> None:
        await self.responder.post(thread, reply, origin)

    def _message_body(self, reply: Reply, origin: Action | None) -> Json:
        return self.responder.message_body(reply, origin)

    # -- durable writes -----------------------------------------------------------------------

    async def resolve(self, item: Stored) -> tuple[Invocation, Progress | None]:
        """IntakeTransport: the stored draft completed (e-mail, mentions), and progress."""
        thread = Thread.of(item.reply_to)
        self._threads[item.id] = thread
        invocation = await self._complete(item.draft, item.reply_to)
        if item.id in self._waiting:  # an invoke is waiting: its dialog shows the outcome
            return invocation, None
        return invocation, self.responder.progress_for(thread)

    async def deliver(self, item: Stored, reply: Reply) -> None:
        """IntakeTransport: to the invoke still waiting for it, or posted to the chat."""
        thread = self._threads.pop(item.id, None) or Thread.of(item.reply_to)
        waiter = self._waiting.pop(item.id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)
            return
        await self._post(thread, reply)

    async def _write_invoke(
        self, env: Envelope, submission: FormSubmission | ButtonAction, key: str
    ) -> Reply | None:
        """Store a write, start it, and wait a bounded time for its outcome (None: still
        working; its outcome is posted when it comes)."""
        where = env.reply_to() | {"reply_to": ""}
        accepted = await self.intake.try_accept(self._invocation(env, submission, key), where)
        if isinstance(accepted, Reply):
            return accepted
        if accepted.repeat is not None:
            return accepted.repeat
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Reply] = loop.create_future()
        self._waiting[accepted.id] = waiter
        self.spawn(self.intake.process(accepted))
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout=self.invoke_budget)
        except TimeoutError:
            self._waiting.pop(accepted.id, None)  # from now on the outcome is posted
            return None

    async def _bounded(self, env: Envelope, action: Action, key: str | None = None) -> Reply | None:
        """A read (no PSA write) run for at most the invoke's budget; past it, the outcome
        is posted to the chat when it comes."""
        where = env.reply_to() | {"reply_to": ""}
        thread = Thread.of(where)
        outcome: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

        async def run() -> Reply:
            invocation = await self._complete(self._invocation(env, action, key), where)
            return await self.dispatcher.handle(invocation)

        async def work() -> None:
            reply = await guarded(run)
            if not outcome.done():
                outcome.set_result(reply)
            else:
                await self._post(thread, reply, origin=action)

        self.spawn(work())
        try:
            return await asyncio.wait_for(asyncio.shield(outcome), timeout=self.invoke_budget)
        except TimeoutError:
            outcome.cancel()
            return None

    # -- invokes ------------------------------------------------------------------------------

    async def _invoke(self, activity: Json) -> tuple[int, Json]:
        name = _str(activity.get("name"))
        value = _dict(activity.get("value"))
        handlers: dict[str, Callable[[Json, Json], Awaitable[Json]]] = {
            "task/fetch": self._task_fetch,
            "task/submit": self._task_submit,
            "adaptiveCard/action": self._card_action,
            "application/search": self._typeahead,
            "composeExtension/query": self._search,
            "composeExtension/fetchTask": self._action_fetch,
            "composeExtension/submitAction": self._action_submit,
            "composeExtension/queryLink": functools.partial(unfurls.query_link, self.dispatcher),
        }
        handler = handlers.get(name)
        if handler is None:
            return 200, {}  # nothing psabot offers (e.g. a client probing); answered, not failed
        return 200, await handler(activity, value)

    async def _task_fetch(self, activity: Json, value: Json) -> Json:
        env = envelope(activity)
        data = _dict(value.get("data"))
        if data.get("psabot") == "button":
            action: Action = ButtonAction(_str(data.get("action_id")), _str(data.get("value")))
        elif data.get("psabot") == "open":
            form = self._forms.get(_str(data.get("token")))
            if form is not None:
                return await self._form_dialog(env, form)
            origin = _dict(data.get("origin"))
            if origin.get("kind") == "command":
                action = Command(_str(origin.get("text")))
            elif origin.get("kind") == "button":
                action = ButtonAction(_str(origin.get("id")), _str(origin.get("value")))
            else:
                return cards.dialog_message("This form expired; run the command again.")
        else:
            return cards.dialog_message("There is nothing to open here; try `ticket help`.")
        reply = await self._bounded(env, action, key=f"{env.key}:fetch:{secrets.token_hex(4)}")
        if reply is None:
            return cards.dialog_message(WORKING_DEFAULT)
        if reply.form is not None:
            return await self._form_dialog(env, reply.form)
        return cards.result_dialog("psabot", reply)

    async def _form_dialog(self, env: Envelope, form: Form) -> Json:
        return cards.dialog(form.title, cards.form_card(form, await self._prefill(env, form)))

    async def _prefill(self, env: Envelope, form: Form) -> dict[str, tuple[Option, ...]]:
        """Choices of searched fields, asked once when the dialog opens (Teams asks for more
        as the user types)."""
        found: dict[str, tuple[Option, ...]] = {}
        for f in form.fields:
            if not f.source:
                continue
            query = OptionsQuery(f.source, "", dict(form.metadata))
            try:
                reply = await asyncio.wait_for(
                    self.dispatcher.handle(self._invocation(env, query, f"{env.key}:opt")),
                    timeout=OPTIONS_BUDGET,
                )
            except TimeoutError:
                continue
            found[f.name] = reply.options
        return found

    async def _task_submit(self, activity: Json, value: Json) -> Json:
        env = envelope(activity)
        form_id, values, meta = cards.submitted(_dict(value.get("data")))
        if not form_id:
            return cards.dialog_message(
                "This dialog is from an older psabot; run the command again."
            )
        return await self._submit_form(env, FormSubmission(form_id, values, meta))

    async def _submit_form(
        self, env: Envelope, submission: FormSubmission, key: str | None = None
    ) -> Json:
        if self.dispatcher.is_write(submission):
            reply = await self._write_invoke(env, submission, key or env.key)
        else:
            reply = await self._bounded(env, submission)
        if reply is None:
            return cards.dialog_message(_working(submission.form_id))
        if reply.form is not None:
            return await self._form_dialog(env, reply.form)
        # done: the dialog says so, and the outcome goes to the chat for everyone to see
        self.spawn(self._post(Thread.of(env.reply_to()), reply))
        return cards.dialog_message(cards.fallback_text(reply))

    async def _card_action(self, activity: Json, value: Json) -> Json:
        """Action.Execute: the answer replaces the pressed card."""
        env = envelope(activity)
        action = _dict(value.get("action"))
        data = _dict(action.get("data"))
        pressed = ButtonAction(
            _str(data.get("action_id")) or _str(action.get("verb")), _str(data.get("value"))
        )
        if self.dispatcher.is_write(pressed):
            reply = await self._write_invoke(env, pressed, env.key)
        else:
            reply = await self._bounded(env, pressed)
        if reply is None:
            return cards.card_action_message(WORKING_DEFAULT)
        if reply.form is not None:
            return cards.card_action_response(
                self._message_body(reply, pressed)["attachments"][0]["content"]
            )
        return cards.card_action_response(cards.reply_card(reply))

    async def _typeahead(self, activity: Json, value: Json) -> Json:
        env = envelope(activity)
        query = OptionsQuery(_str(value.get("dataset")), _str(value.get("queryText")))
        try:
            reply = await asyncio.wait_for(
                self.dispatcher.handle(self._invocation(env, query, f"{env.key}:opt")),
                timeout=OPTIONS_BUDGET,
            )
        except TimeoutError:
            return cards.options_response(())
        return cards.options_response(reply.options)

    # -- the message extension ----------------------------------------------------------------

    async def _search(self, activity: Json, value: Json) -> Json:
        """Ticket search from the compose box: cached, and cut off well inside Teams' 5 s."""
        env = envelope(activity)
        words = ""
        for parameter in value.get("parameters") or []:
            if isinstance(parameter, dict) and parameter.get("name") != "initialRun":
                words = _str(parameter.get("value")).strip() or words
        if not words:
            return {
                "composeExtension": {
                    "type": "message",
                    "text": "Type words from a ticket's summary, or a ticket number.",
                }
            }
        key = (env.tenant_id, words.casefold())
        cached = self._searches.get(key)
        if cached is not None:
            return cached
        command = Command(f"search {words}")
        try:
            reply = await asyncio.wait_for(
                self.dispatcher.handle(self._invocation(env, command, f"{env.key}:q")),
                timeout=SEARCH_BUDGET,
            )
        except TimeoutError:
            return {
                "composeExtension": {
                    "type": "message",
                    "text": "ConnectWise is slow to answer; try again in a moment.",
                }
            }
        answer = cards.search_results(reply)
        if reply.tone is not Tone.ERROR:
            self._searches[key] = answer
        return answer

    async def _action_fetch(self, activity: Json, value: Json) -> Json:
        """'Post to ticket' on a message: a dialog showing what will be posted."""
        env = envelope(activity)
        message = _dict(value.get("messagePayload"))
        if not message:
            return cards.dialog_message("Use “Post to ticket” on a message.")
        values = message_values(message)
        if not values["text"]:
            return cards.dialog_message("That message has no text to post.")
        if _str(value.get("commandId")) == NEW_TICKET_COMMAND_ID:
            # "New ticket": the new-ticket form, the message kept as its first internal note
            reply = await self._bounded(env, FormSubmission(NEW_TICKET_FROM_MESSAGE, values))
            if reply is None:
                return cards.dialog_message(WORKING_DEFAULT)
            if reply.form is not None:
                return await self._form_dialog(env, reply.form)
            return cards.result_dialog("psabot", reply)
        preview = values["text"] if len(values["text"]) <= 600 else values["text"][:599] + "…"
        by = f" from {values['author']}" if values["author"] else ""
        form = Form(
            form_id=POST_TO_TICKET,
            title="Post to ticket",
            fields=(),
            submit_label="Post to ticket",
            intro=f"This message{by} goes to this conversation's ticket as a note:\n> {preview}",
            metadata=values,
        )
        return await self._form_dialog(env, form)

    async def _action_submit(self, activity: Json, value: Json) -> Json:
        env = envelope(activity)
        form_id, values, meta = cards.submitted(_dict(value.get("data")))
        if form_id == POST_TO_TICKET:
            # the message itself travels in the dialog's metadata; posting the same message
            # again (a second click, a retry) is the same request
            return await self._submit_form(
                env, FormSubmission(POST_TO_TICKET, meta), key=_message_key(env, meta)
            )
        if form_id == NEW_TICKET_FORM and meta.get("text"):
            # one ticket per message: submitting the same message's form again is a repeat
            key = _message_key(env, meta, "new")
            return await self._submit_form(env, FormSubmission(form_id, values, meta), key=key)
        if form_id:
            return await self._submit_form(env, FormSubmission(form_id, values, meta))
        message = _dict(value.get("messagePayload"))
        if message:  # a client that skipped the dialog
            values = message_values(message)
            return await self._submit_form(
                env, FormSubmission(POST_TO_TICKET, values), key=_message_key(env, values)
            )
        return cards.dialog_message("There was nothing to post.")


def message_values(message: Json) -> dict[str, str]:
    """The posted message as the post_message form takes it: text, author, link."""
    body = _dict(message.get("body"))
    content = _str(body.get("content"))
    text = html_to_text(content) if _str(body.get("contentType")) == "html" else content.strip()
    sender = _dict(message.get("from"))
    author = _str(_dict(sender.get("user")).get("displayName")) or _str(
        _dict(sender.get("application")).get("displayName")
    )
    return {"text": text, "author": author, "permalink": _str(message.get("linkToMessage"))}


def _message_key(env: Envelope, values: dict[str, str], what_for: str = "post") -> str:
    import hashlib

    what = values.get("permalink") or values.get("text", "")
    digest = hashlib.sha256(f"{env.user.id}\n{what}".encode()).hexdigest()[:32]
    return f"teams:{what_for}:{digest}"


def _mentions(text: str) -> list[str]:
    found = []
    start = 0
    while (at := text.find(MENTION_PREFIX, start)) >= 0:
        end = text.find("|", at)
        if end < 0:
            break
        found.append(text[at + 2 : end])
        start = end
    return found


class TeamsHistory:
    """The HistoryPoster for Teams (bot/core/history.py): a proactive message into the linked
    conversation (in a channel, the linked thread), from its stored conversation reference."""

    platform = Platform.TEAMS.value

    def __init__(self, runtime: Runtime, connector: Connector) -> None:
        self.runtime = runtime
        self.connector = connector

    async def post_history(self, place: HistoryPlace, entry: Reply) -> str | None:
        async with self.runtime.store.unit() as uow:
            ref = await uow.refs.get(place.account.id, place.conversation_key)
        try:
            reference = _dict(json.loads(ref.reference)) if ref and ref.reference else {}
        except ValueError:
            reference = {}
        service_url = _str(reference.get("service_url"))
        conversation_id = _str(reference.get("conversation_id"))
        if not service_url or not conversation_id:
            log.warning("teams post-history entry has no conversation reference to go to")
            return None
        body = cards.message_activity(entry)
        return await self.connector.post(service_url, conversation_id, body)
