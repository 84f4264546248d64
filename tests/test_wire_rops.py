"""ROP responses against layouts computed by hand from [MS-OXCROPS], and their error forms."""

from __future__ import annotations

import struct
import uuid
from typing import Any

import pytest

from check_mapi.errors import DecodeError
from check_mapi.wire import (
    ErrorCode,
    LogonTime,
    RopBackoffResponse,
    RopBufferTooSmallResponse,
    RopContext,
    RopErrorResponse,
    RopGetContentsTableResponse,
    RopId,
    RopLogonRedirectResponse,
    RopLogonRequest,
    RopLogonResponse,
    RopOpenFolderResponse,
    RopSortTableRequest,
    SortOrder,
)
from check_mapi.wire._buffer import Reader, Writer
from check_mapi.wire.rop_requests import read_rop_request
from check_mapi.wire.rop_responses import (
    BackoffRop,
    RopLogonPublicResponse,
    read_rop_response,
)

from .wire_helpers import assert_every_prefix_fails

MAILBOX_GUID = uuid.UUID("416c6368-656d-794a-6f45-57615272456e")
REPL_GUID = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
FIDS = tuple(0x0001000000000000 + n for n in range(1, 14))


def decode(data: bytes, ctx: RopContext | None = None) -> object:
    r = Reader(data, "RopsList")
    rop = read_rop_response(r, ctx or RopContext())
    r.expect_end()
    return rop


def encode(rop: Any, ctx: RopContext | None = None) -> bytes:
    data: bytes = rop.write(Writer(), ctx or RopContext()).getvalue()
    return data


def logon_response_by_hand() -> bytes:
    """[MS-OXCROPS] 2.2.3.1.2 private-mailbox RopLogon success, laid out field by field."""
    data = bytes([0xFE, 0x00]) + b"\x00\x00\x00\x00" + bytes([0x01])   # 0..6
    data += b"".join(struct.pack("<Q", fid) for fid in FIDS)            # 7..110
    data += bytes([0x07]) + MAILBOX_GUID.bytes_le                       # 111, 112..127
    data += struct.pack("<H", 0x0001) + REPL_GUID.bytes_le              # 128, 130..145
    data += bytes([5, 4, 3, 6, 21, 11]) + struct.pack("<H", 2026)       # 146..153 LogonTime
    data += struct.pack("<Q", 0x01DC5A0000000000) + b"\x00" * 4         # 154, 162
    return data


def test_logon_response_layout() -> None:
    data = logon_response_by_hand()
    assert len(data) == 166
    rop = decode(data)
    assert isinstance(rop, RopLogonResponse)
    assert rop.folder_ids == FIDS
    assert rop.inbox_folder_id == struct.unpack("<Q", data[39:47])[0] == FIDS[4]
    assert rop.response_flags == 0x07
    assert rop.mailbox_guid == MAILBOX_GUID
    assert rop.repl_id == 1
    assert rop.repl_guid == REPL_GUID
    assert rop.logon_time == LogonTime(seconds=5, minutes=4, hour=3, day_of_week=6, day=21,
                                       month=11, year=2026)
    assert rop.gwart_time == 0x01DC5A0000000000
    assert encode(rop) == data
    assert_every_prefix_fails(decode, data)


def test_logon_public_response() -> None:
    data = (bytes([0xFE, 0x00, 0, 0, 0, 0, 0x00]) + b"".join(struct.pack("<Q", f) for f in FIDS)
            + b"\x05\x00" + REPL_GUID.bytes_le + MAILBOX_GUID.bytes_le)
    rop = decode(data)
    assert rop == RopLogonPublicResponse(0, 0x00, FIDS, 5, REPL_GUID, MAILBOX_GUID)
    assert encode(rop) == data


def test_logon_redirect_ecwrongserver() -> None:
    name = "/o=Contoso/ou=Exchange Administrative Group/cn=Configuration/cn=Servers/cn=EX02"
    data = (bytes([0xFE, 0x00]) + struct.pack("<I", 0x478) + bytes([0x01, len(name) + 1])
            + name.encode() + b"\x00")
    rop = decode(data)
    assert rop == RopLogonRedirectResponse(0, 0x01, name)
    assert isinstance(rop, RopLogonRedirectResponse)
    assert rop.return_value == ErrorCode.ecWrongServer
    assert encode(rop) == data
    assert_every_prefix_fails(decode, data)
    bad_size = data[:7] + bytes([len(name)]) + data[8:]
    with pytest.raises(DecodeError, match="ServerName"):
        decode(bad_size)


@pytest.mark.parametrize("rop_id", [0xFE, 0x02, 0x05, 0x04, 0x3F, 0x12, 0x13, 0x15])
def test_error_form_is_six_bytes(rop_id: int) -> None:
    data = bytes([rop_id, 0x01]) + struct.pack("<I", ErrorCode.ecNullObject)
    rop = decode(data)
    assert rop == RopErrorResponse(RopId(rop_id), 1, 0x4B9)
    assert encode(rop) == data
    with pytest.raises(DecodeError, match="1 unexpected trailing bytes"):
        decode(data + b"\x00")  # the failure form stops after ReturnValue


def test_open_folder_plain_and_ghosted() -> None:
    plain = bytes([0x02, 0x01, 0, 0, 0, 0, 0x01, 0x00])
    assert decode(plain) == RopOpenFolderResponse(1, has_rules=True, is_ghosted=False)
    assert encode(decode(plain)) == plain
    ghosted = (bytes([0x02, 0x01, 0, 0, 0, 0, 0x00, 0x01]) + struct.pack("<HH", 2, 1)
               + b"EX01\x00EX02\x00")
    rop = decode(ghosted)
    assert rop == RopOpenFolderResponse(1, False, True, 1, ("EX01", "EX02"))
    assert encode(rop) == ghosted
    assert_every_prefix_fails(decode, ghosted)


def test_get_contents_table_row_count() -> None:
    data = bytes([0x05, 0x02, 0, 0, 0, 0]) + struct.pack("<I", 42)
    assert decode(data) == RopGetContentsTableResponse(2, 42)


def test_buffer_too_small_takes_the_rest() -> None:
    rest = bytes.fromhex("15 00 01 00 01 32 00")
    data = b"\xff" + struct.pack("<H", 0x1234) + rest
    rop = decode(data)
    assert rop == RopBufferTooSmallResponse(0x1234, rest)
    assert encode(rop) == data


def test_backoff() -> None:
    data = (bytes([0xF9, 0x00]) + struct.pack("<I", 500) + bytes([2])
            + bytes([0x02]) + struct.pack("<I", 100) + bytes([0x05]) + struct.pack("<I", 200)
            + struct.pack("<H", 3) + b"abc")
    rop = decode(data)
    assert rop == RopBackoffResponse(0, 500, (BackoffRop(2, 100), BackoffRop(5, 200)), b"abc")
    assert encode(rop) == data
    assert_every_prefix_fails(decode, data)


def test_unknown_and_unsupported_responses() -> None:
    with pytest.raises(DecodeError, match=r"unsupported ROP response RopRelease \(0x01\)") as info:
        decode(b"\x01\x00\x00\x00\x00\x00")
    assert info.value.offset == 0
    with pytest.raises(DecodeError, match=r"unsupported ROP response ROP 0x42"):
        decode(b"\x42")


def test_sort_table_request_layout() -> None:
    """[MS-OXCROPS] 2.2.5.3.1 + [MS-OXCDATA] 2.14.1, by hand: delivery time descending."""
    data = bytes.fromhex("13 00 01 00 0100 0000 0000 4000 060e 01")
    rop = read_rop_request(Reader(data, "t"))
    assert rop == RopSortTableRequest(0, 1, 0x00, 0, 0, (SortOrder(0x0E060040, 0x01),))
    assert rop.write(Writer()).getvalue() == data


def test_logon_request_essdn_forms() -> None:
    empty = bytes.fromhex("fe 00 00 00 00000000 00000000 0000")
    rop = read_rop_request(Reader(empty, "t"))
    assert rop == RopLogonRequest(0, 0, 0, 0, 0, None)
    assert rop.write(Writer()).getvalue() == empty
    no_nul = bytes.fromhex("fe 00 00 01 00000001 00000000 0200") + b"ab"
    with pytest.raises(DecodeError, match="Essdn is not a string"):
        read_rop_request(Reader(no_nul, "t"))
    nul_inside = bytes.fromhex("fe 00 00 01 00000001 00000000 0300") + b"a\x00b"
    with pytest.raises(DecodeError, match="Essdn is not a string") as info:
        read_rop_request(Reader(nul_inside, "t"))
    assert info.value.offset == 14


def test_unknown_request() -> None:
    with pytest.raises(DecodeError, match=r"unsupported ROP request ROP 0x99") as info:
        read_rop_request(Reader(b"\x99\x00", "t"))
    assert info.value.offset == 0
