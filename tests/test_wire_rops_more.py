"""Byte layouts of the property ROPs, RopOpenMessage and not-modelled ROP requests.

Every expected byte string is written by hand from the [MS-OXCROPS] / [MS-OXCDATA] layouts
named in each test (not produced by the codec), so that the emulator and the probe, which
share this codec, cannot agree on a wrong layout.
"""

from __future__ import annotations

import uuid

import pytest

from check_mapi.errors import DecodeError
from check_mapi.wire import (
    KIND_NONE,
    MNID_ID,
    MNID_STRING,
    PS_MAPI,
    PropertyName,
    PropertyRow,
    PropertyValue,
    Reader,
    RopContext,
    RopErrorResponse,
    RopGetNamesFromPropertyIdsRequest,
    RopGetNamesFromPropertyIdsResponse,
    RopGetPropertiesAllRequest,
    RopGetPropertiesAllResponse,
    RopGetPropertiesListResponse,
    RopGetPropertiesSpecificRequest,
    RopGetPropertiesSpecificResponse,
    RopId,
    RopOpenFolderRequest,
    RopOpenMessageResponse,
    RopUnknownRequest,
    TypedString,
    Writer,
    decode_request_rop_buffer,
)
from check_mapi.wire.rop_requests import read_rop_request
from check_mapi.wire.rop_responses import read_rop_response
from check_mapi.wire.ropbuffer import encode_request_rop_buffer

SUBJECT, SUBMIT_TIME = 0x0037001F, 0x00390040
DISPLAY_NAME, CONTENT_COUNT = 0x3001001F, 0x36020003
CTX = RopContext()


def encoded(rop: object, ctx: RopContext = CTX) -> bytes:
    return rop.write(Writer(), ctx).getvalue()  # type: ignore[attr-defined, no-any-return]


def request(data: bytes) -> object:
    r = Reader(data, "t")
    rop = read_rop_request(r)
    assert not r.remaining
    return rop


def response(data: bytes, ctx: RopContext = CTX) -> object:
    r = Reader(data, "t")
    rop = read_rop_response(r, ctx)
    assert not r.remaining
    return rop


def test_get_properties_specific_request() -> None:
    """2.2.8.3.1: RopId, LogonId, InputHandleIndex, PropertySizeLimit u16, WantUnicode u16,
    PropertyTagCount u16, PropertyTags (u32: type low, id high)."""
    rop = RopGetPropertiesSpecificRequest(0x0C, 1, 0, 1, (SUBJECT, SUBMIT_TIME))
    data = bytes.fromhex("07 0c 01 0000 0100 0200 1f003700 40003900")
    assert rop.write(Writer()).getvalue() == data
    assert request(data) == rop


def test_get_properties_all_request() -> None:
    """2.2.8.4.1: RopId, LogonId, InputHandleIndex, PropertySizeLimit u16, WantUnicode u16."""
    rop = RopGetPropertiesAllRequest(0, 1, 0x1000, 1)
    data = bytes.fromhex("08 00 01 0010 0100")
    assert rop.write(Writer()).getvalue() == data
    assert request(data) == rop


def test_a_defined_rop_of_unknown_layout_takes_the_rest_of_the_rops_list() -> None:
    # RopGetOwningServers (0x42) after a RopOpenFolder: where it ends cannot be known
    folder = RopOpenFolderRequest(0x0C, 0, 1, 0x0500000000000001, 0)
    tail = bytes.fromhex("42 0c 01 aabb 15 0c 01")
    ropslist = folder.write(Writer()).getvalue() + tail
    payload = (2 + len(ropslist)).to_bytes(2, "little") + ropslist + bytes(8)
    size = len(payload).to_bytes(2, "little")
    (segment,) = decode_request_rop_buffer(b"\x00\x00\x04\x00" + size + size + payload)
    unknown = RopUnknownRequest(0x42, 0x0C, 1, bytes.fromhex("aabb 15 0c 01"))
    assert segment.rops == (folder, unknown)
    assert segment.server_object_handle_table == (0, 0)
    assert encode_request_rop_buffer([segment]) == b"\x00\x00\x04\x00" + size + size + payload


@pytest.mark.parametrize("rop_id", [0x00, 0x28, 0x2A, 0x6E, 0xF9, 0xFF, 0x99])
def test_reserved_and_server_only_rop_ids_are_not_requests(rop_id: int) -> None:
    with pytest.raises(DecodeError, match=r"unsupported ROP request"):
        request(bytes([rop_id, 0, 0]))


def test_open_message_response() -> None:
    """2.2.6.1.2: head, HasNamedProperties u8, SubjectPrefix and NormalizedSubject
    (TypedString: StringType u8, then the string for types 2..4), RecipientCount u16,
    ColumnCount u16, RecipientColumns u32[], RowCount u8."""
    rop = RopOpenMessageResponse(1, False, TypedString(1, ""), TypedString(4, "Hi"))
    data = bytes.fromhex("03 01 00000000 00 01 04 48006900 0000 0000 0000 00")
    assert encoded(rop) == data
    assert response(data) == rop
    columns = RopOpenMessageResponse(1, True, TypedString(0), TypedString(1, ""), 2,
                                     (DISPLAY_NAME,))
    data = bytes.fromhex("03 01 00000000 01 00 01 0200 0100 1f000130 00")
    assert encoded(columns) == data
    assert response(data) == columns
    with pytest.raises(DecodeError, match=r"RecipientRows .* not decoded") as info:
        response(data[:-1] + b"\x01")
    assert info.value.offset == len(data) - 1


def test_typed_strings() -> None:
    """[MS-OXCDATA] 2.11.3: 0x02 in the code page, 0x03 one byte a character, 0x04 UTF-16."""
    assert TypedString.of(None) == TypedString(0)
    assert TypedString.of("") == TypedString(1, "")
    assert TypedString.of("é") == TypedString(4, "é")
    for typed, data in ((TypedString(2, "café"), "02 636166e9 00"),
                        (TypedString(3, "été"), "03 e974e9 00"),
                        (TypedString(0), "00"), (TypedString(1, ""), "01")):
        assert typed.write(Writer(), 1252).getvalue() == bytes.fromhex(data)
        assert TypedString.read(Reader(bytes.fromhex(data), "t"), "S", 1252) == typed
    with pytest.raises(DecodeError, match=r"S.StringType 0x05 is not 0x00..0x04"):
        TypedString.read(Reader(b"\x05", "t"), "S", 1252)


def test_get_properties_specific_response() -> None:
    """2.2.8.3.2: head, then RowData: a PropertyRow of the requested tags."""
    row = PropertyRow(False, (PropertyValue(SUBMIT_TIME, 0x01DC86F1A2B3C4D5),))
    rop = RopGetPropertiesSpecificResponse(1, row)
    data = bytes.fromhex("07 01 00000000 00 d5c4b3a2f186dc01")
    assert encoded(rop) == data
    assert response(data, RopContext(columns=(SUBMIT_TIME,))) == rop
    with pytest.raises(DecodeError, match=r"without the requested property tags"):
        response(data)
    failed = bytes.fromhex("07 01 0f010480")  # the 6-byte failure form
    assert response(failed) == RopErrorResponse(RopId.RopGetPropertiesSpecific, 1, 0x8004010F)


def test_get_properties_all_response() -> None:
    """2.2.8.4.2: head, PropertyValueCount u16, TaggedPropertyValues (tag u32 + value)."""
    rop = RopGetPropertiesAllResponse(1, (PropertyValue(DISPLAY_NAME, "In"),
                                          PropertyValue(CONTENT_COUNT, 4)))
    data = bytes.fromhex("08 01 00000000 0200 1f000130 49006e000000 03000236 04000000")
    assert encoded(rop) == data
    assert response(data) == rop


def test_get_properties_list_response() -> None:
    """2.2.8.5.2: head, PropertyTagCount u16, PropertyTags u32[]."""
    rop = RopGetPropertiesListResponse(1, (DISPLAY_NAME, CONTENT_COUNT))
    data = bytes.fromhex("09 01 00000000 0200 1f000130 03000236")
    assert encoded(rop) == data
    assert response(data) == rop


def test_get_names_from_property_ids() -> None:
    """Request 2.2.8.2.1; response 2.2.8.2.2 with PropertyNames ([MS-OXCDATA] 2.6.1: Kind,
    GUID, then LID u32 (Kind 0) or NameSize u8 + UTF-16 Name with terminator (Kind 1))."""
    asked = RopGetNamesFromPropertyIdsRequest(0x0C, 1, (0x0037, 0x8001))
    assert asked.write(Writer()).getvalue() == bytes.fromhex("55 0c 01 0200 3700 0180")
    ps_public = uuid.UUID("00020329-0000-0000-c000-000000000046")
    rop = RopGetNamesFromPropertyIdsResponse(1, (
        PropertyName(MNID_ID, PS_MAPI, lid=0x37),
        PropertyName(MNID_STRING, ps_public, name="Hi"),
        PropertyName(KIND_NONE, uuid.UUID(int=0))))
    data = bytes.fromhex(
        "55 01 00000000 0300"
        "00 28030200 0000 0000 c000000000000046 37000000"
        "01 29030200 0000 0000 c000000000000046 06 480069000000"
        "ff 00000000000000000000000000000000")
    assert encoded(rop) == data
    assert response(data) == rop
    with pytest.raises(DecodeError, match=r"PropertyName Kind 0x02"):
        response(bytes.fromhex("55 01 00000000 0100 02") + bytes(16))
