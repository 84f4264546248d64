"""Connect/Execute/Disconnect bodies and the rpc_header_ext framing, by hand-computed bytes."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from check_mapi.errors import DecodeError
from check_mapi.wire import (
    ConnectResponse,
    DisconnectResponse,
    ExecuteRequest,
    ExecuteResponse,
    FailureResponse,
    PropertyMissing,
    PropertyRow,
    PropertyValue,
    RopBuffer,
    RopContext,
    RopGetContentsTableResponse,
    RopQueryRowsResponse,
    RopReleaseRequest,
)
from check_mapi.wire.ropbuffer import decode_request_rop_buffer

from .wire_helpers import assert_every_prefix_fails, assert_trailing_junk_fails

u32 = struct.Struct("<I").pack


def connect_success_by_hand() -> bytes:
    """[MS-OXCMAPIHTTP] 2.2.4.1.2: DnPrefix ASCIIZ, DisplayName UTF-16LE with 00 00."""
    return (u32(0) + u32(0) + u32(60000) + u32(6) + u32(10000)  # Status, Error, Polls, Retry
            + b"/o=Contoso/ou=Exchange Administrative Group\x00"
            + "Jürgen Пробник 🙂".encode("utf-16-le") + b"\x00\x00"
            + u32(3) + b"aux")


def test_connect_response_success() -> None:
    data = connect_success_by_hand()
    resp = ConnectResponse.decode(data)
    assert resp == ConnectResponse(0, 60000, 6, 10000,
                                   "/o=Contoso/ou=Exchange Administrative Group",
                                   "Jürgen Пробник 🙂", b"aux")
    assert resp.status_code == 0
    assert resp.encode() == data
    assert_every_prefix_fails(ConnectResponse.decode, data)
    assert_trailing_junk_fails(ConnectResponse.decode, data)


def test_connect_response_error_code_in_success_form() -> None:
    data = u32(0) + u32(0x80040111) + u32(0) * 3 + b"\x00" + b"\x00\x00" + u32(0)
    resp = ConnectResponse.decode(data)
    assert isinstance(resp, ConnectResponse)
    assert resp.error_code == 0x80040111
    assert resp.display_name == ""


@pytest.mark.parametrize("cls", [ConnectResponse, ExecuteResponse, DisconnectResponse])
def test_failure_form(cls: Any) -> None:
    data = u32(0x80040115) + u32(2) + b"\x01\x02"
    resp = cls.decode(data)
    assert resp == FailureResponse(0x80040115, b"\x01\x02")
    assert resp.encode() == data
    assert_every_prefix_fails(cls.decode, data)
    assert_trailing_junk_fails(cls.decode, data)


def test_display_name_terminator_is_aligned() -> None:
    """U+0100 is 00 01 in UTF-16LE: an unaligned scan would stop inside it."""
    name = "\u0100\u0100x"
    data = u32(0) * 5 + b"\x00" + name.encode("utf-16-le") + b"\x00\x00" + u32(0)
    resp = ConnectResponse.decode(data)
    assert isinstance(resp, ConnectResponse)
    assert resp.display_name == name


def test_invalid_utf16_is_a_decode_error() -> None:
    data = u32(0) * 5 + b"\x00" + b"\x00\xd8" + b"\x00\x00" + u32(0)  # lone high surrogate
    with pytest.raises(DecodeError, match="DisplayName is not valid utf-16-le") as info:
        ConnectResponse.decode(data)
    assert info.value.offset == 21


def test_disconnect_response() -> None:
    data = u32(0) + u32(0) + u32(0)
    assert DisconnectResponse.decode(data) == DisconnectResponse()
    assert DisconnectResponse().encode() == data
    assert_every_prefix_fails(DisconnectResponse.decode, data)
    assert_trailing_junk_fails(DisconnectResponse.decode, data)


def execute_response_by_hand(xor: bool = False) -> bytes:
    """GetContentsTable (10 bytes) + QueryRows with one flagged row, handles [0x10, 0x11]."""
    rops = (bytes([0x05, 0x01, 0, 0, 0, 0]) + u32(7)
            + bytes([0x15, 0x01, 0, 0, 0, 0, 0x02]) + b"\x01\x00"
            + b"\x01" + b"\x00" + "Hi".encode("utf-16-le") + b"\x00\x00" + b"\x01")
    payload = struct.pack("<H", 2 + len(rops)) + rops + u32(0x10) + u32(0x11)
    wire = bytes(b ^ 0xA5 for b in payload) if xor else payload
    flags = 0x0006 if xor else 0x0004
    header = struct.pack("<HHHH", 0, flags, len(payload), len(payload))
    buf = header + wire
    return u32(0) + u32(0) + u32(0) + u32(len(buf)) + buf + u32(0)


COLUMNS = RopContext(columns=(0x0037001F, 0x0E060040))
EXPECTED_ROPS = (RopGetContentsTableResponse(1, 7),
                 RopQueryRowsResponse(1, 2, (PropertyRow(True, (
                     PropertyValue(0x0037001F, "Hi"), PropertyMissing(0x0E060040))),)))


@pytest.mark.parametrize("xor", [False, True])
def test_execute_response(xor: bool) -> None:
    data = execute_response_by_hand(xor)
    resp = ExecuteResponse.decode(data, COLUMNS)
    assert isinstance(resp, ExecuteResponse)
    assert resp.rops == EXPECTED_ROPS
    assert resp.rop_buffers[0].server_object_handle_table == (0x10, 0x11)
    assert resp.rop_buffers[0].xor_magic is xor
    assert resp.encode(COLUMNS) == data
    assert_every_prefix_fails(lambda d: ExecuteResponse.decode(d, COLUMNS), data)
    assert_trailing_junk_fails(lambda d: ExecuteResponse.decode(d, COLUMNS), data)


def test_execute_response_error_code_has_no_rops() -> None:
    data = u32(0) + u32(0x4B6) + u32(0) + u32(0) + u32(0)
    resp = ExecuteResponse.decode(data)
    assert resp == ExecuteResponse(0x4B6, ())
    assert resp.encode() == data


def segment(flags: int, payload: bytes, size_actual: int | None = None) -> bytes:
    size = len(payload)
    return struct.pack("<HHHH", 0, flags, size, size if size_actual is None else size_actual
                       ) + payload


RELEASE = b"\x05\x00" + b"\x01\x00\x01"  # RopSize 5, RopRelease(logon 0, index 1), no handles


def test_several_segments_until_last() -> None:
    data = segment(0x0000, RELEASE) + segment(0x0002, bytes(b ^ 0xA5 for b in RELEASE)
                                              ) + segment(0x0004, RELEASE)
    buffers = decode_request_rop_buffer(data)
    assert [b.xor_magic for b in buffers] == [False, True, False]
    assert all(b.rops == (RopReleaseRequest(0, 1),) for b in buffers)
    body = ExecuteRequest(buffers).encode()
    assert body[8:] .startswith(data)


@pytest.mark.parametrize(("data", "message", "offset"), [
    (segment(0x0005, RELEASE), r"Compressed \(0x0001\)", 2),
    (segment(0x0014, RELEASE), "undefined bits", 2),
    (struct.pack("<HHHH", 1, 4, 5, 5) + RELEASE, "Version is 1", 0),
    (segment(0x0004, RELEASE, size_actual=9), "SizeActual 9 differs from Size 5", 6),
    (segment(0x0000, RELEASE), "no rpc_header_ext with the Last flag", 13),
    (segment(0x0004, RELEASE) + b"\x00", "1 unexpected trailing bytes", 13),
    (segment(0x0004, b"\x01\x00" + RELEASE[2:]), "RopSize 1 outside 2..5", 8),
    (segment(0x0004, b"\x06\x00" + RELEASE[2:]), "RopSize 6 outside 2..5", 8),
    (segment(0x0004, b"\x03\x00\x01\x00"), r"1 bytes after RopsList", 11),
])
def test_rop_buffer_framing_errors(data: bytes, message: str, offset: int) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        decode_request_rop_buffer(data)
    assert info.value.offset == offset


def test_encoder_refuses_oversized_payload() -> None:
    huge = RopBuffer((RopReleaseRequest(0, 0),), tuple(range(0x4000)))
    with pytest.raises(ValueError, match="exceeds"):
        ExecuteRequest((huge,)).encode()
