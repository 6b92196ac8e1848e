"""`auth.test` for `psabot check`: is the configured bot token one Slack accepts?"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient


@dataclass(frozen=True)
class TokenCheck:
    ok: bool
    team: str = ""  # "Acme (T111)" when ok
    error: str = ""  # Slack's error code, or why Slack could not be asked


async def check_bot_token(token: str, api_url: str) -> TokenCheck:
    client = AsyncWebClient(token=token, base_url=api_url)
    try:
        auth = await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "rejected") if exc.response else "rejected"
        return TokenCheck(False, error=str(error))
    except Exception as exc:  # no answer at all: the network, not the token
        return TokenCheck(False, error=f"unreachable: {type(exc).__name__}")
    return TokenCheck(True, team=f"{auth.get('team')} ({auth.get('team_id')})")
