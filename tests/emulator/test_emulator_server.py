"""The HTTP layer: chunk framing on the wire, keep-alive, TLS, NTLM bound to the connection,
counters, concurrency, and garbage that must neither crash nor print anything."""

from __future__ import annotations

import base64
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import spnego
from spnego.channel_bindings import GssChannelBindings

from check_mapi.emulator import Emulator
from check_mapi.emulator.ntlm import tls_server_end_point
from check_mapi.wire import ConnectRequest, RopQueryRowsResponse

from ..conftest import Emulators, Tls
from .emu_helpers import (
    BASE_CONFIG,
    COLUMNS,
    NO_HANDLE,
    PASSWORD,
    RULER_DN,
    TIMEOUT,
    Mapi,
    client,
    emu,
    vector,
)
from .test_emulator_mapi import inbox_rops

__all__ = ["emu"]


def raw_exchange(emulator: Emulator, request: bytes) -> bytes:
    """Send bytes on a fresh TCP connection; everything the server sends until it closes."""
    host, port = emulator.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def basic(user: str = "probe", password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_chunk_framing_is_the_spec_example(start: Emulators) -> None:
    emulator = start(BASE_CONFIG.replace(
        '[[mailbox]]\nsmtp = "other@contoso.test"',
        '[[mailbox.fault]]\nstep = "connect"\nlatency_ms = 120\n\n'
        '[[mailbox]]\nsmtp = "other@contoso.test"'))
    body = vector("ruler/connect-request.bin")
    head = (f"POST /mapi/emsmdb/?MailboxId=416c6368-656d-794a-6f45-57615272456e@contoso.test "
            f"HTTP/1.1\r\nHost: x\r\nAuthorization: {basic()}\r\n"
            "Content-Type: application/mapi-http\r\nX-RequestType: Connect\r\n"
            "X-RequestId: {C715155F-2BE8-44E0-BD34-2960065754C8}:2\r\n"
            "X-ClientInfo: {2F94A2BF-A2E6-4CCC-BF98-B5F22C542226}\r\n"
            "X-ClientApplication: Outlook/15.0.4815.1002\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    raw = raw_exchange(emulator, head + body)
    headers, _, chunked = raw.partition(b"\r\n\r\n")
    assert headers.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nTransfer-Encoding: chunked" in headers
    processing = vector("spec/ms-oxcmapihttp-4.2-chunk-processing.hex")
    pending = vector("spec/ms-oxcmapihttp-4.2-chunk-pending.hex")
    assert processing == b"C\r\nPROCESSING\r\n\r\n"
    assert chunked.startswith(processing + pending + pending)  # one per 50 ms X-PendingPeriod
    rest = chunked[len(processing):]
    while rest.startswith(pending):
        rest = rest[len(pending):]
    size_line, _, data = rest.partition(b"\r\n")
    size = int(size_line, 16)
    assert data[:size].startswith(b"DONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: ")
    assert data[size:] == b"\r\n0\r\n\r\n"


def test_one_tcp_connection_for_a_whole_probe_and_the_stats_endpoint(emu: Emulator) -> None:
    with Mapi(client(), emu.mapi_url("probe@contoso.test")) as m:
        m.connect()
        _, handle = m.logon()
        m.execute(inbox_rops(), [handle, NO_HANDLE, NO_HANDLE], COLUMNS)
        m.post("PING", b"")
        m.disconnect()
    with httpx.Client(timeout=TIMEOUT) as http:
        stats = http.get(f"{emu.url}/_emulator/stats")
    assert stats.headers["Content-Type"] == "application/json"
    data = stats.json()
    assert data["requests"] == {"Connect": 1, "Execute": 2, "PING": 1, "Disconnect": 1}
    assert data["total_requests"] == 5
    assert data["tcp_connections"] == 2  # the probe's, and this request's own
    assert data["auth_handshakes"] == 5  # Basic: credentials checked on every request
    assert data["open_sessions"] == 0
    assert data["sessions_created"] == data["sessions_disconnected"] == 1
    assert data["response_codes"] == {"0": 5}
    assert data["errors"] == 0
    assert emu.stats().requests == data["requests"]
    emu.reset_stats()
    assert emu.stats().total_requests == 0


def probe_once(emulator: Emulator) -> int:
    with Mapi(client(), emulator.mapi_url("probe@contoso.test")) as m:
        m.connect()
        _, handle = m.logon()
        response, _ = m.execute(inbox_rops(), [handle, NO_HANDLE, NO_HANDLE], COLUMNS)
        assert m.disconnect().code == 0
    rows = response.rops[4]
    assert isinstance(rows, RopQueryRowsResponse)
    return len(rows.rows)


def test_fifty_concurrent_clients(emu: Emulator) -> None:
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: probe_once(emu), range(50)))
    assert results == [4] * 50
    stats = emu.stats()
    assert stats.requests == {"Connect": 50, "Execute": 100, "Disconnect": 50}
    assert stats.tcp_connections == 50
    assert (stats.open_sessions, stats.sessions_created, stats.errors) == (0, 50, 0)


@pytest.mark.parametrize("junk", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),  # a TLS ClientHello
    b"GARBAGE\r\n\r\n",
    b"POST /mapi/emsmdb/ HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    b"POST /mapi/emsmdb/ HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
    b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    b"POST /mapi/emsmdb/ HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
])
def test_garbage_neither_crashes_nor_prints(emu: Emulator, capfd: pytest.CaptureFixture[str],
                                           junk: bytes) -> None:
    host, port = emu.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(junk)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    assert probe_once(emu) == 4  # still serving
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def tls_client(tls: Tls, **kwargs: object) -> httpx.Client:
    return httpx.Client(verify=tls.context(), timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]


def test_tls_and_secure_cookies(start: Emulators, tls: Tls) -> None:
    emulator = start(BASE_CONFIG, tls=tls)
    assert emulator.url.startswith("https://127.0.0.1:")
    with Mapi(tls_client(tls, auth=("probe", PASSWORD)),
              emulator.mapi_url("probe@contoso.test")) as m:
        answer = m.post("Connect", ConnectRequest(RULER_DN).encode())
        assert all(c.endswith("; Path=/mapi/emsmdb/; Secure; HttpOnly")
                   for c in answer.response.headers.get_list("set-cookie"))
        assert m.disconnect().code == 0
    plain = emulator.url.replace("https://", "http://")
    with httpx.Client(timeout=TIMEOUT) as http, pytest.raises(httpx.TransportError):
        http.get(f"{plain}/_emulator/stats")
    assert emulator.stats().errors >= 1  # the failed handshake, counted, not printed


def ntlm_connect(m: Mapi, context: spnego.ContextProxy) -> httpx.Response:
    """Type-1 and Type-3 legs on the connection, then Connect without any Authorization."""
    type1 = context.step()
    assert type1 is not None
    first = m.http.post(m.url, headers={"Authorization": "NTLM " + base64.b64encode(
        type1).decode()}, content=b"")
    assert first.status_code == 401
    challenge = first.headers["WWW-Authenticate"].removeprefix("NTLM ")
    type3 = context.step(base64.b64decode(challenge))
    assert type3 is not None
    return m.http.post(m.url, content=ConnectRequest(RULER_DN).encode(),
                       headers={**m.headers("Connect"),
                                "Authorization": "NTLM " + base64.b64encode(type3).decode()})


def test_ntlm_authenticates_the_connection(emu: Emulator) -> None:
    with Mapi(httpx.Client(timeout=TIMEOUT), emu.mapi_url("probe@contoso.test")) as m:
        context = spnego.client("probe", PASSWORD, protocol="ntlm")
        connected = ntlm_connect(m, context)
        assert connected.headers["X-ResponseCode"] == "0"
        for line in connected.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            m.cookies[name] = rest.split(";")[0]
        m.http.cookies.clear()
        _, handle = m.logon()  # no Authorization header: the connection is authenticated
        assert handle == 0
        assert m.disconnect().code == 0
    stats = emu.stats()
    assert stats.tcp_connections == 1
    assert stats.auth_handshakes == 1
    assert stats.auth_challenges == 1


def test_ntlm_with_required_channel_binding(start: Emulators, tls: Tls) -> None:
    emulator = start(BASE_CONFIG.replace("[auth]", "[auth]\nrequire_channel_binding = true"),
                     tls=tls)
    pem = tls.cert_pem.read_text()
    cert = pem[pem.index("-----BEGIN CERTIFICATE-----"):]
    der = ssl.PEM_cert_to_DER_cert(cert[:cert.index("-----END CERTIFICATE-----") + 25])
    bindings = GssChannelBindings(application_data=tls_server_end_point(der))
    url = emulator.mapi_url("probe@contoso.test")
    with Mapi(tls_client(tls), url) as m:
        bound = ntlm_connect(m, spnego.client("probe", PASSWORD, protocol="ntlm",
                                              channel_bindings=bindings))
        assert bound.status_code == 200
    with Mapi(tls_client(tls), url) as m:
        unbound = ntlm_connect(m, spnego.client("probe", PASSWORD, protocol="ntlm"))
        assert unbound.status_code == 401


def test_chunked_request_bodies_are_read(emu: Emulator) -> None:
    with Mapi(client(), emu.mapi_url("probe@contoso.test")) as m:
        body = ConnectRequest(RULER_DN).encode()
        response = m.http.post(m.url, headers=m.headers("Connect"),
                               content=iter([body[:10], body[10:]]))
        assert response.request.headers["Transfer-Encoding"] == "chunked"
        assert response.headers["X-ResponseCode"] == "0"
