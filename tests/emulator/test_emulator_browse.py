"""Browsing what the configuration declares, as clients other than the probe do: the
folder hierarchy, folder and message properties, other default folders (Sent Items), ruler's
``check --last`` sequence, and a ROP the emulator does not model inside an Execute."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from check_mapi.emulator import Emulator, example_config, loads
from check_mapi.errors import ConfigError
from check_mapi.wire import (
    PS_MAPI,
    PropertyError,
    PropertyName,
    PropertyRow,
    PropertyValue,
    RopGetContentsTableRequest,
    RopGetHierarchyTableRequest,
    RopGetNamesFromPropertyIdsRequest,
    RopGetNamesFromPropertyIdsResponse,
    RopGetPropertiesAllRequest,
    RopGetPropertiesAllResponse,
    RopGetPropertiesListRequest,
    RopGetPropertiesListResponse,
    RopGetPropertiesSpecificRequest,
    RopGetPropertiesSpecificResponse,
    RopOpenFolderRequest,
    RopOpenMessageRequest,
    RopOpenMessageResponse,
    RopQueryRowsRequest,
    RopQueryRowsResponse,
    RopSetColumnsRequest,
    TypedString,
    datetime_to_filetime,
)

from ..conftest import Emulators
from .emu_helpers import BASE_CONFIG, NO_HANDLE, Mapi, client

ROOT, IPM, INBOX, SENT, DRAFTS = (int.from_bytes(b"\x01\x00" + n.to_bytes(6, "big"), "little")
                                  for n in (1, 4, 5, 7, 14))
SENT_ITEMS = '''
[[mailbox.sent]]
subject = "Re: Quarterly report"
sender_name = "Probe Ünïcode"
received = 2026-01-16T09:00:00Z
size = 4096
read = true

[[mailbox.sent]]
subject = "Older reply"
received = 2026-01-10T09:00:00Z

[[mailbox.drafts]]
subject = "Unfinished ✓"

[[mailbox]]
smtp = "other@'''
CONFIG = BASE_CONFIG.replace('[[mailbox]]\nsmtp = "other@', SENT_ITEMS, 1)
DISPLAY_NAME, CONTENT_COUNT, UNREAD, SUBFOLDERS = 0x3001001F, 0x36020003, 0x36030003, 0x360A000B
FID, MID, SUBJECT, SUBMIT_TIME = 0x67480014, 0x674A0014, 0x0037001F, 0x00390040


@pytest.fixture
def mapi(start: Emulators) -> Iterator[tuple[Mapi, int]]:
    emu: Emulator = start(CONFIG)
    m = Mapi(client(), emu.mapi_url("probe@contoso.test"))
    m.connect()
    _, logon = m.logon()
    yield m, logon
    m.close()


def sent_mid(position: int) -> int:
    """Sent Items (counter 7) numbers its messages from 0x10001 + (7 << 24)."""
    return int.from_bytes(b"\x01\x00" + (0x10001 + (7 << 24) + position).to_bytes(6, "big"),
                          "little")


def test_hierarchy_of_the_ipm_subtree(mapi: tuple[Mapi, int]) -> None:
    m, logon = mapi
    columns = (DISPLAY_NAME, CONTENT_COUNT, UNREAD, SUBFOLDERS)
    response, _ = m.execute([RopOpenFolderRequest(0, 0, 1, IPM, 0),
                             RopGetHierarchyTableRequest(0, 1, 2, 0x40),
                             RopSetColumnsRequest(0, 2, 0, columns),
                             RopQueryRowsRequest(0, 2, 0, 1, 10)],
                            [logon, NO_HANDLE, NO_HANDLE], columns)
    table, query = response.rops[1], response.rops[3]
    assert table.row_count == 5  # type: ignore[attr-defined]
    assert isinstance(query, RopQueryRowsResponse)
    assert [tuple(c.value for c in r.cells) for r in query.rows] == [  # type: ignore[union-attr]
        ("Inbox", 4, 2, False), ("Outbox", 0, 0, False), ("Sent Items", 2, 0, False),
        ("Deleted Items", 0, 0, False), ("Drafts", 1, 0, False)]


def test_root_hierarchy_with_depth_has_every_folder(mapi: tuple[Mapi, int]) -> None:
    m, logon = mapi
    response, _ = m.execute([RopOpenFolderRequest(0, 0, 1, ROOT, 0),
                             RopGetHierarchyTableRequest(0, 1, 2, 0x04),
                             RopGetHierarchyTableRequest(0, 1, 2, 0x00)],
                            [logon, NO_HANDLE, NO_HANDLE])
    assert [r.row_count for r in response.rops[1:]] == [13, 8]  # type: ignore[attr-defined]


def test_folder_properties(mapi: tuple[Mapi, int]) -> None:
    m, logon = mapi
    tags = (DISPLAY_NAME, CONTENT_COUNT, UNREAD, FID, 0x0E080003)
    response, answer = m.execute([RopOpenFolderRequest(0, 0, 1, INBOX, 0),
                                  RopGetPropertiesSpecificRequest(0, 1, 0, 1, tags)],
                                 [logon, NO_HANDLE], tags)
    props = response.rops[1]
    assert props == RopGetPropertiesSpecificResponse(1, PropertyRow(True, (
        PropertyValue(DISPLAY_NAME, "Inbox"), PropertyValue(CONTENT_COUNT, 4),
        PropertyValue(UNREAD, 2), PropertyValue(FID, INBOX),
        PropertyError(0x0E080003, 0x8004010F))))  # a folder has no PidTagMessageSize
    # hand-decoded: after OpenFolder's 8 bytes, the head and a FlaggedPropertyRow (flag 01)
    assert answer.body[34:52] == bytes.fromhex("07 01 00000000 01 00") + "Inbox".encode(
        "utf-16-le")


def test_ruler_check_last_reads_the_last_sent_message(mapi: tuple[Mapi, int]) -> None:
    """ruler's checkLastSent (ruler.go): Sent Items' contents, one row of Subject and Mid;
    OpenMessage + GetPropertiesList; OpenMessage + GetNamesFromPropertyIds; OpenMessage +
    GetPropertiesSpecific of what it found (PidTagClientSubmitTime)."""
    m, logon = mapi
    columns = (SUBJECT, MID, 0x80C7001E)
    response, _ = m.execute([RopOpenFolderRequest(0x0C, 0, 1, SENT, 0),
                             RopGetContentsTableRequest(0x0C, 1, 2, 0x40),
                             RopSetColumnsRequest(0x0C, 2, 0, columns),
                             RopQueryRowsRequest(0x0C, 2, 0, 1, 1)],
                            [logon, NO_HANDLE, NO_HANDLE], columns)
    (row,) = response.rops[3].rows  # type: ignore[attr-defined]
    assert row.cells[:2] == (PropertyValue(SUBJECT, "Re: Quarterly report"),
                             PropertyValue(MID, sent_mid(0)))
    opened = RopOpenMessageRequest(0x0C, 0, 1, 0x0FFF, SENT, 0x03, sent_mid(0))
    listed, _ = m.execute([opened, RopGetPropertiesListRequest(0x0C, 1)], [logon, NO_HANDLE])
    assert listed.rops[0] == RopOpenMessageResponse(1, False, TypedString(1, ""),
                                                    TypedString(4, "Re: Quarterly report"))
    tags = listed.rops[1]
    assert isinstance(tags, RopGetPropertiesListResponse) and SUBMIT_TIME in tags.property_tags
    ids = tuple(tag >> 16 for tag in tags.property_tags)
    named, _ = m.execute([opened, RopGetNamesFromPropertyIdsRequest(0x0C, 1, ids)],
                         [logon, NO_HANDLE])
    assert named.rops[1] == RopGetNamesFromPropertyIdsResponse(
        1, tuple(PropertyName(0x00, PS_MAPI, lid=pid) for pid in ids))
    got, _ = m.execute([opened, RopGetPropertiesSpecificRequest(0x0C, 1, 0, 1, (SUBMIT_TIME,))],
                       [logon, NO_HANDLE], (SUBMIT_TIME,))
    sent_at = CONFIG_ITEMS.mailboxes[0].folders[1][1][0].received
    assert got.rops[1] == RopGetPropertiesSpecificResponse(1, PropertyRow(False, (
        PropertyValue(SUBMIT_TIME, datetime_to_filetime(sent_at)),)))  # type: ignore[arg-type]


def test_properties_all_of_a_message_in_unicode_and_in_the_code_page(
        mapi: tuple[Mapi, int]) -> None:
    m, logon = mapi
    drafts_mid = int.from_bytes(b"\x01\x00" + (0x10001 + (14 << 24)).to_bytes(6, "big"),
                                "little")
    opened = RopOpenMessageRequest(0, 0, 1, 0x0FFF, DRAFTS, 0, drafts_mid)
    response, _ = m.execute([opened, RopGetPropertiesAllRequest(0, 1, 0, 1),
                             RopGetPropertiesAllRequest(0, 1, 0, 0)], [logon, NO_HANDLE])
    unicode, eight = response.rops[1:]
    assert isinstance(unicode, RopGetPropertiesAllResponse)
    assert isinstance(eight, RopGetPropertiesAllResponse)
    assert PropertyValue(SUBJECT, "Unfinished ✓") in unicode.values
    assert PropertyValue(0x0037001E, "Unfinished ?") in eight.values  # no ✓ in 1252


def test_a_rop_not_modelled_is_answered_after_the_ones_before_it(
        mapi: tuple[Mapi, int]) -> None:
    """RopGetOwningServers (0x42, not modelled): RopOpenFolder is answered, then 0x42 fails
    with ecNotSupported; the RopQueryRows after it cannot be told apart from its bytes."""
    m, logon = mapi
    ropslist = (bytes.fromhex("02 00 00 01") + INBOX.to_bytes(8, "little") + b"\x00"
                + bytes.fromhex("42 00 01 15 00 01 00 01 0100"))
    payload = (2 + len(ropslist)).to_bytes(2, "little") + ropslist + logon.to_bytes(
        4, "little") + NO_HANDLE.to_bytes(4, "little")
    size = len(payload).to_bytes(2, "little")
    rop_buffer = b"\x00\x00\x04\x00" + size + size + payload
    body = (3).to_bytes(4, "little") + len(rop_buffer).to_bytes(4, "little") + rop_buffer + (
        0x10008).to_bytes(4, "little") + bytes(4)
    answer = m.post("Execute", body)
    assert answer.code == 0
    assert answer.body[:8] == bytes(8)  # StatusCode 0, ErrorCode 0: not ecRpcFormat
    assert answer.body[24:40] == bytes.fromhex(
        "1000"                 # RopSize: 2 + 8 + 6
        "02 01 00000000 00 00"  # RopOpenFolder(Inbox)
        "42 01 02010480")      # RopGetOwningServers: ecNotSupported; nothing after it


def test_other_folders_in_the_configuration() -> None:
    mailbox = CONFIG_ITEMS.mailboxes[0]
    assert [(key, len(items)) for key, items in mailbox.folders] == [
        ("outbox", 0), ("sent", 2), ("deleted", 0), ("drafts", 1)]
    with pytest.raises(ConfigError, match=r"mailbox\[0\]\.sent\[0\]\.subjekt: unknown key"):
        loads(CONFIG.replace('subject = "Re: Quarterly report"', 'subjekt = "x"'))
    with pytest.raises(ConfigError, match=r"mailbox\[0\]\.deleted: must be an array"):
        loads(CONFIG.replace("[[mailbox.drafts]]", "[mailbox.deleted]\n[[mailbox.drafts]]"))


CONFIG_ITEMS = loads(CONFIG)


def test_the_example_declares_a_sent_item() -> None:
    sent = dict(loads(example_config()).mailboxes[0].folders)["sent"]
    assert [item.subject for item in sent] == ["Re: Quarterly report Q3 (Zürich)"]
