"""Server objects of a Session Context and their handles ([MS-OXCROPS] 3.2.5.1).

Handle numbering (a choice, documented in the README): a logon object's handle is its
LogonId in the top byte (``LogonId << 24``: 0x0C000000 for LogonId 0x0C), and every object
the session creates, the logon included, draws the next value of a per-session counter
that starts at 0x100; other objects use that value as their handle (0x101, 0x102, ...,
small numbers like the 0x223 of [MS-OXORULE] 4.2.1). ruler never reads the handle table
and puts 0x0C000000 in slot 0 of every later request, which works on Exchange; with this
numbering it works here too, and ruler's captured requests replay unchanged (their table
handle 0x103 is the fourth object of the session, as here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .store import Contents, Folder, Step

NO_HANDLE = 0xFFFFFFFF
FIRST_COUNTER = 0x100


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


ServerObject = LogonObject | FolderObject | TableObject


@dataclass(slots=True)
class ObjectTable:
    """Live objects of one session by handle; Disconnect or expiry drops them all."""

    objects: dict[int, ServerObject] = field(default_factory=dict)
    counter: int = FIRST_COUNTER - 1

    def add(self, obj: ServerObject) -> int:
        self.counter += 1
        handle = obj.logon_id << 24 if isinstance(obj, LogonObject) else self.counter
        if isinstance(obj, LogonObject):
            self.release(handle)  # a second RopLogon with the same LogonId replaces it
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
