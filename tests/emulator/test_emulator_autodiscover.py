"""Autodiscover POX and v2 JSON: the combination table of "Configure MAPI over HTTP in
Exchange Server" (shared/seeds/000), redirects and Autodiscover errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest

from check_mapi.emulator import Emulator

from ..conftest import Emulators
from ..seed_tables import TABLE_2
from .emu_helpers import BASE_CONFIG, PASSWORD, TIMEOUT, VECTORS, client, emu

__all__ = ["emu"]

A = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
OUT = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>{schema}</AcceptableResponseSchema>
  </Request>
</Autodiscover>"""
SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

# (organization, mailbox MapiHttpEnabled, MapiBlockOutlookExternalConnectivity) -> result,
# row by row as in the seed's table.
PS = {"$true": True, "$false": False, "$null": None}
TABLE = [(PS[org], PS[mailbox], PS[block], result) for org, mailbox, block, result in TABLE_2]
MAILBOX_SETTINGS = {None: "", True: "mapi_http_enabled = true",
                    False: "mapi_http_enabled = false"}


def address(mailbox: bool | None, block: bool) -> str:
    return f"m-{str(mailbox).lower()}-{str(block).lower()}@contoso.test"


def table_config(org: bool) -> str:
    parts = ['[server]\ninternal_url = "https://mail.contoso.local"\n'
             'external_url = "https://mail.contoso.test"\n',
             f"[organization]\nmapi_http_enabled = {str(org).lower()}\n"]
    for mailbox in (None, True, False):
        for block in (False, True):
            parts.append(f'[[mailbox]]\nsmtp = "{address(mailbox, block)}"\n'
                         f'password = "{PASSWORD}"\n{MAILBOX_SETTINGS[mailbox]}\n'
                         f"mapi_block_outlook_external_connectivity = {str(block).lower()}\n")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def organizations() -> Iterator[dict[bool, Emulator]]:
    with Emulators() as start:
        yield {org: start(table_config(org)) for org in (True, False)}


def discover(emulator: Emulator, smtp: str, user: str | None = None, schema: str = SCHEMA,
             **headers: str) -> httpx.Response:
    with client(user or smtp, PASSWORD) as http:
        return http.post(emulator.autodiscover_url, content=REQUEST.format(
            address=smtp, schema=schema).encode(), headers={
            "Content-Type": "text/xml", **{k.replace("_", "-"): v for k, v in headers.items()}})


def summary(response: httpx.Response) -> str:
    """The seed table's words for what a response advertises."""
    account = ET.fromstring(response.content).find(f"{OUT}Response/{OUT}Account")
    assert account is not None
    protocols = account.findall(f"{OUT}Protocol")
    mapi = [p for p in protocols if p.get("Type") == "mapiHttp"]
    kinds = [p.findtext(f"{OUT}Type") for p in protocols]
    if mapi:
        assert "EXCH" not in kinds and "EXPR" not in kinds  # [MS-OXDSCLI] 3.2.5.1
        store = mapi[0].find(f"{OUT}MailStore")
        assert store is not None
        external = store.find(f"{OUT}ExternalUrl") is not None
        assert store.find(f"{OUT}InternalUrl") is not None
        return "MAPI over HTTP, " + ("internal and external" if external else "internal only")
    assert "EXCH" in kinds
    return "Outlook Anywhere, " + ("internal and external" if "EXPR" in kinds
                                   else "internal only")


@pytest.mark.parametrize(("org", "mailbox", "block", "result"), TABLE)
def test_combination_table(organizations: dict[bool, Emulator], org: bool,
                           mailbox: bool | None, block: bool, result: str) -> None:
    response = discover(organizations[org], address(mailbox, block), X_MapiHttpCapability="1")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert summary(response) == result


@pytest.mark.parametrize("value", [None, "0", "-1", "one", "1.5"])
def test_no_mapi_http_without_a_positive_capability(organizations: dict[bool, Emulator],
                                                    value: str | None) -> None:
    extra = {} if value is None else {"X_MapiHttpCapability": value}
    response = discover(organizations[True], address(None, False), **extra)
    assert summary(response) == "Outlook Anywhere, internal and external"
    assert summary(discover(organizations[True], address(None, False),
                            X_MapiHttpCapability="2")).startswith("MAPI over HTTP")


def test_mapi_http_urls_and_user(organizations: dict[bool, Emulator]) -> None:
    emulator = organizations[True]
    smtp = address(None, False)
    mailbox = emulator.config.by_smtp(smtp)
    assert mailbox is not None
    root = ET.fromstring(discover(emulator, smtp, X_MapiHttpCapability="1").content)
    user = root.find(f"{OUT}Response/{OUT}User")
    assert user is not None
    assert user.findtext(f"{OUT}LegacyDN") == mailbox.legacy_dn
    assert user.findtext(f"{OUT}AutoDiscoverSMTPAddress") == smtp
    store = root.find(f"{OUT}Response/{OUT}Account/{OUT}Protocol[@Type='mapiHttp']")
    assert store is not None and store.get("Version") == "1"
    query = f"?MailboxId={mailbox.guid}@contoso.test"
    assert [(e.tag.removeprefix(OUT), e.text) for e in store.iter() if e.text and e.text.strip()
            ] == [("InternalUrl", f"https://mail.contoso.local/mapi/emsmdb/{query}"),
                  ("ExternalUrl", f"https://mail.contoso.test/mapi/emsmdb/{query}"),
                  ("InternalUrl", f"https://mail.contoso.local/mapi/nspi/{query}"),
                  ("ExternalUrl", f"https://mail.contoso.test/mapi/nspi/{query}")]


def structure(element: ET.Element) -> list[str]:
    return [e.tag.split("}")[1] for e in element.iter()]


def test_internal_only_block_has_the_shape_of_the_spec_example(
        organizations: dict[bool, Emulator]) -> None:
    spec = ET.parse(VECTORS / "autodiscover" / "ms-oxdscli-4.4-mapihttp-response.xml")
    expected = spec.getroot().find(f"{OUT}Response/{OUT}Account/{OUT}Protocol[@Type='mapiHttp']")
    response = discover(organizations[True], address(None, True), X_MapiHttpCapability="1")
    got = ET.fromstring(response.content).find(
        f"{OUT}Response/{OUT}Account/{OUT}Protocol[@Type='mapiHttp']")
    assert expected is not None and got is not None
    assert structure(got) == structure(expected)
    assert got.attrib == expected.attrib


def test_outlook_anywhere_blocks(organizations: dict[bool, Emulator]) -> None:
    response = discover(organizations[False], address(None, False),
                        X_ClientCanHandle="Negotiate,ExHttpInfo")
    account = ET.fromstring(response.content).find(f"{OUT}Response/{OUT}Account")
    assert account is not None
    blocks = {p.findtext(f"{OUT}Type"): p for p in account.findall(f"{OUT}Protocol")}
    assert set(blocks) == {"EXCH", "EXPR", "EXHTTP", "WEB"}
    assert blocks["EXPR"].findtext(f"{OUT}Server") == "mail.contoso.test"
    assert blocks["EXPR"].findtext(f"{OUT}AuthPackage") == "Negotiate"
    assert blocks["EXPR"].findtext(f"{OUT}SSL") == "On"
    mailbox = organizations[False].config.by_smtp(address(None, False))
    assert mailbox is not None
    assert blocks["EXCH"].findtext(f"{OUT}Server") == mailbox.mailbox_id
    exhttp = [p for p in account.findall(f"{OUT}Protocol") if p.findtext(f"{OUT}Type") == "EXHTTP"]
    assert [p.findtext(f"{OUT}Server") for p in exhttp] == ["mail.contoso.local",
                                                           "mail.contoso.test"]
    plain = discover(organizations[False], address(None, False))
    assert b"<Type>EXHTTP</Type>" not in plain.content
    assert b"<AuthPackage>Ntlm</AuthPackage>" in plain.content


def test_redirects_and_unknown_addresses(start: Emulators) -> None:
    emulator = start(BASE_CONFIG + '''
[[mailbox]]
smtp = "moved@contoso.test"
password = "Moved-1"
redirect_addr = "probe@contoso.mail.onmicrosoft.com"

[[mailbox]]
smtp = "elsewhere@contoso.test"
password = "Elsewhere-1"
redirect_url = "https://autodiscover.contoso.test/autodiscover/autodiscover.xml"
''')
    moved = ET.fromstring(discover(emulator, "moved@contoso.test", "probe").content)
    account = moved.find(f"{OUT}Response/{OUT}Account")
    assert account is not None
    assert account.findtext(f"{OUT}Action") == "redirectAddr"
    assert account.findtext(f"{OUT}RedirectAddr") == "probe@contoso.mail.onmicrosoft.com"
    url = ET.fromstring(discover(emulator, "elsewhere@contoso.test", "probe").content)
    assert url.findtext(f"{OUT}Response/{OUT}Account/{OUT}Action") == "redirectUrl"
    assert url.findtext(f"{OUT}Response/{OUT}Account/{OUT}RedirectUrl") == (
        "https://autodiscover.contoso.test/autodiscover/autodiscover.xml")
    unknown = ET.fromstring(discover(emulator, "nobody@contoso.test", "probe").content)
    error = unknown.find(f"{OUT}Response/{OUT}Error")
    assert error is not None
    assert error.findtext(f"{OUT}ErrorCode") == "500"
    assert error.findtext(f"{OUT}Message") == "The e-mail address cannot be found."


def error_code(response: httpx.Response) -> str | None:
    return ET.fromstring(response.content).findtext(f"{A}Response/{A}Error/{A}ErrorCode")


@pytest.mark.parametrize(("body", "code"), [
    (b"", "600"),
    (b"<Autodiscover><Request/></Autodiscover>", "600"),
    (b"not xml at all", "600"),
    (REQUEST.format(address="", schema=SCHEMA).encode(), "600"),
    (REQUEST.format(address="probe@contoso.test",
                    schema="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/"
                    "responseschema/2006").encode(), "601"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "probe@contoso.test">]>'
     b'<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/'
     b'requestschema/2006"><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>',
     "600"),
])
def test_invalid_requests(emu: Emulator, body: bytes, code: str) -> None:
    with client() as http:
        response = http.post(emu.autodiscover_url, content=body)
        assert response.status_code == 200
        assert error_code(response) == code


def test_get_is_an_invalid_request(emu: Emulator) -> None:
    with client() as http:
        assert error_code(http.get(emu.autodiscover_url)) == "600"


def test_legacy_dn_request(emu: Emulator) -> None:
    mailbox = emu.config.by_smtp("probe@contoso.test")
    assert mailbox is not None
    body = REQUEST.replace("EMailAddress", "LegacyDN").format(address=mailbox.legacy_dn,
                                                               schema=SCHEMA)
    with client() as http:
        response = http.post(emu.autodiscover_url, content=body.encode())
    assert b"<AutoDiscoverSMTPAddress>probe@contoso.test</AutoDiscoverSMTPAddress>" in (
        response.content)


def test_v2_json(emu: Emulator) -> None:
    with httpx.Client(timeout=TIMEOUT) as http:  # anonymous, as on Exchange Online
        base = f"{emu.url}/autodiscover/autodiscover.json"
        ok = http.get(f"{base}/v1.0/probe@contoso.test", params={"Protocol": "AutodiscoverV1"})
        assert ok.status_code == 200
        assert ok.headers["Content-Type"] == "application/json; charset=utf-8"
        assert ok.json() == {"Protocol": "AutodiscoverV1",
                             "Url": f"{emu.url}/autodiscover/autodiscover.xml"}
        old = http.get(base, params={"Email": "probe@contoso.test", "Protocol": "ews"})
        assert old.json() == {"Protocol": "Ews", "Url": f"{emu.url}/EWS/Exchange.asmx"}
        missing = http.get(f"{base}/v1.0/probe@contoso.test")
        assert (missing.status_code, missing.json()["ErrorCode"]) == (
            400, "MandatoryParameterMissing")
        bad = http.get(f"{base}/v1.0/probe@contoso.test", params={"Protocol": "MapiHttp"})
        assert (bad.status_code, bad.json()["ErrorCode"]) == (400, "ProtocolNotSupported")
    assert emu.stats().requests == {"autodiscover_json": 4}
    assert emu.stats().auth_challenges == 0
