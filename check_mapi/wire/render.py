"""Decoded structures as JSON-ready data, for people reading captured bodies.

Field names are the dataclass fields (the spec's names in snake_case); bytes become hex
strings, ROPs carry their name, error codes read ``ecNullObject (0x000004B9)``, property
tags read ``PidTagSubject (0x0037001F)`` and PtypTime values are ISO-8601 UTC.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..values import Value, items
from .codes import (
    PropertyType,
    RopId,
    describe_error,
    describe_property_tag,
    describe_property_type,
    describe_rop,
)
from .props import PropertyError, PropertyMissing, PropertyValue, filetime_to_datetime

_ERROR_FIELDS = frozenset({"return_value", "error_code"})
_TAG_FIELDS = frozenset({"tag", "property_tag"})
# FIDs and MIDs are opaque 8-byte ids ([MS-OXCDATA] 2.2.1.1/2.2.1.2): hex reads best.
_ID_FIELDS = frozenset({"folder_id", "message_id", "folder_ids"})


def _ids(value: object) -> Any:
    if isinstance(value, tuple):
        return [_ids(item) for item in value]
    return f"0x{value:016X}"


def to_data(value: object) -> Any:
    """Plain JSON types for any decoded wire value."""
    if isinstance(value, PropertyValue | PropertyMissing | PropertyError):
        return _cell(value)
    if isinstance(value, Value):
        return _dataclass(value)
    if isinstance(value, tuple | list):
        return [to_data(item) for item in value]
    return _scalar(value)


def _scalar(value: object) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _dataclass(obj: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rop_id = getattr(obj, "rop_id", None)
    if isinstance(rop_id, int):  # a RopId, or a bare id from the decoder's failure form
        out["rop"] = rop_id.name if isinstance(rop_id, RopId) else _rop_name(rop_id)
    status = getattr(obj, "status_code", None)
    if isinstance(status, int):
        out["status_code"] = status
    for name, value in items(obj):  # type: ignore[arg-type]
        if name == "rop_id":
            continue
        out[name] = _field(name, value)
    return out


def _rop_name(rop_id: int) -> str:
    """``RopOpenMessage`` for an id the codec names, else ``ROP 0x42``."""
    try:
        return RopId(rop_id).name
    except ValueError:
        return describe_rop(rop_id)


def _field(name: str, value: object) -> Any:
    if name in _ERROR_FIELDS and isinstance(value, int):
        return describe_error(value)
    if name in _TAG_FIELDS and isinstance(value, int):
        return describe_property_tag(value)
    if name == "property_tags" and isinstance(value, tuple):
        return [describe_property_tag(tag) for tag in value]
    if name == "rop_id_backoff" and isinstance(value, int):
        return describe_rop(value)
    if name in _ID_FIELDS:
        return _ids(value)
    return to_data(value)


def _cell(cell: PropertyValue | PropertyMissing | PropertyError) -> dict[str, Any]:
    ptype = cell.tag & 0xFFFF
    out: dict[str, Any] = {"tag": describe_property_tag(cell.tag),
                           "type": describe_property_type(ptype)}
    if isinstance(cell, PropertyMissing):
        out["missing"] = True
    elif isinstance(cell, PropertyError):
        out["error_code"] = describe_error(cell.error_code)
    else:
        out["value"] = _property_value(ptype, cell.value)
    return out


def _property_value(ptype: int, value: object) -> Any:
    if ptype & 0x1000 and isinstance(value, tuple):
        return [_property_value(ptype & ~0x1000, item) for item in value]
    if ptype == PropertyType.PtypTime and isinstance(value, int):
        moment = filetime_to_datetime(value)
        return moment.isoformat().replace("+00:00", "Z") if moment else value
    if ptype == PropertyType.PtypErrorCode and isinstance(value, int):
        return describe_error(value)
    return to_data(value)
