"""A ticket card as a Slack Work Object: a Task entity for `chat.unfurl`'s `metadata`.

Slack's Work Objects (docs.slack.dev/messaging/work-objects-implementation) extend link
unfurls: `chat.unfurl` takes, next to the classic `unfurls` blocks, a `metadata` parameter of
`entities`, each naming the URL posted in the message (`app_unfurl_url`), the record's own URL
and id (`external_ref`), a type (`slack#/entities/task` for a ticket) and a payload of
attributes and typed fields. psabot always sends both: workspaces whose app has Work Object
previews turned on (app settings → Work Object Previews → Task) show the entity, all others
the blocks. The entity carries exactly what the card does (summary, status, company, board);
it is built with slack_sdk's own models, which check the entity type.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.metadata import (
    EntityAttributes,
    EntityCustomField,
    EntityMetadata,
    EntityPayload,
    EntityStringField,
    EntityTitle,
    ExternalRef,
    TaskEntityFields,
)

from bot.core.reply import Card

TASK = "slack#/entities/task"
PRODUCT = "ConnectWise PSA"
MAX_TITLE = 200  # characters of the entity's title kept
MAX_VALUE = 150


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def task_entity(card: Card, posted_url: str) -> dict[str, Any]:
    """The Work Object for one unfurled link (`posted_url` exactly as it was posted)."""
    facts = {fact.label: _cut(fact.value, MAX_VALUE) for fact in card.facts}
    custom: list[dict[str, Any] | EntityCustomField] = [
        EntityCustomField(label=label, key=label.lower(), type="string", value=facts[label])
        for label in ("Company", "Board")
        if label in facts
    ]
    entity = EntityMetadata(
        entity_type=TASK,
        url=card.url or posted_url,
        app_unfurl_url=posted_url,
        external_ref=ExternalRef(id=card.ref or card.url or posted_url, type="ticket"),
        entity_payload=EntityPayload(
            attributes=EntityAttributes(
                title=EntityTitle(text=_cut(card.title, MAX_TITLE)),
                display_type="Ticket",
                display_id=f"#{card.ref}" if card.ref else None,
                product_name=PRODUCT,
            ),
            fields=TaskEntityFields(status=EntityStringField(value=facts.get("Status", "—"))),
            custom_fields=custom or None,
            display_order=[
                "status",
                *(label.lower() for label in ("Company", "Board") if label in facts),
            ],
        ),
    )
    return entity.to_dict()
