"""The address-book endpoint Autodiscover advertises (issue 13, item 4): Bind, Unbind, PING.

Byte layouts are checked against [MS-OXCMAPIHTTP] 2.2.5.1/2.2.5.2 by hand-computed offsets.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from check_mapi.emulator import Emulator
from check_mapi.emulator.nspi import decode_bind_request, decode_unbind_request
from check_mapi.errors import DecodeError

from .emu_helpers import OTHER_PASSWORD, TIMEOUT, Mapi, client, emu

__all__ = ["emu"]

AD_REQUEST = ('<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.'
              'microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>'
              '<EMailAddress>probe@contoso.test</EMailAddress><AcceptableResponseSchema>'
              'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'
              '</AcceptableResponseSchema></Request></Autodiscover>')
# Flags 0, HasState 1, STAT (SortType, ContainerID, CurrentRec, Delta, NumPos, TotalRecs 0;
# CodePage 1252, TemplateLocale and SortLocale 0x409), AuxiliaryBufferSize 0: 45 bytes.
STAT = bytes(24) + (1252).to_bytes(4, "little") + (0x409).to_bytes(4, "little") * 2
BIND = bytes(4) + b"\x01" + STAT + bytes(4)
BIND_NO_STATE = bytes(4) + b"\x00" + bytes(4)
UNBIND = bytes(4) + bytes(4)  # Reserved, AuxiliaryBufferSize


def advertised_nspi_url(emu: Emulator) -> str:
    with client(headers={"X-MapiHttpCapability": "1"}) as http:
        answer = http.post(emu.autodiscover_url, content=AD_REQUEST.encode())
    assert answer.status_code == 200
    block = re.search(r"<AddressBook>.*?<InternalUrl>(.*?)</InternalUrl>", answer.text, re.S)
    assert block is not None
    return block.group(1)


def test_the_advertised_address_book_binds_and_unbinds(emu: Emulator) -> None:
    url = advertised_nspi_url(emu)
    assert "/mapi/nspi/?MailboxId=" in url
    with Mapi(client(), url) as m:
        bound = m.post("Bind", BIND)
        assert bound.code == 0
        body = bound.body
        assert len(body) == 28  # StatusCode 4 + ErrorCode 4 + ServerGuid 16 + AuxSize 4
        assert body[0:4] == b"\x00\x00\x00\x00"  # StatusCode
        assert body[4:8] == b"\x00\x00\x00\x00"  # ErrorCode Success
        assert uuid.UUID(bytes_le=body[8:24]).version == 5  # ServerGuid
        assert body[24:28] == b"\x00\x00\x00\x00"  # AuxiliaryBufferSize
        assert "MapiContext" in m.cookies
        assert "Path=/mapi/nspi/" in bound.response.headers["set-cookie"]
        assert m.post("PING", b"").code == 0
        unbound = m.post("Unbind", UNBIND)
        assert unbound.code == 0
        # StatusCode 0, ErrorCode UnbindSuccess (1, [MS-OXNSPI] 2.2.1.2), AuxSize 0
        assert unbound.body == bytes.fromhex("00000000 01000000 00000000")
        assert "MapiContext" not in m.cookies
        gone = m.post("PING", b"", Cookie=f"MapiContext={bound.response.cookies['MapiContext']}")
        assert gone.response.headers["X-ResponseCode"] == "10"
    stats = emu.stats()
    assert stats.requests == {"autodiscover": 1, "nspi:Bind": 1, "nspi:PING": 2,
                              "nspi:Unbind": 1}
    assert stats.open_sessions == 0  # address-book contexts are not mailbox sessions


def test_same_server_guid_without_state(emu: Emulator) -> None:
    url = advertised_nspi_url(emu)
    with Mapi(client(), url) as first, Mapi(client(), url) as second:
        a, b = first.post("Bind", BIND), second.post("Bind", BIND_NO_STATE)
        assert a.body[8:24] == b.body[8:24]
        assert first.cookies["MapiContext"] != second.cookies["MapiContext"]


@pytest.mark.parametrize(("kind", "body", "code"), [
    ("GetProps", b"", "5"),  # not modelled: refused, not answered wrongly
    ("Bind", BIND[:-1], "12"),  # truncated AuxiliaryBufferSize
    ("Unbind", UNBIND, "13"),  # no Bind: no MapiContext cookie
])
def test_refusals(emu: Emulator, kind: str, body: bytes, code: str) -> None:
    with Mapi(client(), advertised_nspi_url(emu)) as m:
        answer = m.post(kind, body)
        assert answer.response.headers["X-ResponseCode"] == code
        assert answer.response.headers["Content-Type"] == "text/html"


def test_context_belongs_to_its_creator(emu: Emulator) -> None:
    url = advertised_nspi_url(emu)
    with Mapi(client(), url) as owner, Mapi(client("other", OTHER_PASSWORD), url) as intruder:
        owner.post("Bind", BIND)
        intruder.cookies = dict(owner.cookies)
        assert intruder.post("Unbind", UNBIND).response.headers["X-ResponseCode"] == "10"
        assert owner.post("Unbind", UNBIND).code == 0


def test_authentication_and_mailbox_id_are_required(emu: Emulator) -> None:
    url = advertised_nspi_url(emu)
    with httpx.Client(timeout=TIMEOUT) as anonymous:
        assert anonymous.post(url, content=BIND).status_code == 401
    with Mapi(client(), url.partition("?")[0]) as m:
        assert m.post("Bind", BIND).response.status_code == 400
    with Mapi(client(), url.replace("MailboxId=", "MailboxId=0")) as m:
        assert m.post("Bind", BIND).response.status_code == 404
    with client() as http:
        assert http.get(url).headers["X-ResponseCode"] == "2"


def test_body_layouts() -> None:
    assert decode_bind_request(BIND) == (0, STAT, b"")
    assert decode_bind_request(BIND_NO_STATE) == (0, None, b"")
    assert decode_unbind_request(bytes(4) + b"\x02\x00\x00\x00ab") == b"ab"
    with pytest.raises(DecodeError):
        decode_bind_request(BIND + b"\x00")
