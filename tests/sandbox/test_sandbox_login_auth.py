"""Sandbox: companyinfo, codebase routing, authentication and member rights."""

from __future__ import annotations

import pytest

from psa.connectwise.sandbox import SandboxServer

from .helpers import RESTRICTED_AUTH, CWClient, basic

NOT_ROUTED = "Cannot route. Codebase/company is invalid"


async def test_companyinfo_names_the_codebase_without_auth(cw: CWClient) -> None:
    reply = await cw.get(
        "", url=f"{cw.server.url}/login/companyinfo/psabot", auth=None, client_id=None
    )

    assert reply.status == 200
    assert reply.body == {
        "CompanyName": "Psabot Demo MSP",
        "Codebase": "v2025_1/",
        "VersionCode": "v2025.1",
        "VersionNumber": reply.body["VersionNumber"],
        "CompanyID": "psabot",
        "IsCloud": True,
    }
    assert reply.body["VersionNumber"].startswith("v4.6.")
    assert reply.headers["Content-Type"].startswith("application/json")


async def test_companyinfo_ignores_the_case_of_the_company_id(cw: CWClient) -> None:
    reply = await cw.get("", url=f"{cw.server.url}/login/companyinfo/PSABOT", auth=None)

    assert reply.body["CompanyID"] == "psabot"


async def test_unknown_company_gets_json_null_with_200(cw: CWClient) -> None:
    reply = await cw.get("", url=f"{cw.server.url}/login/companyinfo/contoso", auth=None)

    assert reply.status == 200
    assert reply.text == "null"
    assert reply.body is None


async def test_api_is_served_under_the_codebase_from_companyinfo(cw: CWClient) -> None:
    info = await cw.get("", url=f"{cw.server.url}/login/companyinfo/psabot", auth=None)

    reply = await cw.get("", url=f"{cw.server.url}/{info.body['Codebase']}apis/3.0/system/info")

    assert reply.status == 200
    assert reply.body["isCloud"] is True


@pytest.mark.parametrize("codebase", ["v4_6_release", "v2024_1", "nonsense"])
async def test_other_codebase_gets_plain_text_404(cw: CWClient, codebase: str) -> None:
    reply = await cw.get("", url=f"{cw.server.url}/{codebase}/apis/3.0/service/tickets")

    assert reply.status == 404
    assert reply.text == NOT_ROUTED
    assert reply.headers["Content-Type"].startswith("text/plain")


async def test_path_outside_the_api_gets_plain_text_404(cw: CWClient) -> None:
    reply = await cw.get("", url=f"{cw.server.url}/apis/3.0/service/tickets")

    assert reply.status == 404
    assert reply.text == NOT_ROUTED


@pytest.mark.parametrize("path", ["/login/companyinfo/", "/login/companyinfo/psabot/x"])
async def test_malformed_companyinfo_path_gets_plain_text_404(cw: CWClient, path: str) -> None:
    reply = await cw.get("", url=cw.server.url + path, auth=None)

    assert reply.status == 404
    assert reply.text == NOT_ROUTED


async def test_unknown_resource_under_the_api_gets_json_404(cw: CWClient) -> None:
    reply = await cw.get("/service/widgets")

    assert reply.status == 404
    assert reply.body["code"] == "NotFound"


async def test_unsupported_method_gets_405(cw: CWClient) -> None:
    reply = await cw.request("DELETE", "/service/tickets/48213")

    assert reply.status == 405
    assert reply.body["code"] == "MethodNotAllowed"
    assert 48213 in cw.server.state.tickets


@pytest.mark.parametrize(
    "auth",
    [
        basic("psabot+sandbox-public", "wrong-private"),
        basic("psabot+unknown-public", "sandbox-private"),
        basic("othercompany+sandbox-public", "sandbox-private"),
        basic("sandbox-public", "sandbox-private"),
        "Bearer sandbox-private",
        "Basic not-base64!",
        None,
    ],
    ids=[
        "wrong-private",
        "wrong-public",
        "wrong-company",
        "no-company",
        "bearer",
        "garbage",
        "missing",
    ],
)
async def test_bad_credentials_get_401(cw: CWClient, auth: str | None) -> None:
    reply = await cw.get("/service/tickets", auth=auth)

    assert reply.status == 401
    assert reply.body == {
        "code": "Unauthorized",
        "message": "Authorization has been denied for this request.",
    }


async def test_company_id_in_credentials_is_case_insensitive(cw: CWClient) -> None:
    reply = await cw.get("/system/info", auth=basic("PsaBot+sandbox-public", "sandbox-private"))

    assert reply.status == 200


async def test_missing_client_id_gets_401_that_says_so(cw: CWClient) -> None:
    reply = await cw.get("/service/tickets", client_id=None)

    assert reply.status == 401
    assert reply.body["code"] == "Unauthorized"
    assert "clientId" in reply.body["message"]


async def test_client_id_allow_list_rejects_unknown_ids(cw: CWClient) -> None:
    server = SandboxServer(client_ids={"registered-id"})
    await server.start()
    try:
        rejected = await cw.get("", url=server.api_url + "/system/info", client_id="other")
        accepted = await cw.get("", url=server.api_url + "/system/info", client_id="registered-id")
    finally:
        await server.stop()

    assert rejected.status == 401
    assert accepted.status == 200


async def test_restricted_member_may_read_system_info_only(cw: CWClient) -> None:
    info = await cw.get("/system/info", auth=RESTRICTED_AUTH)
    tickets = await cw.get("/service/tickets", auth=RESTRICTED_AUTH)
    members = await cw.get("/system/members", auth=RESTRICTED_AUTH)
    note = await cw.post(
        "/service/tickets/48213/notes",
        {"text": "hello", "internalAnalysisFlag": True},
        auth=RESTRICTED_AUTH,
    )

    assert info.status == 200
    assert [tickets.status, members.status, note.status] == [403, 403, 403]
    assert tickets.body["code"] == "Forbidden"
    assert len(cw.server.state.notes_for(48213)) == 2


async def test_responses_are_json_whatever_the_versioned_accept_header(cw: CWClient) -> None:
    reply = await cw.get("/service/tickets/48213")

    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"


async def test_custom_company_and_keys() -> None:
    from psa.connectwise.sandbox import ApiKey

    server = SandboxServer(
        company_id="acme",
        company_name="Acme IT",
        api_keys=[ApiKey("pub", "priv", "PsabotAPI")],
    )
    assert server.credentials.company_id == "acme"
    assert server.credentials.public_key == "pub"
    with pytest.raises(ValueError, match="unknown member"):
        SandboxServer(api_keys=[ApiKey("pub", "priv", "nobody")])
