"""ROP response buffers, [MS-OXCROPS] 2.2 and 3.1.5.

Every response starts ``RopId u8, <handle index> u8, ReturnValue u32``; when ReturnValue is
not 0 the response is those 6 bytes only, except RopLogon's ecWrongServer redirect
([MS-OXCROPS] 2.2.3.1.3). RopBufferTooSmall and RopBackoff are unsolicited and have no
ReturnValue. RopRelease has no response at all.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Protocol

from ..values import Value
from ._buffer import Reader, Writer, encoded
from .codes import ErrorCode, RopId, describe_rop
from .props import PropertyRow, read_row, write_row
from .rop_props import (
    read_names,
    read_open_message,
    read_properties_all,
    read_properties_list,
    read_properties_specific,
)
from .rop_requests import LOGON_FLAG_PRIVATE

FOLDER_ID_COUNT = 13
INBOX = 4  # index of the Inbox in RopLogon FolderIds, [MS-OXCSTOR] 2.2.1.1.3


class RopContext(Value):
    """What decoding a response needs but the response does not carry."""

    columns: tuple[int, ...] | None = None  # the table's RopSetColumns tags, for QueryRows
    code_page: int = 1252  # Connect DefaultCodePage, for PtypString8


class RopResponse(Protocol):
    @property
    def rop_id(self) -> int: ...

    def write(self, w: Writer, ctx: RopContext) -> Writer: ...


def _head(w: Writer, rop_id: int, index: int, return_value: int = 0) -> Writer:
    return w.u8(rop_id).u8(index).u32(return_value)


class RopErrorResponse(Value):
    """The 6-byte failure form shared by every ROP response."""

    rop_id: RopId
    handle_index: int
    return_value: int

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        return _head(w, self.rop_id, self.handle_index, self.return_value)


class LogonTime(Value):
    """[MS-OXCROPS] 2.2.3.1.2 LogonTime (UTC; DayOfWeek Sunday = 0, Month January = 1)."""

    seconds: int
    minutes: int
    hour: int
    day_of_week: int
    day: int
    month: int
    year: int


class RopLogonResponse(Value):
    """[MS-OXCROPS] 2.2.3.1.2, private mailbox success (166 bytes)."""

    rop_id: ClassVar[RopId] = RopId.RopLogon
    output_handle_index: int
    logon_flags: int
    folder_ids: tuple[int, ...]
    response_flags: int
    mailbox_guid: uuid.UUID
    repl_id: int
    repl_guid: uuid.UUID
    logon_time: LogonTime
    gwart_time: int
    store_state: int

    @property
    def inbox_folder_id(self) -> int:
        return self.folder_ids[INBOX]

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        _head(w, self.rop_id, self.output_handle_index).u8(self.logon_flags)
        for fid in self.folder_ids:
            w.u64(fid)
        w.u8(self.response_flags).guid(self.mailbox_guid).u16(self.repl_id).guid(self.repl_guid)
        t = self.logon_time
        for part in (t.seconds, t.minutes, t.hour, t.day_of_week, t.day, t.month):
            w.u8(part)
        return w.u16(t.year).u64(self.gwart_time).u32(self.store_state)


class RopLogonPublicResponse(Value):
    """[MS-OXCROPS] 2.2.3.1.3, public folders success."""

    rop_id: ClassVar[RopId] = RopId.RopLogon
    output_handle_index: int
    logon_flags: int
    folder_ids: tuple[int, ...]
    repl_id: int
    repl_guid: uuid.UUID
    per_user_guid: uuid.UUID

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        _head(w, self.rop_id, self.output_handle_index).u8(self.logon_flags)
        for fid in self.folder_ids:
            w.u64(fid)
        return w.u16(self.repl_id).guid(self.repl_guid).guid(self.per_user_guid)


class RopLogonRedirectResponse(Value):
    """[MS-OXCROPS] 2.2.3.1.4: ReturnValue ecWrongServer, the mailbox lives elsewhere."""

    rop_id: ClassVar[RopId] = RopId.RopLogon
    output_handle_index: int
    logon_flags: int
    server_name: str

    @property
    def return_value(self) -> int:
        return ErrorCode.ecWrongServer

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        _head(w, self.rop_id, self.output_handle_index, ErrorCode.ecWrongServer)
        w.u8(self.logon_flags)
        return w.u8(len(encoded(self.server_name, "ascii")) + 1).asciiz(self.server_name)


class RopOpenFolderResponse(Value):
    """[MS-OXCROPS] 2.2.4.1.2: the server list follows only when IsGhosted."""

    rop_id: ClassVar[RopId] = RopId.RopOpenFolder
    output_handle_index: int
    has_rules: bool
    is_ghosted: bool
    cheap_server_count: int = 0
    servers: tuple[str, ...] = ()

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        _head(w, self.rop_id, self.output_handle_index)
        w.u8(int(self.has_rules)).u8(int(self.is_ghosted))
        if self.is_ghosted:
            w.u16(len(self.servers)).u16(self.cheap_server_count)
            for server in self.servers:
                w.asciiz(server)
        return w


class RopGetContentsTableResponse(Value):
    """[MS-OXCROPS] 2.2.4.14.2: RowCount = number of items in the folder."""

    rop_id: ClassVar[RopId] = RopId.RopGetContentsTable
    output_handle_index: int
    row_count: int

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        return _head(w, self.rop_id, self.output_handle_index).u32(self.row_count)


class RopGetHierarchyTableResponse(RopGetContentsTableResponse):
    """[MS-OXCROPS] 2.2.4.13.2: same layout as RopGetContentsTable."""

    rop_id: ClassVar[RopId] = RopId.RopGetHierarchyTable


class RopGetRulesTableResponse(Value):
    """[MS-OXCROPS] 2.2.11.2.2: the header only."""

    rop_id: ClassVar[RopId] = RopId.RopGetRulesTable
    output_handle_index: int

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        return _head(w, self.rop_id, self.output_handle_index)


class RopSetColumnsResponse(Value):
    """[MS-OXCROPS] 2.2.5.1.2: TableStatus (0x00 TBLSTAT_COMPLETE)."""

    rop_id: ClassVar[RopId] = RopId.RopSetColumns
    input_handle_index: int
    table_status: int

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        return _head(w, self.rop_id, self.input_handle_index).u8(self.table_status)


class RopSortTableResponse(RopSetColumnsResponse):
    """[MS-OXCROPS] 2.2.5.3.2: same layout as RopSetColumns."""

    rop_id: ClassVar[RopId] = RopId.RopSortTable


class RopQueryRowsResponse(Value):
    """[MS-OXCROPS] 2.2.5.4.2: Origin, RowCount u16, RowCount PropertyRows."""

    rop_id: ClassVar[RopId] = RopId.RopQueryRows
    input_handle_index: int
    origin: int
    rows: tuple[PropertyRow, ...]

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        _head(w, self.rop_id, self.input_handle_index).u8(self.origin).u16(len(self.rows))
        for row in self.rows:
            write_row(w, row, ctx.code_page)
        return w


class RopBufferTooSmallResponse(Value):
    """[MS-OXCROPS] 2.2.15.1: SizeNeeded, then the unprocessed rest of the request ROPs."""

    rop_id: ClassVar[RopId] = RopId.RopBufferTooSmall
    size_needed: int
    request_buffers: bytes

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        return w.u8(self.rop_id).u16(self.size_needed).raw(self.request_buffers)


class BackoffRop(Value):
    rop_id_backoff: int
    duration: int


class RopBackoffResponse(Value):
    """[MS-OXCROPS] 2.2.15.2: the server is busy; ``duration`` in milliseconds."""

    rop_id: ClassVar[RopId] = RopId.RopBackoff
    logon_id: int
    duration: int
    backoff_rops: tuple[BackoffRop, ...]
    additional_data: bytes

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        w.u8(self.rop_id).u8(self.logon_id).u32(self.duration).u8(len(self.backoff_rops))
        for rop in self.backoff_rops:
            w.u8(rop.rop_id_backoff).u32(rop.duration)
        return w.u16(len(self.additional_data)).raw(self.additional_data)


def _read_logon(r: Reader, index: int, ctx: RopContext) -> RopResponse:
    flags = r.u8("LogonFlags")
    fids = tuple(r.u64("FolderId") for _ in range(FOLDER_ID_COUNT))
    if not flags & LOGON_FLAG_PRIVATE:
        return RopLogonPublicResponse(index, flags, fids, r.u16("ReplId"), r.guid("ReplGuid"),
                                      r.guid("PerUserGuid"))
    response_flags, guid = r.u8("ResponseFlags"), r.guid("MailboxGuid")
    repl_id, repl_guid = r.u16("ReplId"), r.guid("ReplGuid")
    time = LogonTime(r.u8("LogonTime.Seconds"), r.u8("LogonTime.Minutes"),
                     r.u8("LogonTime.Hour"), r.u8("LogonTime.DayOfWeek"),
                     r.u8("LogonTime.Day"), r.u8("LogonTime.Month"), r.u16("LogonTime.Year"))
    return RopLogonResponse(index, flags, fids, response_flags, guid, repl_id, repl_guid,
                            time, r.u64("GwartTime"), r.u32("StoreState"))


def _read_logon_redirect(r: Reader, index: int) -> RopLogonRedirectResponse:
    flags, size = r.u8("LogonFlags"), r.u8("ServerNameSize")
    at = r.offset
    raw = r.take(size, "ServerName")
    if raw.find(b"\x00") != size - 1:
        raise r.error("ServerName is not a string ending at ServerNameSize", at)
    return RopLogonRedirectResponse(index, flags, Reader(raw, "ServerName", at).asciiz(
        "ServerName"))


def _read_open_folder(r: Reader, index: int, ctx: RopContext) -> RopResponse:
    has_rules, is_ghosted = r.u8("HasRules"), r.u8("IsGhosted")
    if not is_ghosted:
        return RopOpenFolderResponse(index, bool(has_rules), False)
    count, cheap = r.u16("ServerCount"), r.u16("CheapServerCount")
    servers = tuple(r.asciiz("Servers") for _ in range(count))
    return RopOpenFolderResponse(index, bool(has_rules), True, cheap, servers)


def _read_query_rows(r: Reader, index: int, ctx: RopContext) -> RopResponse:
    origin, count = r.u8("Origin"), r.u16("RowCount")
    if count and ctx.columns is None:
        raise r.error("RopQueryRows rows cannot be decoded without the table's columns")
    rows = tuple(read_row(r, ctx.columns or (), ctx.code_page) for _ in range(count))
    return RopQueryRowsResponse(index, origin, rows)


_BODY_READERS = {
    RopId.RopLogon: _read_logon,
    RopId.RopOpenFolder: _read_open_folder,
    RopId.RopOpenMessage: read_open_message,
    RopId.RopGetPropertiesSpecific: read_properties_specific,
    RopId.RopGetPropertiesAll: read_properties_all,
    RopId.RopGetPropertiesList: read_properties_list,
    RopId.RopGetNamesFromPropertyIds: read_names,
    RopId.RopGetContentsTable: lambda r, i, c: RopGetContentsTableResponse(i, r.u32("RowCount")),
    RopId.RopGetHierarchyTable: lambda r, i, c: RopGetHierarchyTableResponse(
        i, r.u32("RowCount")),
    RopId.RopGetRulesTable: lambda r, i, c: RopGetRulesTableResponse(i),
    RopId.RopSetColumns: lambda r, i, c: RopSetColumnsResponse(i, r.u8("TableStatus")),
    RopId.RopSortTable: lambda r, i, c: RopSortTableResponse(i, r.u8("TableStatus")),
    RopId.RopQueryRows: _read_query_rows,
}


def _read_backoff(r: Reader) -> RopBackoffResponse:
    logon_id, duration, count = r.u8("LogonId"), r.u32("Duration"), r.u8("BackoffRopCount")
    rops = tuple(BackoffRop(r.u8("RopIdBackoff"), r.u32("Duration")) for _ in range(count))
    return RopBackoffResponse(logon_id, duration, rops, r.counted_bytes16("AdditionalData"))


def read_rop_response(r: Reader, ctx: RopContext) -> RopResponse:
    """One ROP response, dispatched on its RopId; ``r`` ends where the RopsList ends."""
    at = r.offset
    rop_id = r.u8("RopId")
    if rop_id == RopId.RopBufferTooSmall:
        return RopBufferTooSmallResponse(r.u16("SizeNeeded"), r.rest())
    if rop_id == RopId.RopBackoff:
        return _read_backoff(r)
    body = _BODY_READERS.get(rop_id)  # type: ignore[call-overload]
    if body is None:
        raise r.error(f"unsupported ROP response {describe_rop(rop_id)}", at)
    index, return_value = r.u8("HandleIndex"), r.u32("ReturnValue")
    if return_value == ErrorCode.ecWrongServer and rop_id == RopId.RopLogon:
        return _read_logon_redirect(r, index)
    if return_value:
        return RopErrorResponse(RopId(rop_id), index, return_value)
    response: RopResponse = body(r, index, ctx)
    return response
