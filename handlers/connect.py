"""connect / settings / disconnect: the account's ConnectWise connection (owners only)."""

from __future__ import annotations

from bot.core.connections import Connections
from bot.core.context import Request
from bot.core.errors import NotOwner, field_errors_for, message_for
from bot.core.invocation import FormSubmission
from bot.core.reply import (
    Button,
    ButtonStyle,
    Card,
    Fact,
    FieldKind,
    Form,
    FormField,
    Reply,
)
from bot.core.router import Router
from handlers.common import when
from psa.errors import PSAError
from psa.types import ConnectionCheck, ConnectionSettings
from storage.models import PsaConnection

router = Router("connect")

FORM_ID = "connect"


def connect_form(request: Request, existing: PsaConnection | None) -> Form:
    keep = " Leave empty to keep the current key ({})."
    default_client = request.services.default_client_id or ""
    return Form(
        form_id=FORM_ID,
        title="Connect ConnectWise" if existing is None else "Edit ConnectWise",
        submit_label="Test and save",
        intro=(
            "Use an API member's keys (System > Members > API Members). The connection is "
            "tested before it is saved; keys are stored encrypted and never shown again."
        ),
        fields=(
            FormField(
                "site",
                "Site",
                initial=existing.site if existing else "",
                placeholder="na.myconnectwise.net",
                hint="The host you log in to ConnectWise at.",
            ),
            FormField(
                "company_id",
                "Company id",
                initial=existing.company_id if existing else "",
                placeholder="yourcompany",
                hint="The company you enter on the ConnectWise login page.",
            ),
            FormField(
                "public_key",
                "Public key",
                kind=FieldKind.SECRET,
                required=existing is None,
                hint=keep.format(existing.public_key_hint).strip() if existing else "",
            ),
            FormField(
                "private_key",
                "Private key",
                kind=FieldKind.SECRET,
                required=existing is None,
                hint=keep.format(existing.private_key_hint).strip() if existing else "",
            ),
            FormField(
                "client_id",
                "Client id",
                initial=existing.client_id if existing else default_client,
                placeholder="a GUID from developer.connectwise.com",
                hint="Your integration's clientId from the ConnectWise developer portal.",
            ),
        ),
    )


async def _may_connect(request: Request) -> bool:
    return await request.is_owner() or await request.may_bootstrap()


def _connections(request: Request) -> Connections:
    return Connections(request.services)


async def _existing(request: Request) -> PsaConnection | None:
    return await _connections(request).get(request.account.id)


@router.command("connect", usage="connect")
async def connect(request: Request) -> Reply:
    """Connect this workspace to ConnectWise (owners)."""
    if not await _may_connect(request):
        raise NotOwner("connect ConnectWise")
    return Reply.show_form(connect_form(request, await _existing(request)))


@router.form(FORM_ID)
async def submit_connect(request: Request) -> Reply:
    """Test the submitted credentials, then save them encrypted."""
    if not await _may_connect(request):
        raise NotOwner("connect ConnectWise")
    assert isinstance(request.invocation.action, FormSubmission)
    values = {k: (v or "").strip() for k, v in request.invocation.action.values.items()}
    existing = await _existing(request)
    form = connect_form(request, existing)
    errors: dict[str, str] = {}
    for field in form.fields:
        if field.required and not values.get(field.name):
            errors[field.name] = f"{field.label} is required."
    if errors:
        return Reply.show_form(form.with_errors(errors, **values))
    public_key, private_key = values.get("public_key", ""), values.get("private_key", "")
    moved = existing is not None and (
        values["site"] != existing.site or values["company_id"] != existing.company_id
    )
    if moved and (not public_key or not private_key):
        # Stored keys only ever go back to the site and company they were entered for.
        again = "Enter the keys again: the site or company changed."
        errors = {name: again for name in ("public_key", "private_key") if not values.get(name)}
        return Reply.show_form(form.with_errors(errors, **values))
    connections = _connections(request)
    if existing is not None and (not public_key or not private_key):
        current = await connections.stored_settings(existing)
        public_key = public_key or current.public_key
        private_key = private_key or current.private_key
    settings = ConnectionSettings(
        provider="connectwise",
        site=values["site"],
        company_id=values["company_id"],
        public_key=public_key,
        private_key=private_key,
        client_id=values["client_id"],
    )
    try:
        check = await connections.test(request.account.id, settings, request.progress)
    except PSAError as exc:
        return Reply.show_form(form.with_errors(field_errors_for(exc), **values))
    row = await connections.save(request.account.id, settings, request.user)
    request.refresh()
    verb = "Connected" if existing is None else "Updated the connection"
    return Reply.success(
        f"{verb}: ConnectWise company {check.company_name} is reachable and the keys work.",
        settings_card(row, check, owner=True),
    )


def settings_card(row: PsaConnection, check: ConnectionCheck | None, *, owner: bool) -> Card:
    facts = [
        Fact("Site", row.site),
        Fact("Company id", row.company_id),
        Fact("Public key", row.public_key_hint),
        Fact("Private key", row.private_key_hint),
        Fact("Client id", row.client_id),
        Fact("Last validated", when(row.last_validated_at)),
    ]
    if check is not None and check.version:
        facts.append(Fact("ConnectWise version", check.version))
    if row.last_validation_error:
        facts.append(Fact("Last test failed", row.last_validation_error))
    buttons: tuple[Button, ...] = ()
    if owner:
        buttons = (
            Button("Test", action_id="connection_test", style=ButtonStyle.PRIMARY),
            Button("Edit", action_id="connection_edit"),
            Button("Disconnect", action_id="connection_disconnect", style=ButtonStyle.DANGER),
        )
    return Card(title="ConnectWise connection", facts=tuple(facts), buttons=buttons)


@router.command("settings", usage="settings")
async def show_settings(request: Request) -> Reply:
    """Show the ConnectWise connection (keys masked)."""
    row = await _existing(request)
    if row is None:
        return Reply.info(
            "Not connected to ConnectWise yet. An owner can connect with `{cmd} connect`."
        )
    return Reply.info("", settings_card(row, None, owner=await request.is_owner()))


@router.action("connection_test")
async def test_connection(request: Request) -> Reply:
    """Re-test the stored connection."""
    await request.require_owner("test the connection")
    row = await _existing(request)
    if row is None:
        return Reply.warning("Not connected any more. Connect with `{cmd} connect`.")
    tested = await _connections(request).retest(row, request.progress)
    if tested.error is not None:
        return Reply.error(
            f"The test failed: {message_for(tested.error)}",
            settings_card(tested.row, None, owner=True),
        )
    assert tested.check is not None
    return Reply.success(
        f"The connection works (ConnectWise company {tested.check.company_name}).",
        settings_card(tested.row, tested.check, owner=True),
    )


@router.action("connection_edit")
async def edit_connection(request: Request) -> Reply:
    """Open the connection form to change settings or keys."""
    await request.require_owner("edit the connection")
    return Reply.show_form(connect_form(request, await _existing(request)))


@router.command("disconnect", usage="disconnect")
async def disconnect(request: Request) -> Reply:
    """Disconnect ConnectWise and forget the keys (owners; asks to confirm)."""
    await request.require_owner("disconnect ConnectWise")
    return await _confirm_disconnect(request)


@router.action("connection_disconnect")
async def disconnect_button(request: Request) -> Reply:
    """Ask to confirm disconnecting."""
    await request.require_owner("disconnect ConnectWise")
    return await _confirm_disconnect(request)


async def _confirm_disconnect(request: Request) -> Reply:
    row = await _existing(request)
    if row is None:
        return Reply.info("Not connected to ConnectWise; nothing to disconnect.")
    return Reply.warning(
        "",
        Card(
            title="Disconnect ConnectWise?",
            text=(
                f"This deletes the stored keys for {row.company_id} at {row.site}. Links, "
                "mappings and post history stay; nobody can post until an owner connects again."
            ),
            buttons=(
                Button("Disconnect", action_id="disconnect_confirm", style=ButtonStyle.DANGER),
                Button("Cancel", action_id="disconnect_cancel"),
            ),
        ),
    )


@router.action("disconnect_confirm")
async def disconnect_confirmed(request: Request) -> Reply:
    """Delete the stored connection."""
    await request.require_owner("disconnect ConnectWise")
    deleted = await _connections(request).disconnect(request.account.id)
    request.refresh()
    if not deleted:
        return Reply.info("Already disconnected.")
    return Reply.success("Disconnected from ConnectWise; the keys were deleted.")


@router.action("disconnect_cancel")
async def disconnect_cancelled(request: Request) -> Reply:
    """Keep the connection."""
    return Reply.info("Kept the ConnectWise connection.")
