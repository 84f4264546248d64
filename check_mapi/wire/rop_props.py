"""ROP responses about one object's properties ([MS-OXCROPS] 2.2.6.1.2, 2.2.8.2.2 to 2.2.8.5.2).

Separate from rop_responses.py (which dispatches to the readers here) only to keep modules
small. Layouts, after the common ``RopId u8, HandleIndex u8, ReturnValue u32`` head:

* RopOpenMessage: HasNamedProperties u8, SubjectPrefix and NormalizedSubject (TypedString,
  [MS-OXCDATA] 2.11.3), RecipientCount u16, ColumnCount u16, RecipientColumns u32[],
  RowCount u8, RecipientRows (OpenRecipientRow, not modelled: only RowCount 0 is decoded).
* RopGetPropertiesSpecific: RowData, one PropertyRow of the requested tags.
* RopGetPropertiesAll: PropertyValueCount u16, TaggedPropertyValue[] (tag u32 + value).
* RopGetPropertiesList: PropertyTagCount u16, PropertyTags u32[].
* RopGetNamesFromPropertyIds: PropertyNameCount u16, PropertyName[] ([MS-OXCDATA] 2.6.1).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, ClassVar

from ..values import Value
from ._buffer import Reader, Writer, code_page_codec
from .codes import RopId
from .props import PropertyRow, PropertyValue, read_row, read_value, write_row, write_value

if TYPE_CHECKING:
    from .rop_responses import RopContext

# TypedString StringType, [MS-OXCDATA] 2.11.3
STRING_NONE, STRING_EMPTY, STRING_8, STRING_REDUCED_UNICODE, STRING_UNICODE = range(5)
# PropertyName Kind, [MS-OXCDATA] 2.6.1
MNID_ID, MNID_STRING, KIND_NONE = 0x00, 0x01, 0xFF
PS_MAPI = uuid.UUID("00020328-0000-0000-c000-000000000046")  # [MS-OXPROPS] 1.3.2


def _head(w: Writer, rop_id: int, index: int) -> Writer:
    return w.u8(rop_id).u8(index).u32(0)


class TypedString(Value):
    """[MS-OXCDATA] 2.11.3: ``value`` is None for StringType 0x00 (no string) and "" for
    0x01 (empty); 0x02 is in the logon code page, 0x03 one byte a character, 0x04 UTF-16."""

    string_type: int
    value: str | None = None

    @classmethod
    def of(cls, text: str | None) -> TypedString:
        """How the emulator sends a string: absent, empty, or UTF-16."""
        if text is None:
            return cls(STRING_NONE)
        return cls(STRING_UNICODE, text) if text else cls(STRING_EMPTY, "")

    def write(self, w: Writer, code_page: int) -> Writer:
        w.u8(self.string_type)
        text = self.value or ""
        if self.string_type == STRING_8:
            return w.asciiz(text, code_page_codec(code_page))
        if self.string_type == STRING_REDUCED_UNICODE:
            return w.asciiz(text, "latin-1")
        if self.string_type == STRING_UNICODE:
            return w.utf16z(text)
        return w

    @classmethod
    def read(cls, r: Reader, field: str, code_page: int) -> TypedString:
        at = r.offset
        kind = r.u8(f"{field}.StringType")
        if kind == STRING_NONE:
            return cls(kind)
        if kind == STRING_EMPTY:
            return cls(kind, "")
        if kind == STRING_8:
            return cls(kind, r.asciiz(field, code_page_codec(code_page, r.offset)))
        if kind == STRING_REDUCED_UNICODE:
            return cls(kind, r.asciiz(field, "latin-1"))
        if kind == STRING_UNICODE:
            return cls(kind, r.utf16z(field))
        raise r.error(f"{field}.StringType 0x{kind:02X} is not 0x00..0x04", at)


class RopOpenMessageResponse(Value):
    """[MS-OXCROPS] 2.2.6.1.2, a message without recipient rows."""

    rop_id: ClassVar[RopId] = RopId.RopOpenMessage
    output_handle_index: int
    has_named_properties: bool
    subject_prefix: TypedString
    normalized_subject: TypedString
    recipient_count: int = 0
    recipient_columns: tuple[int, ...] = ()

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        _head(w, self.rop_id, self.output_handle_index).u8(int(self.has_named_properties))
        self.subject_prefix.write(w, ctx.code_page)
        self.normalized_subject.write(w, ctx.code_page)
        w.u16(self.recipient_count).u16(len(self.recipient_columns))
        for tag in self.recipient_columns:
            w.u32(tag)
        return w.u8(0)  # RowCount: no OpenRecipientRow


def read_open_message(r: Reader, index: int, ctx: RopContext) -> RopOpenMessageResponse:
    named = r.u8("HasNamedProperties")
    prefix = TypedString.read(r, "SubjectPrefix", ctx.code_page)
    subject = TypedString.read(r, "NormalizedSubject", ctx.code_page)
    recipients, count = r.u16("RecipientCount"), r.u16("ColumnCount")
    columns = tuple(r.u32("RecipientColumn") for _ in range(count))
    at = r.offset
    if r.u8("RowCount"):
        raise r.error("RopOpenMessage RecipientRows (OpenRecipientRow) are not decoded", at)
    return RopOpenMessageResponse(index, bool(named), prefix, subject, recipients, columns)


class RopGetPropertiesSpecificResponse(Value):
    """[MS-OXCROPS] 2.2.8.3.2: one PropertyRow; decoding needs the requested tags
    (``RopContext.columns``)."""

    rop_id: ClassVar[RopId] = RopId.RopGetPropertiesSpecific
    input_handle_index: int
    row: PropertyRow

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        return write_row(_head(w, self.rop_id, self.input_handle_index), self.row, ctx.code_page)


def read_properties_specific(r: Reader, index: int, ctx: RopContext
                             ) -> RopGetPropertiesSpecificResponse:
    if ctx.columns is None:
        raise r.error("RopGetPropertiesSpecific RowData cannot be decoded without the "
                      "requested property tags")
    return RopGetPropertiesSpecificResponse(index, read_row(r, ctx.columns, ctx.code_page))


class RopGetPropertiesAllResponse(Value):
    """[MS-OXCROPS] 2.2.8.4.2: every property, each a TaggedPropertyValue."""

    rop_id: ClassVar[RopId] = RopId.RopGetPropertiesAll
    input_handle_index: int
    values: tuple[PropertyValue, ...]

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        _head(w, self.rop_id, self.input_handle_index).u16(len(self.values))
        for value in self.values:
            write_value(w.u32(value.tag), value.tag & 0xFFFF, value.value, ctx.code_page)
        return w


def read_properties_all(r: Reader, index: int, ctx: RopContext) -> RopGetPropertiesAllResponse:
    values: list[PropertyValue] = []
    for _ in range(r.u16("PropertyValueCount")):
        tag = r.u32("PropertyTag")
        values.append(PropertyValue(tag, read_value(r, tag & 0xFFFF, ctx.code_page)))
    return RopGetPropertiesAllResponse(index, tuple(values))


class RopGetPropertiesListResponse(Value):
    """[MS-OXCROPS] 2.2.8.5.2: the tags of the properties the object has."""

    rop_id: ClassVar[RopId] = RopId.RopGetPropertiesList
    input_handle_index: int
    property_tags: tuple[int, ...]

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        _head(w, self.rop_id, self.input_handle_index).u16(len(self.property_tags))
        for tag in self.property_tags:
            w.u32(tag)
        return w


def read_properties_list(r: Reader, index: int, ctx: RopContext
                         ) -> RopGetPropertiesListResponse:
    count = r.u16("PropertyTagCount")
    return RopGetPropertiesListResponse(index, tuple(r.u32("PropertyTag") for _ in range(count)))


class PropertyName(Value):
    """[MS-OXCDATA] 2.6.1: Kind, GUID, then LID (Kind 0x00) or NameSize u8 + a UTF-16 Name
    with its terminator (Kind 0x01); Kind 0xFF (no name) has the GUID only."""

    kind: int
    guid: uuid.UUID
    lid: int | None = None
    name: str | None = None

    def write(self, w: Writer) -> Writer:
        w.u8(self.kind).guid(self.guid)
        if self.kind == MNID_ID:
            return w.u32(self.lid or 0)
        if self.kind == MNID_STRING:
            raw = (self.name or "").encode("utf-16-le") + b"\x00\x00"
            return w.u8(len(raw)).raw(raw)
        return w

    @classmethod
    def read(cls, r: Reader) -> PropertyName:
        at = r.offset
        kind, guid = r.u8("Kind"), r.guid("GUID")
        if kind == MNID_ID:
            return cls(kind, guid, lid=r.u32("LID"))
        if kind == MNID_STRING:
            raw_at = r.offset + 1
            name = Reader(r.take(r.u8("NameSize"), "Name"), "Name", raw_at).utf16z("Name")
            return cls(kind, guid, name=name)
        if kind == KIND_NONE:
            return cls(kind, guid)
        raise r.error(f"PropertyName Kind 0x{kind:02X} is not 0x00, 0x01 or 0xFF", at)


class RopGetNamesFromPropertyIdsResponse(Value):
    """[MS-OXCROPS] 2.2.8.2.2: one PropertyName per requested property id."""

    rop_id: ClassVar[RopId] = RopId.RopGetNamesFromPropertyIds
    input_handle_index: int
    names: tuple[PropertyName, ...]

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        _head(w, self.rop_id, self.input_handle_index).u16(len(self.names))
        for name in self.names:
            name.write(w)
        return w


def read_names(r: Reader, index: int, ctx: RopContext) -> RopGetNamesFromPropertyIdsResponse:
    count = r.u16("PropertyNameCount")
    return RopGetNamesFromPropertyIdsResponse(index, tuple(PropertyName.read(r)
                                                           for _ in range(count)))
