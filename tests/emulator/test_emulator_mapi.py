"""The mailbox endpoint end to end over loopback: a whole probe, bytes checked by hand."""

from __future__ import annotations

import struct

import pytest

from check_mapi.emulator import Emulator
from check_mapi.wire import (
    ConnectRequest,
    ConnectResponse,
    DisconnectResponse,
    PropertyError,
    PropertyValue,
    RopGetContentsTableRequest,
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
    filetime_to_datetime,
)

from ..conftest import Emulators
from .emu_helpers import (
    BASE_CONFIG,
    COLUMNS,
    DELIVERY,
    NO_HANDLE,
    RULER_DN,
    SENDER,
    SUBJECT,
    Mapi,
    client,
    emu,
    probe,
)

__all__ = ["emu", "probe"]

INBOX_FID_BYTES = bytes.fromhex("0100000000000005")
INBOX = int.from_bytes(INBOX_FID_BYTES, "little")


def inbox_rops(rows: int = 10, descending: bool = True) -> list[RopRequest]:
    return [RopOpenFolderRequest(0, 0, 1, INBOX, 0), RopGetContentsTableRequest(0, 1, 2, 0x40),
            RopSetColumnsRequest(0, 2, 0, COLUMNS),
            RopSortTableRequest(0, 2, 0, 0, 0, (SortOrder(DELIVERY, int(descending)),)),
            RopQueryRowsRequest(0, 2, 0, 1, rows), RopReleaseRequest(0, 2),
            RopReleaseRequest(0, 1)]


def test_connect_bytes_and_headers(emu: Emulator, probe: Mapi) -> None:
    m = probe
    answer = m.post("Connect", ConnectRequest(RULER_DN).encode())
    r = answer.response
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/mapi-http"
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert r.headers["X-ResponseCode"] == "0"
    assert r.headers["X-ServerApplication"] == "Exchange/15.02.1544.004"
    assert r.headers["X-PendingPeriod"] == "50"
    assert r.headers["X-ExpirationInfo"] == "900000"
    assert r.headers["X-CalculatedBETarget"] == "exmbx07.contoso.test"
    assert r.headers["X-FEServer"] == "EXCAS07"
    assert r.headers["X-RequestType"] == "Connect"
    assert r.headers["X-RequestId"] == "{8A3E4F5B-2C1D-4E6F-9A8B-7C6D5E4F3A2B}:1"
    assert r.headers["X-ClientInfo"] == "{1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9}:1"
    cookies = r.headers.get_list("set-cookie")
    assert [c.split("=")[0] for c in cookies] == ["MapiContext", "MapiSequence"]
    assert all(c.endswith("; Path=/mapi/emsmdb/; HttpOnly") for c in cookies)  # no TLS
    raw = r.content
    assert raw.startswith(b"PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: ")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\r\nX-StartTime: " in head
    # StatusCode, ErrorCode, PollsMax, RetryCount, RetryDelay, then DnPrefix ASCIIZ,
    # DisplayName UTF-16LE + 00 00, AuxiliaryBufferSize ([MS-OXCMAPIHTTP] 2.2.4.1.2).
    prefix = b"/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)"
    name = "Probe Ünïcode 𝄞".encode("utf-16-le")
    assert body == (struct.pack("<5I", 0, 0, 60000, 6, 10000) + prefix + b"\x00" + name
                    + b"\x00\x00" + b"\x00\x00\x00\x00")
    assert emu.stats().open_sessions == 1


def test_logon_response_layout(emu: Emulator, probe: Mapi) -> None:
    m = probe
    m.connect()
    response, answer = m.execute(
        [logon_request(0x0C)], [NO_HANDLE])
    body = answer.body
    # Execute response: StatusCode, ErrorCode, Flags, RopBufferSize; rpc_header_ext (Last,
    # Size = SizeActual = 172); RopSize 168 = 2 + 166; then RopLogon (166 bytes) and the
    # one-slot handle table; AuxiliaryBufferSize 0.
    assert struct.unpack_from("<4I", body) == (0, 0, 0, 180)
    assert body[16:24] == bytes.fromhex("0000 0400 ac00 ac00")
    assert body[24:26] == (168).to_bytes(2, "little")
    logon = body[26:26 + 166]
    assert logon[:7] == bytes.fromhex("fe 00 00000000 01")
    assert logon[39:47] == INBOX_FID_BYTES
    fids = [logon[7 + 8 * n:15 + 8 * n] for n in range(13)]
    assert fids == [bytes.fromhex("0100 0000000000") + bytes([n]) for n in range(1, 14)]
    assert logon[111] == 0x07  # ResponseFlags: Reserved | OwnerRight | SendAsRight
    assert logon[112:128] == bytes.fromhex("6863 6c41 6d65 4a79 6f45 57615272456e")
    assert logon[128:130] == b"\x01\x00"
    assert logon[162:166] == b"\x00\x00\x00\x00"
    assert body[192:196] == bytes.fromhex("0000000c")  # logon handle: LogonId 0x0C << 24
    assert body[196:] == b"\x00\x00\x00\x00"
    assert len(body) == 200
    rop = response.rops[0]
    assert isinstance(rop, RopLogonResponse)
    assert rop.inbox_folder_id == INBOX


def logon_request(logon_id: int) -> RopLogonRequest:
    return RopLogonRequest(logon_id, 0, 0x01, 0x01000000, 0, RULER_DN)


def test_whole_probe_lists_the_inbox_newest_first(emu: Emulator, probe: Mapi) -> None:
    m = probe
    m.connect()
    _, handle = m.logon()
    response, answer = m.execute(inbox_rops(), [handle, NO_HANDLE, NO_HANDLE], COLUMNS)
    rops = response.rops
    assert [type(r).__name__ for r in rops] == [
        "RopOpenFolderResponse", "RopGetContentsTableResponse", "RopSetColumnsResponse",
        "RopSortTableResponse", "RopQueryRowsResponse"]  # RopRelease has no response
    # Bytes after RopSize: OpenFolder (8), GetContentsTable (10) with RowCount 4,
    # SetColumns (7), SortTable (7), then QueryRows.
    body = answer.body
    rops_bytes = body[26:]
    assert rops_bytes[:8] == bytes.fromhex("02 01 00000000 00 00")
    assert rops_bytes[8:18] == bytes.fromhex("05 02 00000000 04000000")
    assert rops_bytes[18:25] == bytes.fromhex("12 02 00000000 00")
    assert rops_bytes[25:32] == bytes.fromhex("13 02 00000000 00")
    assert rops_bytes[32:41] == bytes.fromhex("15 02 00000000 02 0400")  # BOOKMARK_END, 4 rows
    # first row: the newest item "Ā newest", a StandardPropertyRow (flag 00)
    row0 = rops_bytes[41:]
    subject = "Ā newest".encode("utf-16-le") + b"\x00\x00"
    assert row0[0] == 0x00
    assert row0[1:1 + len(subject)] == subject
    qr = rops[4]
    assert isinstance(qr, RopQueryRowsResponse)
    subjects = [r.cells[0].value for r in qr.rows]  # type: ignore[union-attr]
    assert subjects == ["Ā newest", "Quarterly report Q3 (Zürich)", "Lunch? 🍕 ランチ",
                        "Delivery Status Notification (Failure)"]
    times = [filetime_to_datetime(r.cells[1].value).isoformat()  # type: ignore[union-attr, arg-type]
             for r in qr.rows]
    assert times[0] == "2026-01-16T07:00:00+00:00"
    ndr = qr.rows[3]
    assert ndr.flagged
    assert ndr.cells[2] == PropertyError(SENDER, 0x8004010F)
    assert [r.flagged for r in qr.rows] == [False, False, False, True]
    assert qr.rows[0].cells[3:] == (PropertyValue(COLUMNS[3], 100), PropertyValue(COLUMNS[4], 0))
    assert qr.rows[1].cells[4] == PropertyValue(COLUMNS[4], 0x10)  # unread, attachment
    # handle table: input echoed, output slots filled with LogonId 0's handles (<< 24) + n
    assert response.rop_buffers[0].server_object_handle_table == (0, 0x1, 0x2)
    assert m.disconnect().code == 0
    assert emu.stats().open_sessions == 0


def test_disconnect_response_and_cookies(emu: Emulator, probe: Mapi) -> None:
    m = probe
    m.connect()
    answer = m.disconnect()
    assert answer.body == b"\x00" * 12
    assert DisconnectResponse.decode(answer.body) == DisconnectResponse(0)
    expired = answer.response.headers.get_list("set-cookie")
    assert all("Expires=Thu, 01 Jan 1970 00:00:00 GMT" in c for c in expired)
    assert m.cookies == {}


def test_sequence_cookie_rotates_on_every_execute(emu: Emulator, probe: Mapi) -> None:
    m = probe
    m.connect()
    seen = [m.cookies["MapiSequence"]]
    for _ in range(3):
        m.logon()
        seen.append(m.cookies["MapiSequence"])
    assert len(set(seen)) == 4
    context = m.cookies["MapiContext"]
    assert m.post("PING", b"").code == 0
    assert m.cookies == {"MapiContext": context, "MapiSequence": seen[-1]}


def test_query_rows_honours_row_count_no_advance_and_backward(emu: Emulator, probe: Mapi) -> None:
    m = probe
    m.connect()
    _, handle = m.logon()
    rops: list[RopRequest] = [
            RopOpenFolderRequest(0, 0, 1, INBOX, 0), RopGetContentsTableRequest(0, 1, 2, 0x40),
            RopSetColumnsRequest(0, 2, 0, (SUBJECT,)),
            RopSortTableRequest(0, 2, 0, 0, 0, (SortOrder(DELIVERY, 0),)),
            RopQueryRowsRequest(0, 2, 0x01, 1, 2),  # NoAdvance
            RopQueryRowsRequest(0, 2, 0x00, 1, 1),
            RopQueryRowsRequest(0, 2, 0x00, 1, 10),
            RopQueryRowsRequest(0, 2, 0x00, 0, 2)]  # backward from the end
    response, _ = m.execute(rops, [handle, NO_HANDLE, NO_HANDLE], (SUBJECT,))
    queries = [r for r in response.rops if isinstance(r, RopQueryRowsResponse)]
    got = [(q.origin, [c.cells[0].value for c in q.rows]) for q in queries]  # type: ignore[union-attr]
    oldest = "Delivery Status Notification (Failure)"
    assert got == [
        (1, [oldest, "Lunch? 🍕 ランチ"]),
        (1, [oldest]),
        (2, ["Lunch? 🍕 ランチ", "Quarterly report Q3 (Zürich)", "Ā newest"]),
        (1, ["Ā newest", "Quarterly report Q3 (Zürich)"]),
    ]


def test_handles_persist_across_executes_and_release(emu: Emulator, probe: Mapi) -> None:
    m = probe
    m.connect()
    _, logon = m.logon()
    response, _ = m.execute([RopOpenFolderRequest(0, 0, 1, INBOX, 0)], [logon, NO_HANDLE])
    folder = response.rop_buffers[0].server_object_handle_table[1]
    assert folder == 0x1  # (LogonId 0 << 24) + 1
    response, answer = m.execute(
        [RopGetContentsTableRequest(0, 0, 1, 0x40), RopReleaseRequest(0, 0),
         RopGetContentsTableRequest(0, 0, 2, 0x40), RopGetContentsTableRequest(0, 3, 4, 0x40)],
        [folder, NO_HANDLE, NO_HANDLE, NO_HANDLE, NO_HANDLE])
    rops_bytes = answer.body[26:]
    # table opened; release (no response); the released slot and an empty one: ecNullObject
    assert rops_bytes[:10] == bytes.fromhex("05 01 00000000 04000000")
    assert rops_bytes[10:16] == bytes.fromhex("05 02 b9040000")
    assert rops_bytes[16:22] == bytes.fromhex("05 04 b9040000")
    assert response.rop_buffers[0].server_object_handle_table == (
        folder, 0x2, NO_HANDLE, NO_HANDLE, NO_HANDLE)


def test_rop_buffer_too_small(emu: Emulator, probe: Mapi) -> None:
    m = probe
    m.connect()
    _, logon = m.logon()
    rops = inbox_rops()
    # room for OpenFolder and GetContentsTable only: 8 + 2 + 12 (handles) + 18 = 40
    response, answer = m.execute(rops, [logon, NO_HANDLE, NO_HANDLE], COLUMNS, max_rop_out=45)
    rops_bytes = answer.body[26:]
    assert rops_bytes[:18] == bytes.fromhex("02 01 00000000 00 00 05 02 00000000 04000000")
    assert rops_bytes[18] == 0xFF  # RopBufferTooSmall
    needed = int.from_bytes(rops_bytes[19:21], "little")
    assert needed == 40 + 7
    rest = rops_bytes[21:-16]  # then the 3-slot handle table and AuxiliaryBufferSize
    assert rest[:2] == bytes.fromhex("12 00")  # the unprocessed RopSetColumns onwards
    assert rest.endswith(bytes.fromhex("01 00 02 01 00 01"))
    assert response.rop_buffers[0].server_object_handle_table == (logon, 0x1, 0x2)


def test_query_rows_fits_rows_in_max_rop_out(emu: Emulator, probe: Mapi) -> None:
    m = probe
    m.connect()
    _, logon = m.logon()
    rops = inbox_rops()[:5]
    response, _ = m.execute(rops, [logon, NO_HANDLE, NO_HANDLE], COLUMNS, max_rop_out=120)
    queries = response.rops[4]
    assert isinstance(queries, RopQueryRowsResponse)
    assert len(queries.rows) == 1
    assert queries.origin == 0x01


def test_xor_magic_switch(start: Emulators) -> None:
    emulator = start(BASE_CONFIG.replace("[server]", "[server]\nxor_responses = true"))
    m = Mapi(client(), emulator.mapi_url("probe@contoso.test"))
    m.connect()
    response, answer = m.execute([logon_request(0)], [NO_HANDLE], flags=0x1)
    assert answer.body[16:24] == bytes.fromhex("0000 0600 ac00 ac00")  # XorMagic | Last
    assert answer.body[24:26] == bytes([168 ^ 0xA5, 0 ^ 0xA5])
    assert response.rop_buffers[0].xor_magic
    _, answer = m.execute([logon_request(0)], [NO_HANDLE], flags=0x3)
    assert answer.body[16:24] == bytes.fromhex("0000 0400 ac00 ac00")
    m.close()


def test_connect_with_another_users_dn_is_access_denied(emu: Emulator, probe: Mapi) -> None:
    m = probe
    other_dn = emu.config.by_smtp("other@contoso.test").legacy_dn  # type: ignore[union-attr]
    answer = m.post("Connect", ConnectRequest(other_dn).encode())
    assert answer.code == 0
    # StatusCode 0, ErrorCode AccessDenied, zeros, empty DnPrefix and DisplayName, no aux
    assert answer.body == bytes.fromhex("00000000 05000780") + bytes(12) + bytes(3) + bytes(4)
    assert ConnectResponse.decode(answer.body).error_code == 0x80070005  # type: ignore[union-attr]
    assert "MapiContext" not in m.cookies
    admin = m.post("Connect", ConnectRequest(RULER_DN, flags=1).encode())
    assert admin.body[4:8] == (0x3F2).to_bytes(4, "little")  # ecLoginPerm
    assert emu.stats().open_sessions == 0


@pytest.mark.parametrize(("essdn", "code"), [("/o=Nowhere/cn=nobody", 0x3EB), (None, 0x3F2)])
def test_logon_to_another_mailbox(emu: Emulator, probe: Mapi, essdn: str | None,
                                  code: int) -> None:
    m = probe
    m.connect()
    dn = essdn or emu.config.by_smtp("other@contoso.test").legacy_dn  # type: ignore[union-attr]
    _, answer = m.execute([RopLogonRequest(0, 0, 1, 0x01000000, 0, dn)], [NO_HANDLE])
    assert answer.body[26:32] == bytes([0xFE, 0]) + code.to_bytes(4, "little")
