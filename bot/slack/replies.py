"""Getting a Reply in front of the user: response_url first, the chat API as a fallback, forms
as modals.

A response_url may be used five times in 30 minutes, so progress messages are limited to what
leaves room for the outcome; if it is used up or fails, the reply goes by chat.postEphemeral
(or chat.postMessage for the channel). Forms open first, while the trigger_id is fresh.

A response_url comes inside the request, so it is only POSTed to when it points at Slack:
https on hooks.slack.com, or exactly the scheme, host and port of SLACK_API_URL when that is
overridden (a local fake Slack). Any other URL is dropped with one log line and the reply goes
by the chat API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.core.reply import Form, Reply, Visibility
from bot.slack import blocks
from bot.slack.metadata import MetadataCodec, ModalContext

log = logging.getLogger(__name__)

RESPONSE_URL_USES = 5
SLACK_HOOKS = ("https", "hooks.slack.com", 443)
DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port out of range or not a number
        return None
    if not host or port is None or parts.username is not None or parts.password is not None:
        return None
    return scheme, host, port


def response_url_allowed(url: str, api_url: str) -> bool:
    """Only Slack's hooks host, or the overridden Web API origin, may receive a reply."""
    origin = _origin(url)
    if origin is None:
        return False
    if origin == SLACK_HOOKS:
        return True
    return api_url.rstrip("/") != DEFAULT_API_URL.rstrip("/") and origin == _origin(api_url)


@dataclass
class ReplyTarget:
    """Where a request's answers go: its workspace, user, conversation and response channels."""

    team_id: str
    user_id: str
    client: AsyncWebClient
    channel_id: str = ""
    thread_ts: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None
    used: int = field(default=0)  # response_url posts so far


class Responder:
    def __init__(self, metadata: MetadataCodec) -> None:
        self.metadata = metadata
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def modal_context(self, target: ReplyTarget, form: Form) -> str:
        self._check_response_url(target)  # never carried into a modal's metadata
        return self.metadata.encode(
            ModalContext(
                channel_id=target.channel_id,
                thread_ts=target.thread_ts,
                response_url=target.response_url,
                sources={f.name: f.source for f in form.fields if f.source},
                form=dict(form.metadata),
            )
        )

    async def deliver(self, target: ReplyTarget, reply: Reply) -> None:
        """A form opens as a modal (first: its trigger_id expires), the rest is posted."""
        if reply.form is not None:
            await self.open_form(target, reply.form)
            if reply.text:
                await self.post(target, Reply(text=reply.text, tone=reply.tone))
            return
        await self.post(target, reply)

    async def open_form(self, target: ReplyTarget, form: Form) -> None:
        if not target.trigger_id:
            await self.post(target, Reply.warning("Run the command again to open the form."))
            return
        try:
            await target.client.views_open(
                trigger_id=target.trigger_id,
                view=blocks.form_view(form, self.modal_context(target, form)),
            )
        except SlackApiError as exc:
            log.warning("views.open failed error=%s", exc.response.get("error"))
            await self.post(
                target, Reply.warning("Slack did not let me open the form in time; run it again.")
            )

    async def progress(self, target: ReplyTarget, text: str) -> None:
        """A progress line, only while the response_url keeps two uses for the outcome."""
        self._check_response_url(target)
        if target.response_url and target.used < RESPONSE_URL_USES - 2:
            await self.post(target, Reply(text=f":hourglass_flowing_sand: {text}"))

    def _check_response_url(self, target: ReplyTarget) -> None:
        url = target.response_url
        if url and not response_url_allowed(url, str(target.client.base_url)):
            log.warning(
                "response_url is not Slack's (host=%r); replying by the chat API",
                (_origin(url) or ("", "?", 0))[1][:100],
            )
            target.response_url = None  # once per request: later replies go straight there

    async def post(self, target: ReplyTarget, reply: Reply) -> None:
        text, body = blocks.reply_blocks(reply)
        in_channel = reply.visibility is Visibility.CHANNEL
        self._check_response_url(target)
        if target.response_url and target.used < RESPONSE_URL_USES:
            target.used += 1
            try:
                response = await AsyncWebhookClient(
                    target.response_url, session=self._session()
                ).send(
                    text=text,
                    blocks=body,
                    response_type="in_channel" if in_channel else "ephemeral",
                    replace_original=False,
                )
                if response.status_code < 300:
                    return
                log.warning("response_url answered %s; using the chat API", response.status_code)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("response_url failed (%s); using the chat API", type(exc).__name__)
        if not target.channel_id:
            log.warning("no way left to reply user=%s", target.user_id)
            return
        try:
            if in_channel:
                await target.client.chat_postMessage(
                    channel=target.channel_id, thread_ts=target.thread_ts, text=text, blocks=body
                )
            else:
                await target.client.chat_postEphemeral(
                    channel=target.channel_id,
                    user=target.user_id,
                    thread_ts=target.thread_ts,
                    text=text,
                    blocks=body,
                )
        except SlackApiError as exc:
            log.warning("could not post a reply error=%s", exc.response.get("error"))
