"""Property values and table rows inside ROP buffers.

[MS-OXCDATA] 2.9 (PropertyTag), 2.11.1 (property data types and their sizes in ROP
buffers: 16-bit counts for PtypBinary and the PtypMultiple types), 2.11.2.1
(PropertyValue), 2.11.5 (FlaggedPropertyValue), 2.8.1 (StandardPropertyRow and
FlaggedPropertyRow).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from ..values import Value as Record
from ._buffer import Reader, Writer, code_page_codec
from .codes import PropertyType, describe_property_type

Value = int | float | bool | str | bytes | uuid.UUID | tuple[object, ...]

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)


def property_type(tag: int) -> int:
    """The PropertyType half of a property tag (low 16 bits), [MS-OXCDATA] 2.9."""
    return tag & 0xFFFF


def filetime_to_datetime(filetime: int) -> datetime | None:
    """PtypTime (100-ns ticks since 1601-01-01 UTC) as a datetime, None if out of range."""
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=filetime // 10)
    except OverflowError:
        return None


def datetime_to_filetime(moment: datetime) -> int:
    delta = moment.astimezone(timezone.utc) - _FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


class PropertyValue(Record):
    """A column value that is present. ``value`` is typed by the tag's PropertyType:
    int (integers, PtypErrorCode, PtypTime as FILETIME), float, bool, str, bytes,
    uuid.UUID, or a tuple of those for PtypMultiple types."""

    tag: int
    value: Value


class PropertyMissing(Record):
    """FlaggedPropertyValue flag 0x01: the property has no value on this row."""

    tag: int


class PropertyError(Record):
    """FlaggedPropertyValue flag 0x0A: a PtypErrorCode stands in for the value
    (e.g. ecNotFound 0x8004010F when the item lacks the property)."""

    tag: int
    error_code: int


Cell = PropertyValue | PropertyMissing | PropertyError


class PropertyRow(Record):
    """StandardPropertyRow (``flagged`` False) or FlaggedPropertyRow, [MS-OXCDATA] 2.8.1."""

    flagged: bool
    cells: tuple[Cell, ...]


_FIXED: dict[int, tuple[Callable[[Reader, str], Value], Callable[[Writer, object], Writer]]] = {
    PropertyType.PtypInteger16: (Reader.u16, lambda w, v: w.u16(_int(v))),
    PropertyType.PtypInteger32: (Reader.u32, lambda w, v: w.u32(_int(v))),
    PropertyType.PtypErrorCode: (Reader.u32, lambda w, v: w.u32(_int(v))),
    PropertyType.PtypFloating32: (Reader.f32, lambda w, v: w.f32(_float(v))),
    PropertyType.PtypFloating64: (Reader.f64, lambda w, v: w.f64(_float(v))),
    PropertyType.PtypFloatingTime: (Reader.f64, lambda w, v: w.f64(_float(v))),
    PropertyType.PtypCurrency: (Reader.u64, lambda w, v: w.u64(_int(v))),
    PropertyType.PtypInteger64: (Reader.u64, lambda w, v: w.u64(_int(v))),
    PropertyType.PtypTime: (Reader.u64, lambda w, v: w.u64(_int(v))),
    PropertyType.PtypGuid: (Reader.guid, lambda w, v: w.guid(_guid(v))),
    PropertyType.PtypBinary: (Reader.counted_bytes16, lambda w, v: w.counted_bytes16(_bytes(v))),
    PropertyType.PtypServerId: (Reader.counted_bytes16, lambda w, v: w.counted_bytes16(_bytes(v))),
    PropertyType.PtypString: (Reader.utf16z, lambda w, v: w.utf16z(_str(v))),
}


# Base types that have a PtypMultiple form ([MS-OXCDATA] 2.11.1: base | 0x1000).
_MULTI_BASES = frozenset({
    PropertyType.PtypInteger16, PropertyType.PtypInteger32, PropertyType.PtypFloating32,
    PropertyType.PtypFloating64, PropertyType.PtypCurrency, PropertyType.PtypFloatingTime,
    PropertyType.PtypInteger64, PropertyType.PtypString8, PropertyType.PtypString,
    PropertyType.PtypTime, PropertyType.PtypGuid, PropertyType.PtypBinary,
})


def _int(v: object) -> int:
    assert isinstance(v, int)
    return v


def _float(v: object) -> float:
    assert isinstance(v, float)
    return v


def _guid(v: object) -> uuid.UUID:
    assert isinstance(v, uuid.UUID)
    return v


def _bytes(v: object) -> bytes:
    assert isinstance(v, bytes)
    return v


def _str(v: object) -> str:
    assert isinstance(v, str)
    return v


def read_value(reader: Reader, ptype: int, code_page: int) -> Value:
    """One PropertyValue body of type ``ptype`` (no tag), [MS-OXCDATA] 2.11.2.1."""
    field = describe_property_type(ptype)
    if ptype & ~0x1000 in _MULTI_BASES and ptype & 0x1000:
        count = reader.u16(f"{field} count")
        return tuple(read_value(reader, ptype & ~0x1000, code_page) for _ in range(count))
    if ptype == PropertyType.PtypBoolean:
        raw = reader.u8(field)
        if raw > 1:
            raise reader.error(f"PtypBoolean value 0x{raw:02X} is neither 0 nor 1",
                               reader.offset - 1)
        return bool(raw)
    if ptype == PropertyType.PtypString8:
        return reader.asciiz(field, code_page_codec(code_page, reader.offset))
    codec = _FIXED.get(ptype)
    if codec is None:
        raise reader.error(f"unsupported property type {field}")
    return codec[0](reader, field)


def write_value(writer: Writer, ptype: int, value: object, code_page: int) -> Writer:
    """Encoder twin of :func:`read_value`."""
    if ptype & 0x1000:
        assert isinstance(value, tuple)
        writer.u16(len(value))
        for item in value:
            write_value(writer, ptype & ~0x1000, item, code_page)
        return writer
    if ptype == PropertyType.PtypBoolean:
        return writer.u8(1 if value else 0)
    if ptype == PropertyType.PtypString8:
        return writer.asciiz(_str(value), code_page_codec(code_page))
    return _FIXED[ptype][1](writer, value)


def read_row(reader: Reader, columns: Sequence[int], code_page: int) -> PropertyRow:
    """One PropertyRow for the table's ``columns`` (property tags), [MS-OXCDATA] 2.8.1."""
    flag = reader.u8("PropertyRow Flag")
    if flag not in (0x00, 0x01):
        raise reader.error(f"PropertyRow Flag 0x{flag:02X} is neither 0x00 nor 0x01",
                           reader.offset - 1)
    cells: list[Cell] = []
    for tag in columns:
        if property_type(tag) == PropertyType.PtypUnspecified:
            raise reader.error("PtypUnspecified columns (typed values) are not supported")
        cells.append(_read_cell(reader, tag, code_page) if flag else
                     PropertyValue(tag, read_value(reader, property_type(tag), code_page)))
    return PropertyRow(flagged=bool(flag), cells=tuple(cells))


def _read_cell(reader: Reader, tag: int, code_page: int) -> Cell:
    """FlaggedPropertyValue, [MS-OXCDATA] 2.11.5."""
    flag = reader.u8("FlaggedPropertyValue Flag")
    if flag == 0x00:
        return PropertyValue(tag, read_value(reader, property_type(tag), code_page))
    if flag == 0x01:
        return PropertyMissing(tag)
    if flag == 0x0A:
        return PropertyError(tag, reader.u32("FlaggedPropertyValue ErrorCode"))
    raise reader.error(f"FlaggedPropertyValue Flag 0x{flag:02X} is not 0x00, 0x01 or 0x0A",
                       reader.offset - 1)


def write_row(writer: Writer, row: PropertyRow, code_page: int) -> Writer:
    if not row.flagged and not all(isinstance(c, PropertyValue) for c in row.cells):
        raise ValueError("a StandardPropertyRow cannot hold missing or error cells")
    writer.u8(0x01 if row.flagged else 0x00)
    for cell in row.cells:
        if isinstance(cell, PropertyValue):
            if row.flagged:
                writer.u8(0x00)
            write_value(writer, property_type(cell.tag), cell.value, code_page)
        elif isinstance(cell, PropertyMissing):
            writer.u8(0x01)
        else:
            writer.u8(0x0A).u32(cell.error_code)
    return writer
