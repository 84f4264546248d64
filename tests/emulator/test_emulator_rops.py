"""ROP semantics beyond the probe's path: other tables, object kinds, string forms, limits."""

from __future__ import annotations

import pytest

from check_mapi.emulator import Emulator
from check_mapi.wire import (
    ConnectRequest,
    ExecuteRequest,
    PropertyError,
    PropertyValue,
    RopBuffer,
    RopGetContentsTableRequest,
    RopOpenFolderRequest,
    RopQueryRowsRequest,
    RopQueryRowsResponse,
    RopReleaseRequest,
    RopRequest,
    RopSetColumnsRequest,
)
from check_mapi.wire.rop_requests import (
    RopGetHierarchyTableRequest,
    RopGetPropertiesListRequest,
    RopGetRulesTableRequest,
)

from ..conftest import Emulators
from .emu_helpers import NO_HANDLE, PASSWORD, RULER_DN, Mapi, client, emu, probe

__all__ = ["emu", "probe"]

INBOX = int.from_bytes(bytes.fromhex("0100000000000005"), "little")
SUBJECT8 = 0x0037001E


def rops_bytes(m: Mapi, rops: list[RopRequest], handles: list[int]) -> bytes:
    """The RopsList of the answer, cut by hand (the codec reads only the probe's ROPs)."""
    body = ExecuteRequest((RopBuffer(tuple(rops), tuple(handles)),)).encode()
    answer = m.post("Execute", body)
    assert answer.code == 0
    return answer.body[26:-4 - 4 * len(handles)]


def test_other_tables_and_object_kinds(probe: Mapi) -> None:
    probe.connect()
    _, logon = probe.logon()
    got = rops_bytes(probe, [
        RopOpenFolderRequest(0, 0, 1, INBOX, 0),
        RopGetRulesTableRequest(0, 1, 2, 0x40),
        RopSetColumnsRequest(0, 2, 0, (0x66740014,)),
        RopQueryRowsRequest(0, 2, 0, 1, 50),
        RopGetHierarchyTableRequest(0, 1, 3, 0x00),
        RopOpenFolderRequest(0, 0, 3, 0x4242, 0),
        RopGetContentsTableRequest(0, 0, 3, 0x40),
        RopGetPropertiesListRequest(0, 1),
        RopGetContentsTableRequest(0, 1, 3, 0x42),
        RopQueryRowsRequest(0, 3, 0, 1, 1),
    ], [logon, NO_HANDLE, NO_HANDLE, NO_HANDLE])
    assert got == bytes.fromhex(
        "02 01 00000000 00 00"     # OpenFolder(Inbox)
        "3f 02 00000000"           # GetRulesTable: an empty rules table
        "12 02 00000000 00"        # SetColumns
        "15 02 00000000 02 0000"   # QueryRows: no rules, BOOKMARK_END
        "04 03 00000000 00000000"  # GetHierarchyTable: the Inbox has no subfolders
        "02 03 0f010480"           # OpenFolder of an unknown id: ecNotFound
        "05 03 02010480"           # GetContentsTable on the logon: not a folder
        "09 01 00000000 0900"      # GetPropertiesList of the Inbox: 9 tags, by id
        "1f000130 03000136 03000236 03000336 0b000a36 1f001336 03003866 14004867 14004967"
        "05 03 00000000 00000000"  # Associated (FAI) contents: no rows
        "15 03 b9040000")          # QueryRows before SetColumns: ecNullObject


def test_releasing_the_logon_frees_its_objects(probe: Mapi) -> None:
    probe.connect()
    _, logon = probe.logon()
    got = rops_bytes(probe, [RopOpenFolderRequest(0, 0, 1, INBOX, 0), RopReleaseRequest(0, 0),
                             RopGetContentsTableRequest(0, 1, 2, 0x40)],
                     [logon, NO_HANDLE, NO_HANDLE])
    assert got == bytes.fromhex("02 01 00000000 00 00 05 02 b9040000")


def test_string8_columns_and_truncation_at_510_bytes(start: Emulators) -> None:
    long_subject = "x" * 254 + "🍕" + "tail"  # the pizza straddles byte 510
    emulator = start(f'''
[[mailbox]]
smtp = "s@contoso.test"
password = "{PASSWORD}"

[[mailbox.inbox]]
subject = "{long_subject}"

[[mailbox.inbox]]
subject = "Grüße ランチ"
''')
    with Mapi(client("s", PASSWORD), emulator.mapi_url("s@contoso.test")) as m:
        mailbox = emulator.config.by_smtp("s@contoso.test")
        assert mailbox is not None
        m.connect(mailbox.legacy_dn)
        _, logon = m.logon(mailbox.legacy_dn)
        columns = (0x0037001F, SUBJECT8, 0x0C1A001F)
        response, _ = m.execute([
            RopOpenFolderRequest(0, 0, 1, INBOX, 0), RopGetContentsTableRequest(0, 1, 2, 0x40),
            RopSetColumnsRequest(0, 2, 0, columns), RopQueryRowsRequest(0, 2, 0, 1, 5)],
            [logon, NO_HANDLE, NO_HANDLE], columns)
    rows = response.rops[3]
    assert isinstance(rows, RopQueryRowsResponse)
    first, second = rows.rows
    assert first.cells[0] == PropertyValue(0x0037001F, "x" * 254)  # 508 bytes, pair kept whole
    assert first.cells[1] == PropertyValue(SUBJECT8, "x" * 254 + "?tail")
    assert second.cells[:2] == (PropertyValue(0x0037001F, "Grüße ランチ"),
                                PropertyValue(SUBJECT8, "Grüße ???"))  # code page 1252
    assert second.cells[2] == PropertyError(0x0C1A001F, 0x8004010F)


def test_notification_wait_returns_at_once(probe: Mapi) -> None:
    probe.connect()
    answer = probe.post("NotificationWait", bytes(8))
    assert answer.code == 0
    assert answer.body == bytes(16)  # StatusCode, ErrorCode, EventPending 0, no aux


def test_emulator_handle(emu: Emulator) -> None:
    assert emu.autodiscover_url == f"{emu.url}/autodiscover/autodiscover.xml"
    with pytest.raises(KeyError):
        emu.mapi_url("nobody@contoso.test")
    idle = Emulator(emu.config)
    with pytest.raises(RuntimeError, match="not started"):
        _ = idle.url
    idle.stop()  # harmless when never started
    with Emulator(emu.config, port=0) as other:
        assert other.url != emu.url



@pytest.mark.parametrize(("code_page", "expected"), [
    (932, "Lunch? ? ランチ"), (65001, "Lunch? 🍕 ランチ"), (4242, "Lunch? ? ???")])
def test_string8_follows_the_connect_code_page(probe: Mapi, code_page: int,
                                               expected: str) -> None:
    answer = probe.post("Connect", ConnectRequest(RULER_DN, default_code_page=code_page).encode())
    assert answer.code == 0
    _, logon = probe.logon()
    response, _ = probe.execute([
        RopOpenFolderRequest(0, 0, 1, INBOX, 0), RopGetContentsTableRequest(0, 1, 2, 0x40),
        RopSetColumnsRequest(0, 2, 0, (SUBJECT8,)), RopQueryRowsRequest(0, 2, 0, 1, 2)],
        [logon, NO_HANDLE, NO_HANDLE], (SUBJECT8,),
        code_page=1252 if code_page == 4242 else code_page)  # unknown: served as 1252
    rows = response.rops[3]
    assert isinstance(rows, RopQueryRowsResponse)
    assert rows.rows[1].cells[0] == PropertyValue(SUBJECT8, expected)
