"""Whether a conversation is shared with another organisation.

Two features must behave differently in a channel that people outside the MSP can read (a
Slack Connect channel, a Teams shared channel): ticket unfurls are refused there unless an owner
allows them for that channel, and updates flowing back from ConnectWise never carry internal
notes there. The core asks the transport that owns the conversation; each transport answers from
what its platform says (and may cache the answer for a bounded time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class SharingProbe(Protocol):
    """What a transport provides so the core can tell an external audience from an internal one."""

    platform: str

    async def shared_externally(self, account_external_id: str, channel_id: str) -> bool:
        """True when people of another organisation can read `channel_id` in the workspace or
        tenant `account_external_id`. When the platform cannot be asked, answer True: the
        safe side is to treat the audience as external."""


async def shared_externally(
    probes: Mapping[str, SharingProbe], platform: str, account_external_id: str, channel_id: str
) -> bool:
    """Ask the probe of `platform` (`Services.sharing`); a platform without one (not
    configured, or not started yet) counts as shared: the safe side."""
    probe = probes.get(platform)
    if probe is None:
        return True
    return await probe.shared_externally(account_external_id, channel_id)
