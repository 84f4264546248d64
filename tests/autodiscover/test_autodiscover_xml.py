"""POX and v2 parsing: the published samples, what the probe reads from them, and the
documents an attacker or a broken server might send."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from check_mapi.autodiscover.pox import (
    AutodiscoverError,
    MapiHttpUrls,
    Offer,
    PoxAnswer,
    parse_pox,
    parse_v2,
    parse_xml,
    pox_headers,
    pox_request,
)
from check_mapi.emulator.autodiscover import error_document
from check_mapi.resolver import Protocol

VECTORS = Path(__file__).parent.parent / "vectors" / "autodiscover"
OUTER = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
INNER = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


def document(account: str, user: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{OUTER}">'
            f'<Response xmlns="{INNER}"><User>{user}</User><Account>{account}</Account>'
            f"</Response></Autodiscover>").encode()


def test_spec_example_4_4() -> None:
    answer = parse_pox((VECTORS / "ms-oxdscli-4.4-mapihttp-response.xml").read_bytes())
    guid = "416c6368-656d-794a-6f45-57615272456e@Contoso.com"
    assert answer == PoxAnswer(
        action="settings", redirect=None, display_name="User Display Name",
        legacy_dn="/o=microsoft/ou=Contoso/cn=Recipients/cn=486021", smtp="user@Contoso.com",
        mapi_http=MapiHttpUrls("1", f"https://mail.Contoso.com/mapi/emsmdb/?MailboxId={guid}",
                               None, f"https://mail.Contoso.com/mapi/nspi/?MailboxId={guid}",
                               None),
        legacy=(), microsoft_online=None)
    # the WEB block nests EXCH/EXPR protocols (OWA/EWS): they are not Outlook Anywhere
    assert answer.offer == Offer(Protocol.MAPI_HTTP, internal=True, external=False)
    assert answer.offer.text == "MAPI over HTTP (internal only)"


def test_real_exchange_2016_answer() -> None:
    raw = (VECTORS / "real-onprem-exchange-2016-mapihttp-response.anonymized.xml").read_bytes()
    answer = parse_pox(raw)
    guid = "11111111-2222-4333-8444-555555555555@example.com"
    assert answer.display_name == "Probeuser"
    assert answer.legacy_dn == ("/o=Example Exchange Org/ou=Exchange Administrative Group "
                                "(FYDIBOHF23SPDLT)/cn=Recipients/cn=probeuser 00000001")
    assert answer.smtp == "probeuser@example.com"
    assert answer.microsoft_online is False
    assert answer.mapi_http == MapiHttpUrls(
        "1", f"https://imail57.mail.example.com/mapi/emsmdb/?MailboxId={guid}", None,
        f"https://imail57.mail.example.com/mapi/nspi/?MailboxId={guid}", None)
    assert answer.legacy == ("EXHTTP",)  # next to mapiHttp on Exchange 2016
    assert answer.offer == Offer(Protocol.MAPI_HTTP, internal=True, external=False)


def test_request_matches_rulers() -> None:
    """Same elements and values as the request ruler sends (vector), and the headers."""
    ours = ET.fromstring(pox_request("probe@contoso.test"))
    theirs = ET.fromstring((VECTORS / "ruler-request-with-X-MapiHttpCapability.xml").read_bytes())
    assert [(e.tag, (e.text or "").strip()) for e in ours.iter()] == [
        (e.tag, (e.text or "").strip()) for e in theirs.iter()]
    assert pox_request("a&b@contoso.test").count(b"a&amp;b@contoso.test") == 1
    assert pox_headers("probe@contoso.test") == [
        ("Content-Type", "text/xml; charset=utf-8"), ("X-MapiHttpCapability", "1"),
        ("X-AnchorMailbox", "probe@contoso.test"),
        ("X-ClientCanHandle", "Negotiate, ExHttpInfo")]


@pytest.mark.parametrize(("blocks", "offer"), [
    ("<Protocol><Type>EXCH</Type></Protocol><Protocol><Type>EXPR</Type></Protocol>",
     Offer(Protocol.OUTLOOK_ANYWHERE, internal=True, external=True)),
    ("<Protocol><Type>EXCH</Type></Protocol>",
     Offer(Protocol.OUTLOOK_ANYWHERE, internal=True, external=False)),
    ("<Protocol><Type>exhttp</Type></Protocol>",
     Offer(Protocol.OUTLOOK_ANYWHERE, internal=True, external=False)),
    ("<Protocol><Type>WEB</Type><External><Protocol><Type>EXPR</Type></Protocol></External>"
     "</Protocol>", Offer(None, internal=False, external=False)),
    ('<Protocol Type="mapiHttp" Version="1"><MailStore><ExternalUrl>https://x/mapi/emsmdb/'
     "</ExternalUrl></MailStore></Protocol>",
     Offer(Protocol.MAPI_HTTP, internal=False, external=True)),
])
def test_offer(blocks: str, offer: Offer) -> None:
    assert parse_pox(document(blocks)).offer == offer


def test_offer_texts() -> None:
    assert Offer(Protocol.OUTLOOK_ANYWHERE, True, True).text == (
        "Outlook Anywhere (internal and external)")
    assert Offer(None, False, False).text == "neither MAPI over HTTP nor Outlook Anywhere"


def test_redirects_and_microsoft_online() -> None:
    addr = parse_pox(document("<Action>redirectAddr</Action><RedirectAddr>p@t.mail."
                              "onmicrosoft.com</RedirectAddr><MicrosoftOnline>True"
                              "</MicrosoftOnline>"))
    assert (addr.action, addr.redirect, addr.microsoft_online) == (
        "redirectAddr", "p@t.mail.onmicrosoft.com", True)
    url = parse_pox(document("<Action>redirectUrl</Action><RedirectUrl> https://a/b "
                             "</RedirectUrl>"))
    assert (url.action, url.redirect) == ("redirectUrl", "https://a/b")


@pytest.mark.parametrize(("code", "message", "inner"), [
    (500, "The e-mail address cannot be found.", INNER),
    (600, "Invalid Request", None),
    (601, "Provider is not available", None),
    (603, "Server Error", INNER),
])
def test_error_documents(code: int, message: str, inner: str | None) -> None:
    answer = parse_pox(error_document(code, message, inner))
    assert (answer.error_code, answer.error_message) == (str(code), message)


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "malformed Autodiscover XML: no element found at line 1, column 0"),
    (b"<html><body>Sign in</body></html>", "not an Autodiscover response (root element html)"),
    (b"<Autodiscover><Response><User>", "malformed Autodiscover XML: no element found at "
                                         "line 1, column 30"),
    (f'<Autodiscover xmlns="{OUTER}"/>'.encode(),
     "Autodiscover response without a Response element"),
    (f'<Autodiscover xmlns="{OUTER}"><Response/></Autodiscover>'.encode(),
     "Autodiscover response without an Account element"),
    (document('<Protocol Type="mapiHttp" Version="1"><MailStore/></Protocol>'),
     "Autodiscover's mapiHttp block has no MailStore InternalUrl or ExternalUrl"),
    (document("<Action>settings</Action>", "<DisplayName>&e;</DisplayName>"),
     "malformed Autodiscover XML: undefined entity at line 1, column 248"),
])
def test_not_an_answer(raw: bytes, reason: str) -> None:
    with pytest.raises(AutodiscoverError) as info:
        parse_pox(raw)
    assert str(info.value) == reason


REFUSED = ("Autodiscover response refused: it declares a DOCTYPE or entities (XML entity "
           "attack?)")
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;")
                                                    * 10) for n in range(1, 10))
          + b"]><Autodiscover><Response><Error><ErrorCode>&lol9;</ErrorCode></Error>"
            b"</Response></Autodiscover>")


@pytest.mark.parametrize("raw", [
    LAUGHS,
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<Autodiscover>&x;</Autodiscover>",
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>'
    b"<Autodiscover/>",
    b'<!DOCTYPE Autodiscover SYSTEM "http://127.0.0.1:9/autodiscover.dtd"><Autodiscover/>',
    b"<!DOCTYPE Autodiscover><Autodiscover/>",
    '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE a [<!ENTITY e "x">]><Autodiscover/>'
    .encode("utf-16"),
])
def test_entity_attacks_are_refused(raw: bytes) -> None:
    with pytest.raises(AutodiscoverError) as info:
        parse_xml(raw)
    assert str(info.value) == REFUSED


def test_other_encodings_parse() -> None:
    raw = document("<Action>settings</Action>", "<DisplayName>Jürgen</DisplayName>")
    utf16 = raw.decode().replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    assert parse_pox(utf16).display_name == "Jürgen"


def test_v2() -> None:
    assert parse_v2(b'{"Protocol":"AutodiscoverV1","Url":"https://outlook.office365.com/'
                    b'autodiscover/autodiscover.xml"}') == (
        "https://outlook.office365.com/autodiscover/autodiscover.xml")


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"ErrorCode":"ProtocolNotSupported","ErrorMessage":"The given protocol value '
     b"'MapiHttp' is invalid.\"}",
     "Autodiscover v2 error ProtocolNotSupported: The given protocol value 'MapiHttp' is "
     "invalid."),
    (b'{"ErrorCode":"MandatoryParameterMissing"}',
     "Autodiscover v2 error MandatoryParameterMissing"),
    (b"<html/>", "Autodiscover v2 answer is not JSON"),
    (b"\xff\xfe", "Autodiscover v2 answer is not JSON"),
    (b"[1]", "Autodiscover v2 answer is not a JSON object"),
    (b'{"Protocol":"AutodiscoverV1"}', "Autodiscover v2 answer has no Url"),
])
def test_v2_errors(raw: bytes, reason: str) -> None:
    with pytest.raises(AutodiscoverError) as info:
        parse_v2(raw)
    assert str(info.value) == reason
