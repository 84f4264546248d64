"""The mailbox model: special folder ids, Inbox messages, and messages as table rows.

Folder and message ids are [MS-OXCDATA] 2.2.1.1 ids: ReplicaId u16 (1 here) followed by a
6-byte GlobalCounter stored big-endian, the order Exchange uses. The 13 special folders of
RopLogon ([MS-OXCSTOR] 2.2.1.1.3) get counters 1..13, so the Inbox id is bytes
``01 00 00 00 00 00 00 05`` (the value ruler's captured requests carry).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ..wire import (
    Cell,
    ErrorCode,
    PropertyError,
    PropertyRow,
    PropertyType,
    PropertyValue,
    Value,
    code_page_codec,
    datetime_to_filetime,
)
from .config import InboxItem, Mailbox

REPL_ID = 0x0001
FOLDER_NAMES = ("Root", "Deferred Action", "Spooler Queue", "Top of Information Store",
                "Inbox", "Outbox", "Sent Items", "Deleted Items", "Common Views", "Schedule",
                "Finder", "Views", "Shortcuts")
INBOX_INDEX = 4
FIRST_MESSAGE_COUNTER = 0x10001
MAX_CELL_BYTES = 510  # [MS-OXCTABL] 2.2.2.5.2: longer values are truncated in rows

# property id -> stored property type ([MS-OXPROPS] canonical types)
PID_SUBJECT, PID_NORMALIZED_SUBJECT, PID_CONVERSATION_TOPIC = 0x0037, 0x0E1D, 0x0070
PID_SENDER_NAME, PID_SENT_REPRESENTING_NAME, PID_SENDER_EMAIL = 0x0C1A, 0x0042, 0x0C1F
PID_DELIVERY_TIME, PID_SUBMIT_TIME, PID_CREATION_TIME, PID_MODIFIED = (
    0x0E06, 0x0039, 0x3007, 0x3008)
PID_SIZE, PID_FLAGS, PID_CLASS, PID_HAS_ATTACH, PID_IMPORTANCE = (
    0x0E08, 0x0E07, 0x001A, 0x0E1B, 0x0017)
PID_MID, PID_FID, PID_INST_ID, PID_INSTANCE_NUM = 0x674A, 0x6748, 0x674D, 0x674E
MSGFLAG_READ, MSGFLAG_HASATTACH = 0x00000001, 0x00000010


def store_id(counter: int) -> int:
    """An 8-byte folder/message id as the u64 the ROP buffers carry (little-endian)."""
    raw = REPL_ID.to_bytes(2, "little") + counter.to_bytes(6, "big")
    return int.from_bytes(raw, "little")


@dataclass(frozen=True, slots=True)
class Message:
    mid: int
    props: dict[int, tuple[int, Value]]  # property id -> (property type, value)


@dataclass(frozen=True, slots=True)
class Folder:
    fid: int
    name: str
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class MailboxStore:
    mailbox: Mailbox
    folders: tuple[Folder, ...]  # the 13 special folders, in RopLogon order
    repl_guid: uuid.UUID

    @property
    def folder_ids(self) -> tuple[int, ...]:
        return tuple(f.fid for f in self.folders)

    @property
    def inbox(self) -> Folder:
        return self.folders[INBOX_INDEX]

    def folder(self, fid: int) -> Folder | None:
        return next((f for f in self.folders if f.fid == fid), None)


def _message(item: InboxItem, mid: int, fid: int) -> Message:
    i64, i32 = PropertyType.PtypInteger64, PropertyType.PtypInteger32
    props: dict[int, tuple[int, Value]] = {
        PID_MID: (i64, mid), PID_INST_ID: (i64, mid), PID_FID: (i64, fid),
        PID_INSTANCE_NUM: (i32, 0)}

    def put(pids: Sequence[int], ptype: int, value: Value | None) -> None:
        if value is not None:
            for pid in pids:
                props[pid] = (ptype, value)

    string, time = PropertyType.PtypString, PropertyType.PtypTime
    put((PID_SUBJECT, PID_NORMALIZED_SUBJECT, PID_CONVERSATION_TOPIC), string, item.subject)
    put((PID_SENDER_NAME, PID_SENT_REPRESENTING_NAME), string, item.sender_name)
    put((PID_SENDER_EMAIL,), string, item.sender_email)
    put((PID_CLASS,), string, item.message_class)
    if item.received is not None:
        stamp = datetime_to_filetime(item.received)
        put((PID_DELIVERY_TIME, PID_SUBMIT_TIME, PID_CREATION_TIME, PID_MODIFIED), time, stamp)
    put((PID_SIZE,), PropertyType.PtypInteger32, item.size)
    put((PID_IMPORTANCE,), PropertyType.PtypInteger32, item.importance)
    put((PID_HAS_ATTACH,), PropertyType.PtypBoolean, item.has_attachments)
    if item.read is not None:
        flags = (MSGFLAG_READ if item.read else 0) | (
            MSGFLAG_HASATTACH if item.has_attachments else 0)
        put((PID_FLAGS,), PropertyType.PtypInteger32, flags)
    return Message(mid, props)


def build_store(mailbox: Mailbox) -> MailboxStore:
    """The mailbox as ROPs see it; only the Inbox has messages."""
    folders = []
    for n, name in enumerate(FOLDER_NAMES):
        fid = store_id(n + 1)
        messages: tuple[Message, ...] = ()
        if n == INBOX_INDEX:
            messages = tuple(_message(item, store_id(FIRST_MESSAGE_COUNTER + k), fid)
                             for k, item in enumerate(mailbox.inbox))
        folders.append(Folder(fid, name, messages))
    repl_guid = uuid.uuid5(mailbox.guid, "replica")
    return MailboxStore(mailbox, tuple(folders), repl_guid)


def _truncate(text: str) -> str:
    """At most 510 bytes of UTF-16, never splitting a surrogate pair."""
    units = text.encode("utf-16-le")
    if len(units) <= MAX_CELL_BYTES:
        return text
    cut = MAX_CELL_BYTES
    if 0xD8 <= units[cut - 1] <= 0xDB:  # high surrogate left without its partner
        cut -= 2
    return units[:cut].decode("utf-16-le")


def _string8(text: str, code_page: int) -> str:
    """A PtypString8 value: the text as the logon code page can carry it ('?' otherwise)."""
    codec = code_page_codec(code_page)
    return text.encode(codec, "replace")[: MAX_CELL_BYTES - 1].decode(codec, "ignore")


def cell(message: Message, tag: int, code_page: int) -> Cell:
    """The value of column ``tag`` for ``message``, or ecNotFound when it has none."""
    pid, wanted = tag >> 16, tag & 0xFFFF
    stored = message.props.get(pid)
    if stored is None:
        return PropertyError(tag, ErrorCode.ecNotFound)
    ptype, value = stored
    if ptype == PropertyType.PtypString and isinstance(value, str):
        if wanted == PropertyType.PtypString:
            return PropertyValue(tag, _truncate(value))
        if wanted == PropertyType.PtypString8:
            return PropertyValue(tag, _string8(value, code_page))
    if wanted != ptype:
        return PropertyError(tag, ErrorCode.ecNotFound)
    return PropertyValue(tag, value)


def row(message: Message, columns: Sequence[int], code_page: int) -> PropertyRow:
    """StandardPropertyRow when every column has a value, else FlaggedPropertyRow."""
    cells = tuple(cell(message, tag, code_page) for tag in columns)
    flagged = not all(isinstance(c, PropertyValue) for c in cells)
    return PropertyRow(flagged, cells)


def sort_key(message: Message, *, pid: int) -> tuple[int, object]:
    """Missing values sort before every present one (MAPI's NULL), like Exchange."""
    stored = message.props.get(pid)
    if stored is None:
        return (0, 0)
    value = stored[1]
    return (1, value.casefold() if isinstance(value, str) else value)

