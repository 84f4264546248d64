"""Properties of the objects a client opens: the store (its logon), folders and messages.

What RopGetPropertiesSpecific/All/List and RopGetNamesFromPropertyIds ([MS-OXCPRPT] 3.2.5)
and the hierarchy table ([MS-OXCFOLD] 3.2.5.13) show. A folder has the properties
[MS-OXCFOLD] 2.2.2.2 lists that a client reads to browse (ids, name, counts, class); a
message has those of its configured item (store.Message); the store those of
[MS-OXCSTOR] 2.2.2.1 that name its owner. Every property here is a standard one (id below
0x8000), so each is named by PS_MAPI and its id ([MS-OXCPRPT] 3.2.5.9).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from ..wire import (
    KIND_NONE,
    MNID_ID,
    PS_MAPI,
    PropertyName,
    PropertyRow,
    PropertyType,
    PropertyValue,
    Value,
)
from .objects import FolderObject, LogonObject, MessageObject, ServerObject
from .store import (
    IPM_FOLDERS,
    PID_FID,
    Contents,
    Folder,
    MailboxStore,
    Message,
    Step,
    cell,
    row,
)

PID_DISPLAY_NAME, PID_CONTENT_COUNT, PID_CONTENT_UNREAD, PID_SUBFOLDERS = (
    0x3001, 0x3602, 0x3603, 0x360A)
PID_FOLDER_TYPE, PID_CONTAINER_CLASS, PID_PARENT_FID, PID_CHILD_COUNT = (
    0x3601, 0x3613, 0x6749, 0x6638)
PID_OWNER_NAME = 0x661A  # PidTagMailboxOwnerName
FOLDER_GENERIC, FOLDER_ROOT = 1, 0  # PidTagFolderType
HIERARCHY_DEPTH = 0x04  # RopGetHierarchyTable TableFlags: every descendant, not only children
NO_NAME_GUID = uuid.UUID(int=0)

_STRING, _I32, _I64 = PropertyType.PtypString, PropertyType.PtypInteger32, \
    PropertyType.PtypInteger64
Bag = dict[int, tuple[int, Value]]  # property id -> (stored type, value)


def folder_bag(store: MailboxStore, folder: Folder) -> Bag:
    children = store.children(folder)
    bag: Bag = {
        PID_FID: (_I64, folder.fid), PID_DISPLAY_NAME: (_STRING, folder.name),
        PID_CONTENT_COUNT: (_I32, len(folder.contents)),
        PID_CONTENT_UNREAD: (_I32, folder.contents.unread()),
        PID_SUBFOLDERS: (PropertyType.PtypBoolean, bool(children)),
        PID_CHILD_COUNT: (_I32, len(children)),
        PID_FOLDER_TYPE: (_I32, FOLDER_GENERIC if folder.parent else FOLDER_ROOT)}
    if folder.parent:
        bag[PID_PARENT_FID] = (_I64, folder.parent)
    if folder.name in IPM_FOLDERS:
        bag[PID_CONTAINER_CLASS] = (_STRING, "IPF.Note")
    return bag


def bag_of(store: MailboxStore, obj: ServerObject) -> Bag | None:
    """The properties of an opened object; None for a table (it has no properties)."""
    if isinstance(obj, LogonObject):
        name = store.mailbox.display_name
        return {PID_DISPLAY_NAME: (_STRING, name), PID_OWNER_NAME: (_STRING, name)}
    if isinstance(obj, FolderObject):
        return folder_bag(store, obj.folder)
    if isinstance(obj, MessageObject):
        return obj.folder.contents.message(obj.index).props
    return None


def specific(bag: Bag, tags: Sequence[int], code_page: int) -> PropertyRow:
    """RopGetPropertiesSpecific RowData: the tags asked for, ecNotFound for the others."""
    return row(Message(0, bag), tags, code_page)


def every(bag: Bag, want_unicode: bool, code_page: int) -> tuple[PropertyValue, ...]:
    """RopGetPropertiesAll: strings in UTF-16 if asked for, else in the logon code page
    (long strings cut as in table rows)."""
    message, values = Message(0, bag), []
    for pid, (ptype, _) in sorted(bag.items()):
        wanted = PropertyType.PtypString8 if ptype == _STRING and not want_unicode else ptype
        value = cell(message, pid << 16 | wanted, code_page)
        assert isinstance(value, PropertyValue)  # the bag has it, in a type it converts to
        values.append(value)
    return tuple(values)


def tags_of(bag: Bag) -> tuple[int, ...]:
    """RopGetPropertiesList: the tags, with the types the properties are stored with."""
    return tuple(pid << 16 | ptype for pid, (ptype, _) in sorted(bag.items()))


def names(property_ids: Sequence[int]) -> tuple[PropertyName, ...]:
    """Standard ids (below 0x8000) are named by PS_MAPI and the id itself; this store has
    no named properties, so a higher id has no name (Kind 0xFF)."""
    return tuple(PropertyName(MNID_ID, PS_MAPI, lid=pid) if pid < 0x8000
                 else PropertyName(KIND_NONE, NO_NAME_GUID) for pid in property_ids)


def descendants(store: MailboxStore, folder: Folder, depth: bool) -> tuple[Folder, ...]:
    """The folders of a hierarchy table: the children, or every descendant (depth first)."""
    found: list[Folder] = []
    for child in store.children(folder):
        found.append(child)
        if depth:
            found.extend(descendants(store, child, depth))
    return tuple(found)


class FolderRows(Contents):
    """The rows of a hierarchy table: folders in place of messages, with the same sorting
    and row encoding as a contents table."""

    def __init__(self, store: MailboxStore, folders: Sequence[Folder], fid: int) -> None:
        super().__init__((), fid)
        self.bags = tuple(folder_bag(store, folder) for folder in folders)

    def __len__(self) -> int:
        return len(self.bags)

    def message(self, index: int) -> Message:
        return Message(0, self.bags[index])

    def order(self, steps: tuple[Step, ...]) -> Sequence[int]:
        order: Sequence[int] = range(len(self.bags))
        for pid, descending in steps:
            keys = [_key(bag.get(pid)) for bag in self.bags]
            order = sorted(order, key=keys.__getitem__, reverse=descending)
        return order


def _key(stored: tuple[int, Value] | None) -> tuple[int, object]:
    if stored is None:
        return (0, 0)
    value = stored[1]
    return (1, value.casefold() if isinstance(value, str) else value)
