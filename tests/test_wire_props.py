"""Property values in ROP buffers, [MS-OXCDATA] 2.11.1: sizes and encodings by hand."""

from __future__ import annotations

import struct
import uuid
from datetime import datetime, timezone

import pytest

from check_mapi.errors import DecodeError
from check_mapi.wire import (
    PropertyError,
    PropertyMissing,
    PropertyRow,
    PropertyValue,
    datetime_to_filetime,
    filetime_to_datetime,
)
from check_mapi.wire._buffer import Reader, Writer, code_page_codec
from check_mapi.wire.props import read_row, read_value, write_row, write_value

GUID = uuid.UUID("416c6368-656d-794a-6f45-57615272456e")

# (type, wire bytes written by hand, value)
CASES = [
    (0x0002, b"\x34\x12", 0x1234),
    (0x0003, b"\x78\x56\x34\x12", 0x12345678),
    (0x0004, struct.pack("<f", 1.5), 1.5),
    (0x0005, struct.pack("<d", -2.25), -2.25),
    (0x0006, struct.pack("<Q", 10_000), 10_000),
    (0x0007, struct.pack("<d", 45000.5), 45000.5),
    (0x000A, b"\x0f\x01\x04\x80", 0x8004010F),
    (0x000B, b"\x01", True),
    (0x000B, b"\x00", False),
    (0x0014, bytes.fromhex("0100000001 3ff856"), 0x56F83F0100000001),
    (0x001F, "Grüße 🙂".encode("utf-16-le") + b"\x00\x00", "Grüße 🙂"),
    (0x001E, b"Gr\xfc\xdfe\x00", "Grüße"),
    (0x0040, struct.pack("<Q", 133_000_000_000_000_000), 133_000_000_000_000_000),
    (0x0048, GUID.bytes_le, GUID),
    (0x00FB, b"\x02\x00\xab\xcd", b"\xab\xcd"),
    (0x0102, b"\x03\x00abc", b"abc"),
    (0x1002, b"\x02\x00\x01\x00\x02\x00", (1, 2)),
    (0x1003, b"\x01\x00\x05\x00\x00\x00", (5,)),
    (0x1014, b"\x00\x00", ()),
    (0x101F, b"\x02\x00" + "a".encode("utf-16-le") + b"\x00\x00" + b"\x00\x00", ("a", "")),
    (0x101E, b"\x01\x00x\x00", ("x",)),
    (0x1040, b"\x01\x00" + struct.pack("<Q", 1), (1,)),
    (0x1048, b"\x01\x00" + GUID.bytes_le, (GUID,)),
    (0x1102, b"\x02\x00\x01\x00a\x00\x00", (b"a", b"")),
]


@pytest.mark.parametrize(("ptype", "data", "value"), CASES,
                         ids=[f"{c[0]:04X}-{i}" for i, c in enumerate(CASES)])
def test_value_encodings(ptype: int, data: bytes, value: object) -> None:
    r = Reader(data, "value")
    assert read_value(r, ptype, 1252) == value
    r.expect_end()
    assert write_value(Writer(), ptype, value, 1252).getvalue() == data
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            read_value(Reader(data[:cut], "value"), ptype, 1252)


def test_boolean_must_be_zero_or_one() -> None:
    with pytest.raises(DecodeError, match="PtypBoolean value 0x02") as info:
        read_value(Reader(b"\x02", "v", base=10), 0x000B, 1252)
    assert info.value.offset == 10


@pytest.mark.parametrize("ptype", [0x00FD, 0x00FE, 0x0001, 0x1000, 0x100B, 0x9999])
def test_unsupported_types(ptype: int) -> None:
    with pytest.raises(DecodeError, match="unsupported property type"):
        read_value(Reader(b"\x00" * 8, "v"), ptype, 1252)


def test_string8_follows_the_code_page() -> None:
    assert read_value(Reader(b"\xd0\x9f\x00", "v"), 0x001E, 65001) == "П"
    assert read_value(Reader(b"\x8f\x00", "v"), 0x001E, 1251) == "Џ"
    assert read_value(Reader(b"\x82\xa0\x00", "v"), 0x001E, 932) == "あ"
    assert write_value(Writer(), 0x001E, "П", 65001).getvalue() == b"\xd0\x9f\x00"
    with pytest.raises(DecodeError, match="unsupported code page 4242") as info:
        read_value(Reader(b"x\x00", "v", base=3), 0x001E, 4242)
    assert info.value.offset == 3
    with pytest.raises(DecodeError, match="not valid utf-8"):
        read_value(Reader(b"\xff\x00", "v"), 0x001E, 65001)
    assert code_page_codec(20127) == "ascii"


def test_standard_and_flagged_rows() -> None:
    columns = (0x0037001F, 0x0E080003, 0x0E060040)
    standard = b"\x00" + "S".encode("utf-16-le") + b"\x00\x00" + b"\x10\x00\x00\x00" + b"\x00" * 8
    row = read_row(Reader(standard, "row"), columns, 1252)
    assert row == PropertyRow(False, (PropertyValue(0x0037001F, "S"),
                                      PropertyValue(0x0E080003, 16),
                                      PropertyValue(0x0E060040, 0)))
    assert write_row(Writer(), row, 1252).getvalue() == standard
    flagged = b"\x01" + b"\x01" + b"\x0a\x0f\x01\x04\x80" + b"\x00" + b"\x01" * 8
    row = read_row(Reader(flagged, "row"), columns, 1252)
    assert row == PropertyRow(True, (PropertyMissing(0x0037001F),
                                     PropertyError(0x0E080003, 0x8004010F),
                                     PropertyValue(0x0E060040, 0x0101010101010101)))
    assert write_row(Writer(), row, 1252).getvalue() == flagged


def test_row_errors() -> None:
    with pytest.raises(DecodeError, match="PropertyRow Flag 0x02") as info:
        read_row(Reader(b"\x02", "row", base=9), (0x00020002,), 1252)
    assert info.value.offset == 9
    with pytest.raises(DecodeError, match="FlaggedPropertyValue Flag 0x05") as info:
        read_row(Reader(b"\x01\x05", "row"), (0x00020002,), 1252)
    assert info.value.offset == 1
    with pytest.raises(DecodeError, match="PtypUnspecified"):
        read_row(Reader(b"\x00\x00", "row"), (0x00370000,), 1252)
    with pytest.raises(ValueError, match="StandardPropertyRow"):
        write_row(Writer(), PropertyRow(False, (PropertyMissing(0x0037001F),)), 1252)


def test_filetime_conversions() -> None:
    moment = datetime(2026, 11, 21, 10, 37, 5, 123456, tzinfo=timezone.utc)
    filetime = datetime_to_filetime(moment)
    # 116444736000000000 is the FILETIME of the Unix epoch; 1795257425 = calendar.timegm().
    assert filetime == 116444736000000000 + 1795257425 * 10**7 + 1234560
    assert filetime_to_datetime(filetime) == moment
    assert filetime_to_datetime(0) == datetime(1601, 1, 1, tzinfo=timezone.utc)
    assert filetime_to_datetime(0xFFFFFFFFFFFFFFFF) is None
