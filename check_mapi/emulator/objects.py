"""Server objects of a Session Context and their handles ([MS-OXCROPS] 3.2.5.1).

Handle numbering: per logon, ``(LogonId << 24) + n``. The logon object is n = 0
(0x0C000000 for LogonId 0x0C) and every object opened through that logon takes the next n
(0x0C000001, 0x0C000002, ...). The spec leaves the values to the server and Exchange's
scheme is not documented; this one is chosen because it keeps every known client
working. ruler (sensepost/ruler, written against real Exchange) never reads
the handle table for the logon or its first folder: it puts 0x0C000000 in slot 0 as the
logon, and its rules listing (``display``: RopGetRulesTable on slot 0) puts 0x0C000001
there as "the folder it opened first" (the Inbox, right after logon). Numbering objects per
session from 0x101 made that listing fail with ecNullObject; clients that do read the table
(the probe, Outlook, MAPI Inspector's examples) work with any numbering. Objects of one
logon stay in its range, so releasing a logon frees exactly that range; 0xFFFFFFFF (no
handle) is never given out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .store import Contents, Folder, Step

NO_HANDLE = 0xFFFFFFFF
PER_LOGON = 0x1000000  # handles of one logon: (LogonId << 24) .. + 0xFFFFFF


@dataclass(slots=True)
class LogonObject:
    logon_id: int


@dataclass(slots=True)
class FolderObject:
    logon_id: int
    folder: Folder


@dataclass(slots=True)
class TableObject:
    """A table: its rows are ``contents``' messages in ``order`` (positions in the folder),
    the result of the sorts ``steps``; orders are shared between tables (store.Contents)."""

    logon_id: int
    kind: str  # "contents" or "rules"
    contents: Contents
    columns: tuple[int, ...] | None = None
    cursor: int = 0
    steps: tuple[Step, ...] = ()
    order: Sequence[int] = field(init=False)

    def __post_init__(self) -> None:
        self.order = self.contents.order(())


@dataclass(slots=True)
class MessageObject:
    """RopOpenMessage: message ``index`` of ``folder`` (read-only here)."""

    logon_id: int
    folder: Folder
    index: int


ServerObject = LogonObject | FolderObject | TableObject | MessageObject


@dataclass(slots=True)
class ObjectTable:
    """Live objects of one session by handle; Disconnect or expiry drops them all."""

    objects: dict[int, ServerObject] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)  # LogonId -> last n given out

    def add(self, obj: ServerObject) -> int:
        base = obj.logon_id << 24
        if isinstance(obj, LogonObject):
            self.release(base)  # a second RopLogon with the same LogonId replaces it
            self.counters[obj.logon_id] = 0
            self.objects[base] = obj
            return base
        n = self.counters.get(obj.logon_id, 0)
        while True:  # the next free n of this logon (wraps after 0xFFFFFF objects)
            n = n % (PER_LOGON - 1) + 1
            handle = base + n
            if handle not in self.objects and handle != NO_HANDLE:
                break
        self.counters[obj.logon_id] = n
        self.objects[handle] = obj
        return handle

    def get(self, handle: int) -> ServerObject | None:
        return self.objects.get(handle)

    def release(self, handle: int) -> None:
        """RopRelease; releasing a logon also frees every object opened through it."""
        obj = self.objects.pop(handle, None)
        if isinstance(obj, LogonObject):
            for other in [h for h, o in self.objects.items() if o.logon_id == obj.logon_id]:
                del self.objects[other]

    def __len__(self) -> int:
        return len(self.objects)
