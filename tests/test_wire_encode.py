"""The codec's encode safety net (issue 14): what a wire field cannot carry is an
EncodeError (CRITICAL, a ProtocolError) before a byte is sent, never ``struct.error`` or
``UnicodeEncodeError`` escaping as an "internal error". The sizes are the fields' own
([MS-OXCDATA] 2.1: 8/16/32/64-bit little-endian; RopLogon's EssdnSize is a 16-bit count,
[MS-OXCROPS] 2.2.3.1.1; Connect's UserDn is ASCII, [MS-OXCMAPIHTTP] 2.2.4.1.1)."""

from __future__ import annotations

import pytest

from check_mapi.errors import EncodeError, ProtocolError, ServiceState
from check_mapi.wire import Writer
from check_mapi.wire.bodies import ConnectRequest
from check_mapi.wire.rop_requests import RopLogonRequest


@pytest.mark.parametrize(("method", "value", "bits"), [
    ("u8", 256, 8), ("u8", -1, 8), ("u16", 0x10000, 16), ("u32", 1 << 32, 32),
    ("u64", 1 << 64, 64), ("u16", -1, 16)])
def test_numbers_out_of_their_field(method: str, value: int, bits: int) -> None:
    with pytest.raises(EncodeError) as caught:
        getattr(Writer(), method)(value)
    assert str(caught.value) == f"{value} does not fit a {bits}-bit field"
    assert caught.value.state is ServiceState.CRITICAL
    assert isinstance(caught.value, ProtocolError)


def test_text_outside_its_code_page() -> None:
    with pytest.raises(EncodeError, match=r"^'é' at character 4 cannot be sent in ascii$"):
        Writer().asciiz("/o=xé")
    with pytest.raises(EncodeError, match="cannot be sent in utf-16-le"):
        Writer().utf16z("a\ud800")  # a lone surrogate has no UTF-16 form
    assert Writer().asciiz("/o=x").getvalue() == b"/o=x\x00"  # the net lets ASCII through


def test_a_logon_dn_longer_than_essdn_size_counts() -> None:
    request = RopLogonRequest(0, 0, 0x01, 0x0100_0000, 0, "/o=" + "x" * 0xFFFF)
    with pytest.raises(EncodeError, match=r"^65539 does not fit a 16-bit field$"):
        request.write(Writer())


def test_a_non_ascii_user_dn_in_connect() -> None:
    with pytest.raises(EncodeError, match="cannot be sent in ascii"):
        ConnectRequest("/o=Contoso/cn=Jürgen", 0, 1252, 0x409, 0x409).encode()
