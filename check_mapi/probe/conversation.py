"""The MAPI conversation of a probe: RopLogon, then the Inbox's ROPs, and their answers.

RopLogon to the private mailbox ([MS-OXCROPS] 2.2.3.1, [MS-OXCSTOR] 2.2.1.1): the logon
handle and the 13 special folder ids, the Inbox among them. Then, in one Execute
([MS-OXCROPS] 2.2.4.1, 2.2.5.1, 2.2.5.2, 2.2.5.3, 2.2.5.4, 2.2.15.3): RopOpenFolder(Inbox),
RopGetContentsTable, RopSetColumns, RopSortTable (newest first), RopQueryRows(k),
RopRelease x2. The first failing ROP explains a failure.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..deadline import Deadline
from ..errors import ProtocolError, RopError
from ..wire import (
    INBOX,
    LOGON_FLAG_PRIVATE,
    OPEN_FLAG_USE_PER_MDB_REPLID_MAPPING,
    SORT_DESCENDING,
    TABLE_FLAG_USE_UNICODE,
    ExecuteResponse,
    PropertyValue,
    RopBackoffResponse,
    RopBufferTooSmallResponse,
    RopContext,
    RopErrorResponse,
    RopGetContentsTableRequest,
    RopGetContentsTableResponse,
    RopId,
    RopLogonRedirectResponse,
    RopLogonRequest,
    RopLogonResponse,
    RopOpenFolderRequest,
    RopQueryRowsRequest,
    RopQueryRowsResponse,
    RopReleaseRequest,
    RopRequest,
    RopSetColumnsRequest,
    RopSortTableRequest,
    SortOrder,
    describe_error,
    describe_rop,
    filetime_to_datetime,
)
from .result import InboxItem
from .session import MapiSession

PidTagSubject = 0x0037001F
PidTagMessageDeliveryTime = 0x0E060040
PidTagSenderName = 0x0C1A001F
PidTagMessageSize = 0x0E080003
PidTagMessageFlags = 0x0E070003
COLUMNS = (PidTagSubject, PidTagMessageDeliveryTime, PidTagSenderName, PidTagMessageSize,
           PidTagMessageFlags)
MSGFLAG_READ = 0x01
NO_HANDLE = 0xFFFFFFFF
LOGON_ID = 0


def _first_rop(response: ExecuteResponse, what: str) -> object:
    if not response.rops:
        raise ProtocolError(f"{what}: the server returned no ROP response")
    return response.rops[0]


def logon(session: MapiSession, legacy_dn: str, deadline: Deadline) -> tuple[int, int]:
    """RopLogon to the private mailbox; returns (logon handle, Inbox folder id)."""
    request = RopLogonRequest(LOGON_ID, 0, LOGON_FLAG_PRIVATE,
                              OPEN_FLAG_USE_PER_MDB_REPLID_MAPPING, 0, legacy_dn)
    response = session.execute([request], [NO_HANDLE], RopContext(), deadline)
    rop = _first_rop(response, "RopLogon")
    _check_rop(rop)
    if isinstance(rop, RopLogonRedirectResponse):
        raise RopError(f"RopLogon: mailbox is on another server (ecWrongServer): "
                       f"{_one_line(rop.server_name)}", RopId.RopLogon, rop.return_value)
    if not isinstance(rop, RopLogonResponse):
        raise ProtocolError("RopLogon: the server answered a public folder logon")
    handles = response.rop_buffers[0].server_object_handle_table
    if not handles or handles[0] == NO_HANDLE:
        raise ProtocolError("RopLogon: no logon handle in the server object handle table")
    index = rop.output_handle_index
    if index >= len(handles) or handles[index] == NO_HANDLE:
        raise ProtocolError(f"RopLogon: OutputHandleIndex {index} names no handle in the "
                            f"server object handle table ({len(handles)} entries)")
    if len(rop.folder_ids) <= INBOX:
        raise ProtocolError(f"RopLogon: {len(rop.folder_ids)} folder ids, no Inbox")
    return handles[index], rop.folder_ids[INBOX]


def inbox(session: MapiSession, logon_handle: int, inbox_fid: int, rows: int,
          deadline: Deadline) -> tuple[int, tuple[InboxItem, ...]]:
    """The Inbox's item count and its newest ``rows`` items."""
    rops: list[RopRequest] = [RopOpenFolderRequest(LOGON_ID, 0, 1, inbox_fid, 0x00),
            RopGetContentsTableRequest(LOGON_ID, 1, 2, TABLE_FLAG_USE_UNICODE),
            RopSetColumnsRequest(LOGON_ID, 2, 0x00, COLUMNS),
            RopSortTableRequest(LOGON_ID, 2, 0x00, 0, 0,
                                (SortOrder(PidTagMessageDeliveryTime, SORT_DESCENDING),)),
            RopQueryRowsRequest(LOGON_ID, 2, 0x00, 0x01, rows),
            RopReleaseRequest(LOGON_ID, 2), RopReleaseRequest(LOGON_ID, 1)]
    response = session.execute(rops, [logon_handle, NO_HANDLE, NO_HANDLE],
                               RopContext(columns=COLUMNS), deadline)
    answers = response.rops
    for rop in answers:
        _check_rop(rop)
    if len(answers) < 5:
        raise ProtocolError(f"Inbox: expected 5 ROP responses, got {len(answers)}")
    table, query = answers[1], answers[4]
    if not isinstance(table, RopGetContentsTableResponse) or not isinstance(
            query, RopQueryRowsResponse):
        raise ProtocolError("Inbox: ROP responses out of order")
    return table.row_count, tuple(_item(row.cells) for row in query.rows)


def _check_rop(rop: object) -> None:
    """The first failing ROP explains the failure (later ones fail with ecNullObject)."""
    if isinstance(rop, RopErrorResponse):
        raise RopError(f"{rop.rop_id.name} returned {describe_error(rop.return_value)}",
                       rop.rop_id, rop.return_value)
    if isinstance(rop, RopBackoffResponse):
        raise RopError(f"server busy: RopBackoff for {rop.duration} ms", RopId.RopBackoff, 0)
    if isinstance(rop, RopBufferTooSmallResponse):
        raise RopError(f"{describe_rop(RopId.RopBufferTooSmall)}: the server needs "
                       f"{rop.size_needed} bytes of output buffer", RopId.RopBufferTooSmall, 0)


def _item(cells: Sequence[object]) -> InboxItem:
    values = {c.tag: c.value for c in cells if isinstance(c, PropertyValue)}
    delivery, size = values.get(PidTagMessageDeliveryTime), values.get(PidTagMessageSize)
    flags = values.get(PidTagMessageFlags)
    return InboxItem(
        subject=_str(values.get(PidTagSubject)),
        delivery_time=filetime_to_datetime(delivery) if isinstance(delivery, int) else None,
        sender=_str(values.get(PidTagSenderName)),
        size=size if isinstance(size, int) else None,
        read=bool(flags & MSGFLAG_READ) if isinstance(flags, int) else None)


def _one_line(text: str, limit: int = 200) -> str:
    """Server text for the status line: control characters as spaces, at most ``limit``."""
    shown = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return shown if len(shown) <= limit else shown[:limit] + "..."


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
