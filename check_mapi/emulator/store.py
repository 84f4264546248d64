"""The mailbox model: special folder ids, the configured messages, and messages as rows.

Folder and message ids are [MS-OXCDATA] 2.2.1.1 ids: ReplicaId u16 (1 here) followed by a
6-byte GlobalCounter stored big-endian, the order Exchange uses. The 13 special folders of
RopLogon ([MS-OXCSTOR] 2.2.1.1.3) get counters 1..13, so the Inbox id is bytes
``01 00 00 00 00 00 00 05`` (the value ruler's captured requests carry); Drafts, which
RopLogon does not list (clients find it in the hierarchy table), gets 14. Messages of the
folder with counter c get counters from ``0x10001 + (c << 24)`` (the Inbox's from
0x10001): unique in the store.
"""

from __future__ import annotations

import threading
import uuid
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from ..wire import (
    Cell,
    ErrorCode,
    PropertyError,
    PropertyRow,
    PropertyType,
    PropertyValue,
    Value,
    Writer,
    code_page_codec,
    datetime_to_filetime,
    write_row,
)
from .config import Mailbox
from .items import InboxItem, generated_filetime, generated_size
from .tables import LazyTuple

REPL_ID = 0x0001
FOLDER_NAMES = ("Root", "Deferred Action", "Spooler Queue", "Top of Information Store",
                "Inbox", "Outbox", "Sent Items", "Deleted Items", "Common Views", "Schedule",
                "Finder", "Views", "Shortcuts")
INBOX_INDEX = 4
ROOT, IPM_SUBTREE = 1, 4  # counters of the Root folder and of Top of Information Store
# folder name -> counter of its parent folder (the rest are children of the Root)
IPM_FOLDERS = {"Inbox": IPM_SUBTREE, "Outbox": IPM_SUBTREE, "Sent Items": IPM_SUBTREE,
               "Deleted Items": IPM_SUBTREE, "Drafts": IPM_SUBTREE}
# config key ([[mailbox.<key>]], config.OTHER_FOLDERS) -> folder name
CONFIG_FOLDERS = {"outbox": "Outbox", "sent": "Sent Items", "deleted": "Deleted Items",
                  "drafts": "Drafts"}
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


Step = tuple[int, bool]  # one stable sort: (property id, descending)
MAX_CACHED_ORDERS = 32  # sorted orders kept per folder (a table's sort history is the key)
MAX_CACHED_ROWS = 4096  # encoded rows kept per folder


def store_id(counter: int) -> int:
    """An 8-byte folder/message id as the u64 the ROP buffers carry (little-endian)."""
    raw = REPL_ID.to_bytes(2, "little") + counter.to_bytes(6, "big")
    return int.from_bytes(raw, "little")


def _counter(object_id: int) -> int | None:
    """The GlobalCounter of one of our ids, or None if ``object_id`` is not ours."""
    raw = object_id.to_bytes(8, "little")
    if int.from_bytes(raw[:2], "little") != REPL_ID:
        return None
    return int.from_bytes(raw[2:], "big")


@dataclass(frozen=True, slots=True)
class Message:
    mid: int
    props: dict[int, tuple[int, Value]]  # property id -> (property type, value)


def _filetime(item: InboxItem) -> int | None:
    return None if item.received is None else datetime_to_filetime(item.received)


def _flags(item: InboxItem) -> int | None:
    if item.read is None:
        return None
    return (MSGFLAG_READ if item.read else 0) | (MSGFLAG_HASATTACH if item.has_attachments else 0)


_STRING, _TIME = PropertyType.PtypString, PropertyType.PtypTime
_I32, _I64 = PropertyType.PtypInteger32, PropertyType.PtypInteger64
# property id -> (stored type, its value from the item; None: the message lacks it)
_ITEM_PROPS: dict[int, tuple[int, Callable[[InboxItem], Value | None]]] = {
    **dict.fromkeys((PID_SUBJECT, PID_NORMALIZED_SUBJECT, PID_CONVERSATION_TOPIC),
                    (_STRING, attrgetter("subject"))),
    **dict.fromkeys((PID_SENDER_NAME, PID_SENT_REPRESENTING_NAME),
                    (_STRING, attrgetter("sender_name"))),
    PID_SENDER_EMAIL: (_STRING, attrgetter("sender_email")),
    PID_CLASS: (_STRING, attrgetter("message_class")),
    **dict.fromkeys((PID_DELIVERY_TIME, PID_SUBMIT_TIME, PID_CREATION_TIME, PID_MODIFIED),
                    (_TIME, _filetime)),
    PID_SIZE: (_I32, attrgetter("size")),
    PID_IMPORTANCE: (_I32, attrgetter("importance")),
    PID_HAS_ATTACH: (PropertyType.PtypBoolean, attrgetter("has_attachments")),
    PID_FLAGS: (_I32, _flags),
}


# property id -> its value for generated item n, computed without making the item
_GENERATED_VALUES: dict[int, Callable[[int], int]] = {
    **dict.fromkeys((PID_DELIVERY_TIME, PID_SUBMIT_TIME, PID_CREATION_TIME, PID_MODIFIED),
                    generated_filetime),
    PID_SIZE: generated_size,
}


def _key(value: Value | None) -> tuple[int, object]:
    """Missing values sort before every present one (MAPI's NULL), like Exchange."""
    if value is None:
        return (0, 0)
    return (1, value.casefold() if isinstance(value, str) else value)


class Contents:
    """A folder's messages, made from the configured items only when a request reads them,
    with what every table of the folder shares: sorted orders and encoded rows.

    Sorting 100 000 items on every Inbox request made the emulator slow where Exchange is
    not; each order is computed once (per sort history) and rows are encoded once, so a
    request costs the rows it reads. Thread-safe: sessions run on their own threads.
    """

    def __init__(self, items: Sequence[InboxItem], fid: int,
                 first: int = FIRST_MESSAGE_COUNTER) -> None:
        self.items, self.fid, self.first = items, fid, first
        self._lock = threading.Lock()
        self._orders: dict[tuple[Step, ...], Sequence[int]] = {(): range(len(items))}
        self._rows: dict[tuple[int, tuple[int, ...], int], tuple[PropertyRow, bytes]] = {}
        self._unread: int | None = None

    def __len__(self) -> int:
        return len(self.items)

    def mid(self, index: int) -> int:
        return store_id(self.first + index)

    def index_of(self, mid: int) -> int | None:
        """The position of message ``mid`` in the folder, None if it is not here."""
        counter = _counter(mid) if 0 <= mid <= 0xFFFFFFFFFFFFFFFF else None
        index = -1 if counter is None else counter - self.first
        return index if 0 <= index < len(self.items) else None

    def message(self, index: int) -> Message:
        mid = self.mid(index)
        props: dict[int, tuple[int, Value]] = {
            PID_MID: (_I64, mid), PID_INST_ID: (_I64, mid), PID_FID: (_I64, self.fid),
            PID_INSTANCE_NUM: (_I32, 0)}
        item = self.items[index]
        for pid, (ptype, value_of) in _ITEM_PROPS.items():
            value = value_of(item)
            if value is not None:
                props[pid] = (ptype, value)
        return Message(mid, props)

    def order(self, steps: tuple[Step, ...]) -> Sequence[int]:
        """Message positions after the stable sorts ``steps``, applied to folder order."""
        with self._lock:
            done = len(steps)
            while steps[:done] not in self._orders:
                done -= 1
            order = self._orders[steps[:done]]
            for n in range(done, len(steps)):
                keys = self._keys(steps[n][0])
                order = array("L", sorted(order, key=keys.__getitem__, reverse=steps[n][1]))
                if len(self._orders) >= MAX_CACHED_ORDERS:
                    del self._orders[next(k for k in self._orders if k)]
                self._orders[steps[: n + 1]] = order
            return order

    def _keys(self, pid: int) -> list[tuple[int, object]]:
        """The sort key of every message for property ``pid``, by position."""
        if pid in (PID_MID, PID_INST_ID):
            return [(1, self.mid(n)) for n in range(len(self.items))]
        if pid in (PID_FID, PID_INSTANCE_NUM):
            value = self.fid if pid == PID_FID else 0
            return [(1, value)] * len(self.items)
        value_of = _ITEM_PROPS.get(pid, (0, lambda item: None))[1]
        items, fast = self.items, _GENERATED_VALUES.get(pid)
        if fast is not None and isinstance(items, LazyTuple):
            return ([_key(value_of(item)) for item in items.head]
                    + [(1, fast(n)) for n in range(items.generated)])
        return [_key(value_of(item)) for item in items]

    def row(self, index: int, columns: tuple[int, ...], code_page: int
            ) -> tuple[PropertyRow, bytes]:
        """Row ``index`` with ``columns``, and its encoding (made once, then reused)."""
        cache_key = (index, columns, code_page)
        with self._lock:
            cached = self._rows.get(cache_key)
        if cached is None:
            made = row(self.message(index), columns, code_page)
            cached = (made, write_row(Writer(), made, code_page).getvalue())
            with self._lock:
                if len(self._rows) >= MAX_CACHED_ROWS:
                    del self._rows[next(iter(self._rows))]
                self._rows[cache_key] = cached
        return cached


    def unread(self) -> int:
        """PidTagContentUnreadCount: the items declared ``read = false`` (counted once)."""
        if self._unread is None:
            self._unread = sum(1 for item in self.items if item.read is False)
        return self._unread


@dataclass(frozen=True, slots=True, eq=False)
class Folder:
    fid: int
    name: str
    contents: Contents
    parent: int = 0  # the parent's folder id; 0 for the Root


@dataclass(frozen=True, slots=True, eq=False)
class MailboxStore:
    mailbox: Mailbox
    folders: tuple[Folder, ...]  # the 13 special folders in RopLogon order, then Drafts
    repl_guid: uuid.UUID

    @property
    def folder_ids(self) -> tuple[int, ...]:
        """RopLogon's FolderIds: the 13 special folders."""
        return tuple(f.fid for f in self.folders[: len(FOLDER_NAMES)])

    @property
    def inbox(self) -> Folder:
        return self.folders[INBOX_INDEX]

    def folder(self, fid: int) -> Folder | None:
        return next((f for f in self.folders if f.fid == fid), None)

    def children(self, folder: Folder) -> tuple[Folder, ...]:
        return tuple(f for f in self.folders if f.parent == folder.fid)


def build_store(mailbox: Mailbox) -> MailboxStore:
    """The mailbox as ROPs see it: the Inbox and the folders of CONFIG_FOLDERS have the
    configured messages (made when read)."""
    items: dict[str, Sequence[InboxItem]] = {
        CONFIG_FOLDERS[key]: declared for key, declared in mailbox.folders}
    items["Inbox"] = mailbox.inbox
    folders = []
    for n, name in enumerate((*FOLDER_NAMES, "Drafts")):
        fid = store_id(n + 1)
        parent = 0 if n + 1 == ROOT else store_id(IPM_FOLDERS.get(name, ROOT))
        first = FIRST_MESSAGE_COUNTER + (0 if n == INBOX_INDEX else (n + 1) << 24)
        folders.append(Folder(fid, name, Contents(items.get(name, ()), fid, first), parent))
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
