"""Configured faults, per step: what a probe must survive and report."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from check_mapi.emulator import Emulator
from check_mapi.errors import DecodeError
from check_mapi.wire import (
    ConnectRequest,
    ExecuteResponse,
    RopGetContentsTableRequest,
    RopLogonRequest,
    RopOpenFolderRequest,
    parse_response_stream,
)

from ..conftest import Emulators
from .emu_helpers import NO_HANDLE, RULER_DN, Mapi, client

INBOX = int.from_bytes(bytes.fromhex("0100000000000005"), "little")
REQUEST = ('<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft'
           '.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>'
           'probe@contoso.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft'
           '.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>'
           '</Request></Autodiscover>')


def faulty(start: Emulators, *faults: str) -> Emulator:
    """An emulator whose probe mailbox has these [[mailbox.fault]] tables (TOML bodies)."""
    # The probe mailbox is the first [[mailbox]] of the base configuration: insert the
    # faults before the second one.
    from .emu_helpers import BASE_CONFIG
    head, sep, tail = BASE_CONFIG.partition('[[mailbox]]\nsmtp = "other@contoso.test"')
    tables = "".join(f"[[mailbox.fault]]\n{f}\n\n" for f in faults)
    return start(head + tables + sep + tail)


@pytest.fixture
def session_of(start: Emulators) -> Emulators:
    """The shared ``start``: it stops what it started, ``session_of[0]`` is the first."""
    return start


def mapi(emulators: Emulators, *faults: str) -> Mapi:
    emulator = faulty(emulators, *faults)
    return Mapi(client(), emulator.mapi_url("probe@contoso.test"))


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 502, 503])
def test_http_status(session_of: Emulators, status: int) -> None:
    with mapi(session_of, f'step = "connect"\nhttp_status = {status}\nretry_after = 7') as m:
        answer = m.post("Connect", ConnectRequest(RULER_DN).encode())
        assert answer.response.status_code == status
        assert answer.response.headers["Retry-After"] == "7"
        assert "X-ResponseCode" not in answer.response.headers
    assert session_of[0].stats().faults_applied == 1


def test_response_code_fault(session_of: Emulators) -> None:
    with mapi(session_of, 'step = "logon"\nresponse_code = 16') as m:
        m.connect()
        answer = m.post("Execute", _logon_body())
        assert answer.response.headers["X-ResponseCode"] == "16"
        assert answer.response.headers["Content-Type"] == "text/html"
        assert b"Endpoint Disabled" in answer.response.content


@pytest.mark.parametrize(("name", "value"), [
    ("ecLoginFailure", 0x80040111), ("ecUnknownUser", 0x3EB), ("ecMailboxDisabled", 0x96C),
    ("ecProtocolDisabled", 0x7D8), ("0x000004DF", 0x4DF)])
def test_connect_error_code(session_of: Emulators, name: str, value: int) -> None:
    setting = f'"{name}"' if name.startswith("ec") else name
    with mapi(session_of, f'step = "connect"\nerror_code = {setting}') as m:
        answer = m.post("Connect", ConnectRequest(RULER_DN).encode())
        assert answer.code == 0
        assert answer.body[:8] == b"\x00\x00\x00\x00" + value.to_bytes(4, "little")
        assert "MapiContext" not in m.cookies
    assert session_of[0].stats().open_sessions == 0


def test_connect_status_code(session_of: Emulators) -> None:
    with mapi(session_of, 'step = "connect"\nstatus_code = 0x80040115') as m:
        answer = m.post("Connect", ConnectRequest(RULER_DN).encode())
        assert answer.body == bytes.fromhex("15010480 00000000")  # StatusCode, AuxiliarySize


def test_logon_return_value(session_of: Emulators) -> None:
    with mapi(session_of, 'step = "logon"\nrop_error = "ecLoginFailure"') as m:
        m.connect()
        _, answer = m.execute([_logon()], [NO_HANDLE])
        assert answer.body[24:34] == bytes.fromhex("0800 fe00 11010480 ffffffff")[:10]


def test_logon_wrong_server_redirect(session_of: Emulators) -> None:
    server = "/o=Contoso/ou=Exchange Administrative Group/cn=Servers/cn=EXMBX09"
    with mapi(session_of, f'step = "logon"\nwrong_server = "{server}"') as m:
        m.connect()
        _, answer = m.execute([_logon()], [NO_HANDLE])
        rop = answer.body[26:]
        size = len(server) + 1
        assert rop[:8] == bytes.fromhex("fe00 78040000 01") + bytes([size])
        assert rop[8:8 + size] == server.encode() + b"\x00"


def test_open_folder_failure_nulls_what_follows(session_of: Emulators) -> None:
    with mapi(session_of, 'step = "inbox"\nrop_error = "ecNotFound"') as m:
        m.connect()
        _, handle = m.logon()
        _, answer = m.execute([RopOpenFolderRequest(0, 0, 1, INBOX, 0),
                               RopGetContentsTableRequest(0, 1, 2, 0x40)],
                              [handle, NO_HANDLE, NO_HANDLE])
        assert answer.body[26:38] == bytes.fromhex("02 01 0f010480 05 02 b9040000")


def test_truncated_body(session_of: Emulators) -> None:
    with mapi(session_of, 'step = "inbox"\ntruncate_body = true') as m:
        m.connect()
        _, handle = m.logon()
        answer = m.post("Execute", _inbox_body(handle))
        assert answer.code == 0
        with pytest.raises(DecodeError):
            ExecuteResponse.decode(answer.body)


def test_connection_dropped_mid_response(session_of: Emulators) -> None:
    with mapi(session_of, 'step = "connect"\ndrop_connection = true\ntimes = 1') as m:
        with pytest.raises(httpx.RemoteProtocolError):
            m.post("Connect", ConnectRequest(RULER_DN).encode())
        assert m.connect().error_code == 0  # times = 1: the next Connect works
    assert session_of[0].stats().sessions_created == 1


def test_pending_keep_alives_during_latency(session_of: Emulators) -> None:
    with mapi(session_of, 'step = "connect"\nlatency_ms = 225') as m:
        answer = m.post("Connect", ConnectRequest(RULER_DN).encode())
        assert answer.stream is not None
        assert 3 <= answer.stream.pending_count <= 4  # one per 50 ms X-PendingPeriod
        assert answer.stream.elapsed_time is not None and answer.stream.elapsed_time >= 225


def test_pending_forever(session_of: Emulators) -> None:
    emulator = faulty(session_of, 'step = "connect"\npending_forever = true')
    with Mapi(client(), emulator.mapi_url("probe@contoso.test")) as m:
        seen = b""
        with m.http.stream("POST", m.url, headers=m.headers("Connect"),
                           content=ConnectRequest(RULER_DN).encode()) as response:
            for data in response.iter_raw():
                seen += data
                if seen.count(b"PENDING\r\n") >= 4:
                    break  # a client gives up; the server keeps no session for it
    assert seen.startswith(b"PROCESSING\r\nPENDING\r\nPENDING\r\nPENDING\r\nPENDING\r\n")
    assert b"DONE" not in seen
    assert emulator.stats().sessions_created == 0


def test_autodiscover_faults(session_of: Emulators) -> None:
    emulator = faulty(session_of,
                      'step = "autodiscover"\nhttp_status = 503\nretry_after = 30\ntimes = 1',
                      'step = "autodiscover"\nmalformed_xml = true\ntimes = 1',
                      'step = "autodiscover"\nredirect_loop = true')
    with client() as http:
        first = http.post(emulator.autodiscover_url, content=REQUEST.encode())
        assert (first.status_code, first.headers["Retry-After"]) == (503, "30")
        broken = http.post(emulator.autodiscover_url, content=REQUEST.encode())
        with pytest.raises(ET.ParseError):
            ET.fromstring(broken.content)
        loop = http.post(emulator.autodiscover_url, content=REQUEST.encode())
        assert b"<Action>redirectAddr</Action>" in loop.content
        assert b"<RedirectAddr>probe@contoso.test</RedirectAddr>" in loop.content
    assert emulator.stats().faults_applied == 3


def test_autodiscover_connection_dropped(session_of: Emulators) -> None:
    emulator = faulty(session_of, 'step = "autodiscover"\ndrop_connection = true\nlatency_ms = 20')
    with client() as http, pytest.raises(httpx.RemoteProtocolError):
        http.post(emulator.autodiscover_url, content=REQUEST.encode())


def _logon() -> RopLogonRequest:
    return RopLogonRequest(0, 0, 0x01, 0x01000000, 0, RULER_DN)


def _logon_body() -> bytes:
    from check_mapi.wire import ExecuteRequest, RopBuffer
    return ExecuteRequest((RopBuffer((_logon(),), (NO_HANDLE,)),)).encode()


def _inbox_body(handle: int) -> bytes:
    from check_mapi.wire import ExecuteRequest, RopBuffer
    rops = (RopOpenFolderRequest(0, 0, 1, INBOX, 0), RopGetContentsTableRequest(0, 1, 2, 0x40))
    return ExecuteRequest((RopBuffer(rops, (handle, NO_HANDLE, NO_HANDLE)),)).encode()


def test_stream_of_a_fault_free_answer_parses(session_of: Emulators) -> None:
    with mapi(session_of) as m:
        m.connect()
        answer = m.post("PING", b"")
        stream = parse_response_stream(answer.response.content)
        assert (stream.pending_count, stream.body) == (0, b"")
