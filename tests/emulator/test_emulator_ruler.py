"""ruler's captured requests (vectors/ruler), replayed in order with their own headers; only
the cookies are the emulator's, and the handles ruler copied from earlier answers (the
README of the vectors names them). ruler ignores the handle table the server returns for the
logon and its first folder: it puts 0x0C000000 (the logon) or 0x0C000001 (the Inbox it
opened first) in slot 0; the emulator's handle numbering (objects.py) makes that work."""

from __future__ import annotations

import struct

import httpx

from check_mapi.emulator import Emulator
from check_mapi.wire import (
    ConnectResponse,
    DisconnectResponse,
    ExecuteResponse,
    RopContext,
    RopGetContentsTableResponse,
    RopLogonResponse,
    RopOpenFolderResponse,
    RopQueryRowsResponse,
    RopSetColumnsResponse,
    parse_response_stream,
)

from .emu_helpers import RULER_DN, RULER_GUID, TIMEOUT, VECTORS, emu

__all__ = ["emu"]

STEPS = ["connect-request", "execute-logon-request", "execute-openfolder-inbox-request",
         "execute-release-openfolder-getcontentstable-request",
         "execute-setcolumns-queryrows-release-request",
         "execute-openmessage-getpropertieslist-request",
         "execute-openmessage-getnamesfrompropertyids-request", "disconnect-request"]
RULER_HANDLE = 0x0C000000
INBOX_HANDLE = RULER_HANDLE + 1  # what ruler assumes the Inbox it opened first is
# ruler's rules listing (`ruler display`): FetchRules in ruler's mapi/mapi.go, not captured
# (the vectors were recorded with `check --last`), so written here from its source: the
# RopsList of RopGetRulesTable(slot 0 -> 1, Unicode), RopSetColumns(PidTagRuleId,
# PidTagRuleName), RopQueryRows(50 rows), the handle table {0x0C000001, 0xFFFFFFFF}.
RULES_ROPS = bytes.fromhex("3f0c000140" "120c0100020014007466 1f008266" "150c0100013200")
RULES_HANDLES = bytes.fromhex("0100000c ffffffff")


def ruler_execute(rops: bytes, handles: bytes) -> bytes:
    """An Execute body laid out as ruler lays out its requests (see the captured ones)."""
    payload = (2 + len(rops)).to_bytes(2, "little") + rops + handles
    size = len(payload).to_bytes(2, "little")
    rop_buffer = b"\x00\x00\x04\x00" + size + size + payload
    return (struct.pack("<II", 3, len(rop_buffer)) + rop_buffer
            + struct.pack("<II", 0x5A01, 0))


def with_handles(body: bytes, handles: dict[int, int]) -> bytes:
    """``body`` with the handles of its handle table replaced as ``handles`` says."""
    rop_buffer_end = 8 + struct.unpack_from("<I", body, 4)[0]
    table_at = 16 + struct.unpack_from("<H", body, 16)[0]
    table = struct.unpack_from(f"<{(rop_buffer_end - table_at) // 4}I", body, table_at)
    new = struct.pack(f"<{len(table)}I", *(handles.get(h, h) for h in table))
    return body[:table_at] + new + body[rop_buffer_end:]


def captured(name: str) -> tuple[str, str, dict[str, str], bytes]:
    lines = (VECTORS / "ruler" / f"{name}.headers.txt").read_text().splitlines()
    method, target, _ = lines[0].split(" ")
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    for name_ in ("Host", "Content-Length"):
        headers.pop(name_)
    suffix = ".xml" if name.startswith("autodiscover") else ".bin"
    return method, target, headers, (VECTORS / "ruler" / f"{name}{suffix}").read_bytes()


def replay(http: httpx.Client, emu: Emulator, name: str, cookies: dict[str, str],
           handles: dict[int, int] | None = None, body_: bytes | None = None) -> httpx.Response:
    method, target, headers, body = captured(name)
    body = body_ or body
    if handles and name.startswith("execute"):
        body = with_handles(body, handles)
    if "Cookie" in headers:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    response = http.request(method, emu.url + target, headers=headers, content=body)
    http.cookies.clear()
    for line in response.headers.get_list("set-cookie"):
        key, _, rest = line.partition("=")
        cookies[key] = rest.split(";")[0]
    assert response.status_code == 200
    assert response.headers["X-ResponseCode"] == "0", response.text
    return response


def test_ruler_session_replays(emu: Emulator) -> None:
    cookies: dict[str, str] = {}
    with httpx.Client(timeout=TIMEOUT) as http:
        _, _, headers, body = captured("autodiscover-request")
        assert headers["X-Mapihttpcapability"] == "1"
        ad = http.post(emu.autodiscover_url, headers=headers, content=body)
        assert ad.status_code == 200
        assert f"<LegacyDN>{RULER_DN}</LegacyDN>".encode() in ad.content
        external = f"<ExternalUrl>{emu.url}/mapi/emsmdb/?MailboxId={RULER_GUID}@contoso.test"
        assert external.encode() in ad.content  # ruler takes the ExternalUrl

        bodies = []
        for step in STEPS:  # slots 2 and 3 of SetColumns: the handles of the answer before
            returned = {0x102: 0x0C000002, 0x103: 0x0C000003}
            bodies.append(parse_response_stream(
                replay(http, emu, step, cookies, returned).content).body)
    connect, logon, inbox, table, rows, props, names, disconnect = bodies

    assert ConnectResponse.decode(connect).error_code == 0  # type: ignore[union-attr]
    logon_response = ExecuteResponse.decode(logon)
    assert isinstance(logon_response, ExecuteResponse)
    assert isinstance(logon_response.rops[0], RopLogonResponse)
    assert logon_response.rop_buffers[0].server_object_handle_table == (RULER_HANDLE,)

    # ruler's slot 0 (0x0C000000) is the logon: its OpenFolder of the Inbox succeeds
    opened = ExecuteResponse.decode(inbox)
    assert isinstance(opened, ExecuteResponse)
    assert opened.rops == (RopOpenFolderResponse(1, False, False),)
    assert opened.rop_buffers[0].server_object_handle_table == (RULER_HANDLE, INBOX_HANDLE)

    # Release of an empty slot (no response), OpenFolder(Sent Items), GetContentsTable
    listed = ExecuteResponse.decode(table)
    assert isinstance(listed, ExecuteResponse)
    assert listed.rops == (RopOpenFolderResponse(1, False, False),
                           RopGetContentsTableResponse(2, 0))
    assert listed.rop_buffers[0].server_object_handle_table == (
        RULER_HANDLE, 0x0C000002, 0x0C000003)

    # slot 3 (the captured 0x103 made 0x0C000003) is this session's contents table
    columns = (0x0037001F, 0x674A0014, 0x80C7001E)
    queried = ExecuteResponse.decode(rows, RopContext(columns=columns))
    assert isinstance(queried, ExecuteResponse)
    assert queried.rops == (RopSetColumnsResponse(3, 0), RopQueryRowsResponse(3, 0x02, ()))

    # RopOpenMessage of a message that does not exist: ecNotFound; the ROP on its slot:
    # ecNullObject. Hand-decoded: header (16) + rpc_header_ext (8) + RopSize (2).
    for body, rop_id in ((props, 0x09), (names, 0x55)):
        assert struct.unpack_from("<4I", body) == (0, 0, 0, 8 + 2 + 12 + 8)
        assert body[24:26] == (2 + 12).to_bytes(2, "little")
        assert body[26:38] == bytes([0x03, 0x01]) + (0x8004010F).to_bytes(4, "little") + bytes(
            [rop_id, 0x01]) + (0x000004B9).to_bytes(4, "little")
        assert body[38:46] == bytes.fromhex("0000000c ffffffff")

    assert DisconnectResponse.decode(disconnect) == DisconnectResponse(0)
    stats = emu.stats()
    assert stats.open_sessions == 0
    assert stats.requests == {"autodiscover": 1, "Connect": 1, "Execute": 6, "Disconnect": 1}
    assert stats.tcp_connections == 8  # Connect reuses the Autodiscover connection; ruler
    # then sends Connection: close on every MAPI request


def test_ruler_rules_listing_finds_no_rules(emu: Emulator) -> None:
    """``ruler display``: logon and Inbox (captured), then its rules listing, which names
    the Inbox by the handle it assumes (0x0C000001), not by the one the server returned."""
    cookies: dict[str, str] = {}
    with httpx.Client(timeout=TIMEOUT) as http:
        for step in STEPS[:3]:
            replay(http, emu, step, cookies)
        listing = replay(http, emu, "execute-openfolder-inbox-request", cookies,
                         body_=ruler_execute(RULES_ROPS, RULES_HANDLES))
        replay(http, emu, "disconnect-request", cookies)
    body = parse_response_stream(listing.content).body
    # hand-decoded: Execute header (16), rpc_header_ext (8), RopSize (2), then the RopsList
    assert struct.unpack_from("<4I", body) == (0, 0, 0, 8 + 2 + 22 + 8)
    assert body[26:48] == bytes.fromhex(
        "3f 01 00000000"           # RopGetRulesTable on 0x0C000001 (the Inbox): opened
        "12 01 00000000 00"        # RopSetColumns: TBLSTAT_COMPLETE
        "15 01 00000000 02 0000")  # RopQueryRows: BOOKMARK_END, 0 rows: "No Rules Found"
    assert body[48:56] == bytes.fromhex("0100000c 0200000c")  # the table is 0x0C000002
