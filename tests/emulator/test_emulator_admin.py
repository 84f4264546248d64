"""The emulator's Exchange Online admin API: InvokeCommand for Get-CASMailbox and
Get-OrganizationConfig, app-only tokens with Exchange.ManageAsApp only, OData paging, 429."""

from __future__ import annotations

from typing import Any

import httpx
import msal
import pytest

from check_mapi.emulator import Emulator

from ..conftest import Emulators, Tls
from .emu_helpers import PASSWORD
from .idp_helpers import (
    APP_ID,
    PROBE,
    SCOPE,
    TENANT,
    RoutedSession,
    credential,
    http,
    user_token,
)

OTHER_APP = "22222222-3333-4444-5555-666666666666"


def admin_config() -> str:
    cert = credential().cert_pem
    return f'''
[server]
pending_period_ms = 50

[auth]
methods = ["basic", "bearer"]

[organization]
mapi_http_enabled = false

[identity]
tenant = "{TENANT}"

[[identity.app]]
client_id = "{APP_ID}"
certificates = [\'\'\'{cert}\'\'\']
roles = ["Exchange.ManageAsApp"]

[[identity.app]]
client_id = "{OTHER_APP}"
certificates = [\'\'\'{cert}\'\'\']

[[mailbox]]
smtp = "{PROBE}"
username = "probe"
password = "{PASSWORD}"
mapi_enabled = false
mapi_http_enabled = true
mapi_block_outlook_external_connectivity = true

[[mailbox]]
smtp = "second@contoso.test"

[[mailbox]]
smtp = "third@contoso.test"

[[mailbox]]
smtp = "throttled@contoso.test"

[[mailbox.fault]]
step = "adminapi"
http_status = 429
retry_after = 2
times = 1
'''


@pytest.fixture
def adm(start: Emulators, tls: Tls) -> Emulator:
    return start(admin_config(), tls=tls)


def app_token(emu: Emulator, tls: Tls, client_id: str = APP_ID) -> str:
    app = msal.ConfidentialClientApplication(
        client_id, client_credential=credential().msal(), authority=emu.authority,
        instance_discovery=False, http_client=RoutedSession(emu, tls))
    token: str = app.acquire_token_for_client([SCOPE])["access_token"]
    return token


def invoke(emu: Emulator, tls: Tls, token: str, cmdlet: str, url: str | None = None,
           page: int | None = None, **parameters: str) -> httpx.Response:
    headers = {"X-AnchorMailbox": f"UPN:SystemMailbox{{bb558c35}}@{TENANT}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if page:
        headers["Prefer"] = f"odata.maxpagesize={page}"
    with http(tls) as client:
        return client.post(url or f"{emu.url}/adminapi/beta/{TENANT}/InvokeCommand",
                           headers=headers, json={"CmdletInput": {
                               "CmdletName": cmdlet, "Parameters": parameters}})


def test_get_casmailbox_and_organization_config(adm: Emulator, tls: Tls) -> None:
    token = app_token(adm, tls)
    answer = invoke(adm, tls, token, "Get-CASMailbox", Identity=PROBE.upper())
    assert answer.status_code == 200
    [row] = answer.json()["value"]
    assert (row["MAPIEnabled"], row["MapiHttpEnabled"],
            row["MAPIBlockOutlookExternalConnectivity"]) == (False, True, True)
    assert "@odata.nextLink" not in answer.json()
    org = invoke(adm, tls, token, "Get-OrganizationConfig").json()["value"]
    assert org[0]["MapiHttpEnabled"] is False
    missing = invoke(adm, tls, token, "Get-CASMailbox", Identity="nobody@contoso.test")
    assert missing.status_code == 404 and "couldn't be found" in missing.json()["error"]["message"]
    unknown = invoke(adm, tls, token, "Remove-Mailbox", Identity=PROBE)
    assert unknown.status_code == 400


def test_throttling_then_success_and_paging(adm: Emulator, tls: Tls) -> None:
    token = app_token(adm, tls)
    first = invoke(adm, tls, token, "Get-CASMailbox", Identity="throttled@contoso.test")
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "2"
    assert first.headers["Rate-Limit-Remaining"] == "0"
    assert first.json()["error"]["code"] == "TooManyRequests"
    again = invoke(adm, tls, token, "Get-CASMailbox", Identity="throttled@contoso.test")
    assert again.status_code == 200 and again.json()["value"][0]["MAPIEnabled"] is True
    rows: list[dict[str, Any]] = []
    url: str | None = None
    for _ in range(10):
        body = invoke(adm, tls, token, "Get-CASMailbox", url=url, page=3).json()
        rows += body["value"]
        url = body.get("@odata.nextLink")
        if url is None:
            break
    assert [r["PrimarySmtpAddress"] for r in rows] == [
        PROBE, "second@contoso.test", "third@contoso.test", "throttled@contoso.test"]


@pytest.mark.parametrize("who", ["delegated", "no-role", "none", "garbage"])
def test_only_app_only_tokens_with_the_admin_role(adm: Emulator, tls: Tls, who: str) -> None:
    if who == "delegated":
        with http(tls) as client:
            token = user_token(client, adm)["access_token"]
        status = 403
    elif who == "no-role":
        token, status = app_token(adm, tls, OTHER_APP), 403
    else:
        token, status = ("" if who == "none" else "not.a.jwt"), 401
    answer = invoke(adm, tls, token, "Get-OrganizationConfig")
    assert answer.status_code == status
    assert answer.json()["error"]["message"]


def test_wrong_tenant_and_method(adm: Emulator, tls: Tls) -> None:
    token = app_token(adm, tls)
    other = invoke(adm, tls, token, "Get-OrganizationConfig",
                   url=f"{adm.url}/adminapi/beta/fabrikam.onmicrosoft.com/InvokeCommand")
    assert other.status_code == 404
    with http(tls) as client:
        assert client.get(f"{adm.url}/adminapi/beta/{TENANT}/InvokeCommand").status_code == 405
