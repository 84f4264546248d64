"""ruler's captured requests (vectors/ruler), replayed in order with their own headers; only
the cookies are the emulator's. ruler ignores the handle table the server returns and puts
0x0C000000 in slot 0; the emulator's handle numbering (objects.py) makes that work."""

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


def captured(name: str) -> tuple[str, str, dict[str, str], bytes]:
    lines = (VECTORS / "ruler" / f"{name}.headers.txt").read_text().splitlines()
    method, target, _ = lines[0].split(" ")
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    for name_ in ("Host", "Content-Length"):
        headers.pop(name_)
    suffix = ".xml" if name.startswith("autodiscover") else ".bin"
    return method, target, headers, (VECTORS / "ruler" / f"{name}{suffix}").read_bytes()


def replay(http: httpx.Client, emu: Emulator, name: str, cookies: dict[str, str]
           ) -> httpx.Response:
    method, target, headers, body = captured(name)
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

        bodies = [parse_response_stream(replay(http, emu, step, cookies).content).body
                  for step in STEPS]
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
    assert opened.rop_buffers[0].server_object_handle_table == (RULER_HANDLE, 0x101)

    # Release of an empty slot (no response), OpenFolder(Sent Items), GetContentsTable
    listed = ExecuteResponse.decode(table)
    assert isinstance(listed, ExecuteResponse)
    assert listed.rops == (RopOpenFolderResponse(1, False, False),
                           RopGetContentsTableResponse(2, 0))
    assert listed.rop_buffers[0].server_object_handle_table == (RULER_HANDLE, 0x102, 0x103)

    # the captured table handle 0x103 in slot 3 is this session's contents table
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
