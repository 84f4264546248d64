"""ROP execution against the mailbox model ([MS-OXCROPS] 3.2.5; [MS-OXCSTOR], [MS-OXCFOLD],
[MS-OXCTABL] server sections).

Each handler first works out its response without side effects and returns it with a
``commit`` that creates objects or moves cursors, so that a ROP whose response does not fit
in MaxRopOut leaves nothing behind: the server answers RopBufferTooSmall with the unprocessed
requests instead ([MS-OXCROPS] 2.2.15.1).

A ROP the emulator does not model: [MS-OXCROPS] 2.2.2 and 3.2.5.1 make a RopId that is
reserved, or an input buffer the server cannot parse, an error for the whole Execute
(ecRpcFormat; Exchange 2013 SP1 and later do so for reserved ids), and say nothing of a
defined ROP a server does not implement, because Exchange implements them all. Its
failure would be per ROP (the 6-byte failure form every ROP response has), so for a
defined RopId the emulator answers the ROPs before it, fails that one with ecNotSupported
(0x80040102), and stops there: where that request ends, and so the ROPs after it, cannot
be known without its layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

from ..wire import (
    LOGON_FLAG_PRIVATE,
    ErrorCode,
    LogonTime,
    PropertyType,
    RopBuffer,
    RopBufferTooSmallResponse,
    RopContext,
    RopErrorResponse,
    RopGetContentsTableRequest,
    RopGetContentsTableResponse,
    RopGetHierarchyTableRequest,
    RopGetHierarchyTableResponse,
    RopGetNamesFromPropertyIdsRequest,
    RopGetNamesFromPropertyIdsResponse,
    RopGetPropertiesAllRequest,
    RopGetPropertiesAllResponse,
    RopGetPropertiesListRequest,
    RopGetPropertiesListResponse,
    RopGetPropertiesSpecificRequest,
    RopGetPropertiesSpecificResponse,
    RopGetRulesTableRequest,
    RopGetRulesTableResponse,
    RopId,
    RopLogonRedirectResponse,
    RopLogonRequest,
    RopLogonResponse,
    RopOpenFolderRequest,
    RopOpenFolderResponse,
    RopOpenMessageRequest,
    RopOpenMessageResponse,
    RopQueryRowsRequest,
    RopReleaseRequest,
    RopRequest,
    RopResponse,
    RopSetColumnsRequest,
    RopSetColumnsResponse,
    RopSortTableRequest,
    RopSortTableResponse,
    RopUnknownRequest,
    TypedString,
    Writer,
    datetime_to_filetime,
)
from .answers import QueryRowsAnswer, UnknownRopFailure
from .objects import (
    NO_HANDLE,
    FolderObject,
    LogonObject,
    MessageObject,
    ObjectTable,
    ServerObject,
    TableObject,
)
from .properties import (
    HIERARCHY_DEPTH,
    FolderRows,
    bag_of,
    descendants,
    every,
    names,
    specific,
    tags_of,
)
from .store import PID_SUBJECT, Contents, MailboxStore

EC_BUFFER_TOO_SMALL = 0x0000047D  # [MS-OXCDATA] 2.4 ecBufferTooSmall
RESPONSE_FLAGS = 0x07  # Reserved | OwnerRight | SendAsRight ([MS-OXCROPS] 2.2.3.1.2)
TABLE_ASSOCIATED = 0x02
QUERY_NO_ADVANCE = 0x01
BOOKMARK_BEGINNING, BOOKMARK_CURRENT, BOOKMARK_END = 0x00, 0x01, 0x02
SEGMENT_OVERHEAD = 8 + 2  # rpc_header_ext + RopSize

Commit = Callable[[], None]
Outcome = tuple[RopResponse | None, Commit | None]


@dataclass(frozen=True, slots=True)
class RopFaults:
    """ROP-level faults of the request being executed (see faults.py)."""

    logon_error: int | None = None
    logon_redirect: str | None = None
    open_inbox_error: int | None = None


class _Failed(Exception):  # noqa: N818 - control flow inside one ROP, never escapes
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class RopExecutor:
    """Runs the ROPs of one Execute request for one session."""

    def __init__(self, store: MailboxStore, objects: ObjectTable, *, user_dn: str,
                 known_dns: frozenset[str], code_page: int, faults: RopFaults) -> None:
        self._store = store
        self._objects = objects
        self._user_dn = user_dn.lower()
        self._known_dns = known_dns
        self._ctx = RopContext(code_page=code_page)
        self._faults = faults
        self._handles: list[int] = []

    def run(self, segment: RopBuffer[RopRequest], max_out: int) -> RopBuffer[RopResponse]:
        """Responses and the filled-in handle table for one request segment."""
        self._handles = list(segment.server_object_handle_table)
        room = max_out - SEGMENT_OVERHEAD - 4 * len(self._handles)
        responses: list[RopResponse] = []
        for n, request in enumerate(segment.rops):
            response, commit = self._one(request, room)
            size = self._size(response)
            if size > room:
                rest = Writer()
                for pending in segment.rops[n:]:
                    pending.write(rest)
                needed = max_out - room + size
                responses.append(RopBufferTooSmallResponse(min(needed, 0xFFFF), rest.getvalue()))
                break
            if commit is not None:
                commit()
            if response is not None:
                responses.append(response)
                room -= size
            if isinstance(request, RopUnknownRequest):
                break  # the rest of the RopsList is part of it (see the module docstring)
        return RopBuffer(tuple(responses), tuple(self._handles), segment.xor_magic)

    def _size(self, response: RopResponse | None) -> int:
        return 0 if response is None else len(response.write(Writer(), self._ctx).getvalue())

    def _one(self, request: RopRequest, room: int) -> Outcome:
        index = _error_index(request)
        try:
            return self._dispatch(request, room)
        except _Failed as failed:
            if request.rop_id in RopId.__members__.values():
                return RopErrorResponse(RopId(request.rop_id), index, failed.code), None
            return UnknownRopFailure(request.rop_id, index, failed.code), None

    def _dispatch(self, request: RopRequest, room: int) -> Outcome:
        if isinstance(request, RopQueryRowsRequest):
            return self._query_rows(request, room)
        handler = self._HANDLERS.get(type(request))
        if handler is not None:
            return handler(self, request)
        # not modelled (RopUnknownRequest); an empty slot is still ecNullObject
        self._input(getattr(request, "input_handle_index", 0), object)
        raise _Failed(ErrorCode.ecNotSupported)

    # -- handle table ------------------------------------------------------------------

    def _input(self, index: int, kind: type | object) -> object:
        """The object in slot ``index``: ecNullObject if the slot is empty or released."""
        if index >= len(self._handles):
            raise _Failed(ErrorCode.ecNullObject)
        obj = self._objects.get(self._handles[index])
        if obj is None:
            raise _Failed(ErrorCode.ecNullObject)
        if not isinstance(obj, kind):  # type: ignore[arg-type]
            raise _Failed(ErrorCode.ecNotSupported)
        return obj

    def _output(self, index: int) -> Callable[[ServerObject], None]:
        if index >= len(self._handles):
            raise _Failed(ErrorCode.ecNullObject)

        def put(obj: ServerObject) -> None:
            self._handles[index] = self._objects.add(obj)
        return put

    def _release(self, request: RopReleaseRequest) -> Outcome:
        def commit() -> None:
            if request.input_handle_index < len(self._handles):
                handle = self._handles[request.input_handle_index]
                if handle != NO_HANDLE:
                    self._objects.release(handle)
        return None, commit

    # -- store and folders -----------------------------------------------------------------

    def _logon(self, request: RopLogonRequest) -> Outcome:
        put = self._output(request.output_handle_index)
        out = request.output_handle_index
        if self._faults.logon_redirect is not None:
            return RopLogonRedirectResponse(out, request.logon_flags,
                                            self._faults.logon_redirect), None
        if self._faults.logon_error is not None:
            raise _Failed(self._faults.logon_error)
        if not request.logon_flags & LOGON_FLAG_PRIVATE:
            raise _Failed(ErrorCode.ecLoginFailure)  # no public folders here
        essdn = (request.essdn or "").lower()
        if essdn != self._user_dn:
            raise _Failed(ErrorCode.ecLoginPerm if essdn in self._known_dns
                          else ErrorCode.ecUnknownUser)
        now = datetime.now(timezone.utc)
        response = RopLogonResponse(
            out, request.logon_flags, self._store.folder_ids, RESPONSE_FLAGS,
            self._store.mailbox.guid, 0x0001, self._store.repl_guid,
            LogonTime(now.second, now.minute, now.hour, (now.weekday() + 1) % 7, now.day,
                      now.month, now.year),
            datetime_to_filetime(now.replace(microsecond=0)), 0)
        return response, lambda: put(LogonObject(request.logon_id))

    def _open_folder(self, request: RopOpenFolderRequest) -> Outcome:
        self._input(request.input_handle_index, LogonObject | FolderObject)
        put = self._output(request.output_handle_index)
        folder = self._store.folder(request.folder_id)
        if folder is None:
            raise _Failed(ErrorCode.ecNotFound)
        if folder is self._store.inbox and self._faults.open_inbox_error is not None:
            raise _Failed(self._faults.open_inbox_error)
        response = RopOpenFolderResponse(request.output_handle_index, False, False)
        return response, lambda: put(FolderObject(request.logon_id, folder))

    def _open_message(self, request: RopOpenMessageRequest) -> Outcome:
        self._input(request.input_handle_index, LogonObject | FolderObject)
        put = self._output(request.output_handle_index)
        folder = self._store.folder(request.folder_id)
        index = None if folder is None else folder.contents.index_of(request.message_id)
        if folder is None or index is None:
            raise _Failed(ErrorCode.ecNotFound)
        subject = folder.contents.message(index).props.get(PID_SUBJECT)
        response = RopOpenMessageResponse(
            request.output_handle_index, False, TypedString.of(""),
            TypedString.of(None if subject is None else str(subject[1])))
        return response, lambda: put(MessageObject(request.logon_id, folder, index))

    # -- properties ([MS-OXCPRPT]) ---------------------------------------------------------

    def _bag(self, index: int) -> dict[int, tuple[int, Any]]:
        bag = bag_of(self._store, self._input(index, object))  # type: ignore[arg-type]
        if bag is None:
            raise _Failed(ErrorCode.ecNotSupported)  # a table has no properties
        return bag

    def _get_specific(self, request: RopGetPropertiesSpecificRequest) -> Outcome:
        bag = self._bag(request.input_handle_index)
        if any(tag & 0xFFFF == PropertyType.PtypUnspecified for tag in request.property_tags):
            raise _Failed(ErrorCode.ecNotSupported)  # typed values are not modelled
        row = specific(bag, request.property_tags, self._ctx.code_page)
        return RopGetPropertiesSpecificResponse(request.input_handle_index, row), None

    def _get_all(self, request: RopGetPropertiesAllRequest) -> Outcome:
        values = every(self._bag(request.input_handle_index), bool(request.want_unicode),
                       self._ctx.code_page)
        return RopGetPropertiesAllResponse(request.input_handle_index, values), None

    def _get_list(self, request: RopGetPropertiesListRequest) -> Outcome:
        tags = tags_of(self._bag(request.input_handle_index))
        return RopGetPropertiesListResponse(request.input_handle_index, tags), None

    def _get_names(self, request: RopGetNamesFromPropertyIdsRequest) -> Outcome:
        self._input(request.input_handle_index, object)
        return RopGetNamesFromPropertyIdsResponse(request.input_handle_index,
                                                  names(request.property_ids)), None

    # -- tables ----------------------------------------------------------------------------

    def _open_table(self, request: RopGetContentsTableRequest) -> Outcome:
        folder = self._input(request.input_handle_index, FolderObject)
        assert isinstance(folder, FolderObject)
        put = self._output(request.output_handle_index)
        out = request.output_handle_index
        if isinstance(request, RopGetRulesTableRequest):
            table = TableObject(request.logon_id, "rules", _empty(folder))
            return RopGetRulesTableResponse(out), lambda: put(table)
        if isinstance(request, RopGetHierarchyTableRequest):
            found = descendants(self._store, folder.folder,
                                bool(request.table_flags & HIERARCHY_DEPTH))
            rows = FolderRows(self._store, found, folder.folder.fid)
            table = TableObject(request.logon_id, "hierarchy", rows)
            return RopGetHierarchyTableResponse(out, len(rows)), lambda: put(table)
        associated = request.table_flags & TABLE_ASSOCIATED
        contents = _empty(folder) if associated else folder.folder.contents
        table = TableObject(request.logon_id, "contents", contents)
        return RopGetContentsTableResponse(out, len(contents)), lambda: put(table)

    def _table(self, index: int) -> TableObject:
        table = self._input(index, TableObject)
        assert isinstance(table, TableObject)
        return table

    def _set_columns(self, request: RopSetColumnsRequest) -> Outcome:
        table = self._table(request.input_handle_index)
        tags = request.property_tags
        if not tags:
            raise _Failed(ErrorCode.ecInvalidParam)
        if any(tag & 0xFFFF == PropertyType.PtypUnspecified for tag in tags):
            raise _Failed(ErrorCode.ecNotSupported)  # typed rows are not modelled

        def commit() -> None:
            table.columns = tags
        return RopSetColumnsResponse(request.input_handle_index, 0x00), commit

    def _sort_table(self, request: RopSortTableRequest) -> Outcome:
        table = self._table(request.input_handle_index)
        if request.categorized_count:
            raise _Failed(ErrorCode.ecNotSupported)  # categorized views are not modelled

        def commit() -> None:  # stable sorts, last key first, of the table's current order
            table.steps += tuple((order.property_tag >> 16, order.order == 0x01)
                                 for order in reversed(request.sort_orders))
            table.order = table.contents.order(table.steps)
            table.cursor = 0
        return RopSortTableResponse(request.input_handle_index, 0x00), commit

    def _query_rows(self, request: RopQueryRowsRequest, room: int) -> Outcome:
        table = self._table(request.input_handle_index)
        if table.columns is None:
            raise _Failed(ErrorCode.ecNullObject)  # RopSetColumns was never sent
        forward = request.forward_read != 0
        wanted = request.row_count
        if forward:
            candidates = table.order[table.cursor : table.cursor + wanted]
        else:
            candidates = table.order[max(0, table.cursor - wanted) : table.cursor][::-1]
        rows = self._fit(table.contents, candidates, table.columns, room - 9)
        if candidates and not rows:
            raise _Failed(EC_BUFFER_TOO_SMALL)  # [MS-OXCTABL] 3.2.5.5
        cursor = table.cursor + len(rows) if forward else table.cursor - len(rows)
        at_edge = cursor >= len(table.order) if forward else cursor <= 0
        edge = BOOKMARK_END if forward else BOOKMARK_BEGINNING
        response = QueryRowsAnswer(request.input_handle_index,
                                    edge if at_edge else BOOKMARK_CURRENT, tuple(rows))

        def commit() -> None:
            if not request.query_rows_flags & QUERY_NO_ADVANCE:
                table.cursor = cursor
        return response, commit

    def _fit(self, contents: Contents, indexes: Sequence[int], columns: tuple[int, ...],
             room: int) -> list[bytes]:
        """The encoded rows, in order, that fit in ``room`` bytes."""
        rows: list[bytes] = []
        for index in indexes:
            encoded = contents.row(index, columns, self._ctx.code_page)[1]
            room -= len(encoded)
            if room < 0:
                break
            rows.append(encoded)
        return rows

    _HANDLERS: ClassVar[dict[type, Callable[[RopExecutor, Any], Outcome]]] = {
        RopReleaseRequest: _release, RopLogonRequest: _logon, RopOpenFolderRequest: _open_folder,
        RopGetContentsTableRequest: _open_table, RopGetRulesTableRequest: _open_table,
        RopGetHierarchyTableRequest: _open_table, RopOpenMessageRequest: _open_message,
        RopSetColumnsRequest: _set_columns, RopSortTableRequest: _sort_table,
        RopGetPropertiesSpecificRequest: _get_specific, RopGetPropertiesAllRequest: _get_all,
        RopGetPropertiesListRequest: _get_list, RopGetNamesFromPropertyIdsRequest: _get_names,
    }


_CREATES = (RopLogonRequest, RopOpenFolderRequest, RopOpenMessageRequest,
            RopGetContentsTableRequest)


def _empty(folder: FolderObject) -> Contents:
    """The contents of a table without rows (associated contents, rules)."""
    return Contents((), folder.folder.fid)


def _error_index(request: RopRequest) -> int:
    """Failure responses name the output slot for object-creating ROPs, else the input."""
    if isinstance(request, _CREATES):
        return request.output_handle_index
    return int(getattr(request, "input_handle_index", 0))

