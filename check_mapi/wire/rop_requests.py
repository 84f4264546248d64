"""ROP request buffers, [MS-OXCROPS] 2.2 (one dataclass per ROP, dispatched by RopId).

Every request starts ``RopId u8, LogonId u8, InputHandleIndex u8`` except RopLogon,
which has an OutputHandleIndex instead (it creates the first object).
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from ..values import Value
from ._buffer import Reader, Writer, encoded
from .codes import RopId, describe_rop

LOGON_FLAG_PRIVATE = 0x01
OPEN_FLAG_USE_PER_MDB_REPLID_MAPPING = 0x01000000
TABLE_FLAG_USE_UNICODE = 0x40
SORT_ASCENDING = 0x00  # [MS-OXCDATA] 2.14.1 SortOrder.Order: TABLE_SORT_ASCEND
SORT_DESCENDING = 0x01  # TABLE_SORT_DESCEND


class RopRequest(Protocol):
    @property
    def rop_id(self) -> int: ...

    @property
    def logon_id(self) -> int: ...

    def write(self, w: Writer) -> Writer: ...


class RopLogonRequest(Value):
    """[MS-OXCROPS] 2.2.3.1.1; Essdn is None when EssdnSize is 0."""

    rop_id: ClassVar[RopId] = RopId.RopLogon
    logon_id: int
    output_handle_index: int
    logon_flags: int
    open_flags: int
    store_state: int
    essdn: str | None

    def write(self, w: Writer) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u8(self.output_handle_index).u8(self.logon_flags)
        w.u32(self.open_flags).u32(self.store_state)
        if self.essdn is None:
            return w.u16(0)
        return w.u16(len(encoded(self.essdn, "ascii")) + 1).asciiz(self.essdn)

    @classmethod
    def read(cls, r: Reader) -> RopLogonRequest:
        logon_id, out, flags = r.u8("LogonId"), r.u8("OutputHandleIndex"), r.u8("LogonFlags")
        open_flags, store_state = r.u32("OpenFlags"), r.u32("StoreState")
        size = r.u16("EssdnSize")
        if size == 0:
            return cls(logon_id, out, flags, open_flags, store_state, None)
        at = r.offset
        raw = r.take(size, "Essdn")
        if raw.find(b"\x00") != size - 1:
            raise r.error("Essdn is not a string ending at EssdnSize", at)
        essdn = Reader(raw, "Essdn", at).asciiz("Essdn")
        return cls(logon_id, out, flags, open_flags, store_state, essdn)


class RopReleaseRequest(Value):
    """[MS-OXCROPS] 2.2.15.3.1; the server sends no response to it."""

    rop_id: ClassVar[RopId] = RopId.RopRelease
    logon_id: int
    input_handle_index: int

    def write(self, w: Writer) -> Writer:
        return w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)

    @classmethod
    def read(cls, r: Reader) -> RopReleaseRequest:
        return cls(r.u8("LogonId"), r.u8("InputHandleIndex"))


class RopOpenFolderRequest(Value):
    """[MS-OXCROPS] 2.2.4.1.1."""

    rop_id: ClassVar[RopId] = RopId.RopOpenFolder
    logon_id: int
    input_handle_index: int
    output_handle_index: int
    folder_id: int
    open_mode_flags: int

    def write(self, w: Writer) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)
        return w.u8(self.output_handle_index).u64(self.folder_id).u8(self.open_mode_flags)

    @classmethod
    def read(cls, r: Reader) -> RopOpenFolderRequest:
        return cls(r.u8("LogonId"), r.u8("InputHandleIndex"), r.u8("OutputHandleIndex"),
                   r.u64("FolderId"), r.u8("OpenModeFlags"))


class RopOpenMessageRequest(Value):
    """[MS-OXCROPS] 2.2.6.1.1."""

    rop_id: ClassVar[RopId] = RopId.RopOpenMessage
    logon_id: int
    input_handle_index: int
    output_handle_index: int
    code_page_id: int
    folder_id: int
    open_mode_flags: int
    message_id: int

    def write(self, w: Writer) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)
        w.u8(self.output_handle_index).u16(self.code_page_id).u64(self.folder_id)
        return w.u8(self.open_mode_flags).u64(self.message_id)

    @classmethod
    def read(cls, r: Reader) -> RopOpenMessageRequest:
        return cls(r.u8("LogonId"), r.u8("InputHandleIndex"), r.u8("OutputHandleIndex"),
                   r.u16("CodePageId"), r.u64("FolderId"), r.u8("OpenModeFlags"),
                   r.u64("MessageId"))


class RopGetContentsTableRequest(Value):
    """[MS-OXCROPS] 2.2.4.14.1."""

    rop_id: ClassVar[RopId] = RopId.RopGetContentsTable
    logon_id: int
    input_handle_index: int
    output_handle_index: int
    table_flags: int

    def write(self, w: Writer) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)
        return w.u8(self.output_handle_index).u8(self.table_flags)

    @classmethod
    def read(cls, r: Reader) -> RopGetContentsTableRequest:
        return cls(r.u8("LogonId"), r.u8("InputHandleIndex"), r.u8("OutputHandleIndex"),
                   r.u8("TableFlags"))


class RopGetHierarchyTableRequest(RopGetContentsTableRequest):
    """[MS-OXCROPS] 2.2.4.13.1: same layout as RopGetContentsTable."""

    rop_id: ClassVar[RopId] = RopId.RopGetHierarchyTable


class RopGetRulesTableRequest(RopGetContentsTableRequest):
    """[MS-OXCROPS] 2.2.11.2.1: same layout as RopGetContentsTable."""

    rop_id: ClassVar[RopId] = RopId.RopGetRulesTable


class RopGetPropertiesListRequest(Value):
    """[MS-OXCROPS] 2.2.8.5.1."""

    rop_id: ClassVar[RopId] = RopId.RopGetPropertiesList
    logon_id: int
    input_handle_index: int

    def write(self, w: Writer) -> Writer:
        return w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)

    @classmethod
    def read(cls, r: Reader) -> RopGetPropertiesListRequest:
        return cls(r.u8("LogonId"), r.u8("InputHandleIndex"))


class RopGetNamesFromPropertyIdsRequest(Value):
    """[MS-OXCROPS] 2.2.8.2.1: PropertyIdCount u16, PropertyIds u16[]."""

    rop_id: ClassVar[RopId] = RopId.RopGetNamesFromPropertyIds
    logon_id: int
    input_handle_index: int
    property_ids: tuple[int, ...]

    def write(self, w: Writer) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)
        w.u16(len(self.property_ids))
        for pid in self.property_ids:
            w.u16(pid)
        return w

    @classmethod
    def read(cls, r: Reader) -> RopGetNamesFromPropertyIdsRequest:
        logon_id, index = r.u8("LogonId"), r.u8("InputHandleIndex")
        count = r.u16("PropertyIdCount")
        return cls(logon_id, index, tuple(r.u16("PropertyId") for _ in range(count)))


class RopGetPropertiesSpecificRequest(Value):
    """[MS-OXCROPS] 2.2.8.3.1: PropertySizeLimit u16, WantUnicode u16, PropertyTagCount u16,
    PropertyTags u32[]."""

    rop_id: ClassVar[RopId] = RopId.RopGetPropertiesSpecific
    logon_id: int
    input_handle_index: int
    property_size_limit: int
    want_unicode: int
    property_tags: tuple[int, ...]

    def write(self, w: Writer) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)
        w.u16(self.property_size_limit).u16(self.want_unicode).u16(len(self.property_tags))
        for tag in self.property_tags:
            w.u32(tag)
        return w

    @classmethod
    def read(cls, r: Reader) -> RopGetPropertiesSpecificRequest:
        logon_id, index = r.u8("LogonId"), r.u8("InputHandleIndex")
        limit, unicode = r.u16("PropertySizeLimit"), r.u16("WantUnicode")
        count = r.u16("PropertyTagCount")
        return cls(logon_id, index, limit, unicode,
                   tuple(r.u32("PropertyTag") for _ in range(count)))


class RopGetPropertiesAllRequest(Value):
    """[MS-OXCROPS] 2.2.8.4.1: PropertySizeLimit u16, WantUnicode u16."""

    rop_id: ClassVar[RopId] = RopId.RopGetPropertiesAll
    logon_id: int
    input_handle_index: int
    property_size_limit: int
    want_unicode: int

    def write(self, w: Writer) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)
        return w.u16(self.property_size_limit).u16(self.want_unicode)

    @classmethod
    def read(cls, r: Reader) -> RopGetPropertiesAllRequest:
        return cls(r.u8("LogonId"), r.u8("InputHandleIndex"), r.u16("PropertySizeLimit"),
                   r.u16("WantUnicode"))


class RopSetColumnsRequest(Value):
    """[MS-OXCROPS] 2.2.5.1.1: PropertyTags as u32 (type low 16 bits, id high 16 bits)."""

    rop_id: ClassVar[RopId] = RopId.RopSetColumns
    logon_id: int
    input_handle_index: int
    set_columns_flags: int
    property_tags: tuple[int, ...]

    def write(self, w: Writer) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)
        w.u8(self.set_columns_flags).u16(len(self.property_tags))
        for tag in self.property_tags:
            w.u32(tag)
        return w

    @classmethod
    def read(cls, r: Reader) -> RopSetColumnsRequest:
        logon_id, index, flags = r.u8("LogonId"), r.u8("InputHandleIndex"), r.u8(
            "SetColumnsFlags")
        count = r.u16("PropertyTagCount")
        return cls(logon_id, index, flags, tuple(r.u32("PropertyTag") for _ in range(count)))


class SortOrder(Value):
    """[MS-OXCDATA] 2.14.1: PropertyType u16, PropertyId u16, Order u8."""

    property_tag: int
    order: int


class RopSortTableRequest(Value):
    """[MS-OXCROPS] 2.2.5.3.1."""

    rop_id: ClassVar[RopId] = RopId.RopSortTable
    logon_id: int
    input_handle_index: int
    sort_table_flags: int
    categorized_count: int
    expanded_count: int
    sort_orders: tuple[SortOrder, ...]

    def write(self, w: Writer) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)
        w.u8(self.sort_table_flags).u16(len(self.sort_orders))
        w.u16(self.categorized_count).u16(self.expanded_count)
        for so in self.sort_orders:
            w.u16(so.property_tag & 0xFFFF).u16(so.property_tag >> 16).u8(so.order)
        return w

    @classmethod
    def read(cls, r: Reader) -> RopSortTableRequest:
        logon_id, index, flags = r.u8("LogonId"), r.u8("InputHandleIndex"), r.u8(
            "SortTableFlags")
        count = r.u16("SortOrderCount")
        categorized, expanded = r.u16("CategorizedCount"), r.u16("ExpandedCount")
        orders = tuple(SortOrder(r.u16("PropertyType") | r.u16("PropertyId") << 16,
                                 r.u8("Order")) for _ in range(count))
        return cls(logon_id, index, flags, categorized, expanded, orders)


class RopQueryRowsRequest(Value):
    """[MS-OXCROPS] 2.2.5.4.1."""

    rop_id: ClassVar[RopId] = RopId.RopQueryRows
    logon_id: int
    input_handle_index: int
    query_rows_flags: int
    forward_read: int
    row_count: int

    def write(self, w: Writer) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index)
        return w.u8(self.query_rows_flags).u8(self.forward_read).u16(self.row_count)

    @classmethod
    def read(cls, r: Reader) -> RopQueryRowsRequest:
        return cls(r.u8("LogonId"), r.u8("InputHandleIndex"), r.u8("QueryRowsFlags"),
                   r.u8("ForwardRead"), r.u16("RowCount"))


class RopUnknownRequest(Value):
    """A request whose RopId [MS-OXCROPS] 2.2.2 defines but whose layout this codec does not
    know: the three bytes every such request starts with, then the rest of the RopsList,
    which cannot be split further without knowing where this request ends."""

    rop_id: int
    logon_id: int
    input_handle_index: int
    rest: bytes

    def write(self, w: Writer) -> Writer:
        return w.u8(self.rop_id).u8(self.logon_id).u8(self.input_handle_index).raw(self.rest)


_REQUESTS = (RopLogonRequest, RopReleaseRequest, RopOpenFolderRequest, RopOpenMessageRequest,
             RopGetContentsTableRequest, RopGetHierarchyTableRequest, RopGetRulesTableRequest,
             RopGetPropertiesSpecificRequest, RopGetPropertiesAllRequest,
             RopGetPropertiesListRequest, RopGetNamesFromPropertyIdsRequest,
             RopSetColumnsRequest, RopSortTableRequest, RopQueryRowsRequest)
REQUEST_TYPES = {cls.rop_id: cls for cls in _REQUESTS}

# RopIds of requests, [MS-OXCROPS] 2.2.2 (the others are reserved, or only sent by servers:
# RopNotify 0x2A, RopPending 0x6E, RopBackoff 0xF9, RopBufferTooSmall 0xFF)
REQUEST_ROP_IDS = frozenset((
    *range(0x01, 0x28), 0x29, *range(0x2B, 0x3C), *range(0x3E, 0x62), 0x63, 0x64,
    *range(0x66, 0x6A), 0x6B, 0x6C, 0x6D, 0x6F, 0x70, *range(0x72, 0x7C), *range(0x7E, 0x83),
    0x86, 0x89, *range(0x90, 0x94), 0xFE))


def read_rop_request(r: Reader) -> RopRequest:
    """One ROP request, dispatched on its RopId; a defined RopId of unknown layout is a
    :class:`RopUnknownRequest` that takes the rest of the RopsList."""
    at = r.offset
    rop_id = r.u8("RopId")
    cls = REQUEST_TYPES.get(rop_id)  # type: ignore[call-overload]
    if cls is not None:
        request: RopRequest = cls.read(r)
        return request
    if rop_id not in REQUEST_ROP_IDS:
        raise r.error(f"unsupported ROP request {describe_rop(rop_id)}", at)
    return RopUnknownRequest(rop_id, r.u8("LogonId"), r.u8("InputHandleIndex"), r.rest())
