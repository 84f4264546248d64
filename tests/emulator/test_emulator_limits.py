"""The emulator's own limits: ambiguous request framing is refused at once (RFC 9112 6.3),
and concurrent connections are capped (``[server] max_connections``: 503 and close beyond)."""

from __future__ import annotations

import socket
import ssl
import time

import pytest

from check_mapi.emulator import Emulator, loads
from check_mapi.errors import ConfigError

from ..conftest import Emulators, Tls
from .emu_helpers import BASE_CONFIG

GET_STATS = b"GET /_emulator/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
AUTODISCOVER = b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x\r\n"


def capped(limit: int) -> str:
    return BASE_CONFIG.replace("[server]\n", f"[server]\nmax_connections = {limit}\n", 1)


def address(emulator: Emulator) -> tuple[str, int]:
    host, port = emulator.url.partition("://")[2].split(":")
    return host, int(port)


def connect(emulator: Emulator, tls: Tls | None = None) -> socket.socket:
    sock = socket.create_connection(address(emulator), timeout=5)
    return tls.context().wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a 5 s timeout fails the test)."""
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ssl.SSLEOFError:  # a TLS peer that closed without close_notify
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def exchange(emulator: Emulator, request: bytes, tls: Tls | None = None) -> tuple[bytes, float]:
    """The whole answer to ``request`` on a fresh connection, and how long it took."""
    started = time.monotonic()
    with connect(emulator, tls) as sock:
        sock.sendall(request)
        return read_all(sock), time.monotonic() - started


@pytest.mark.parametrize("framing", [
    b"Content-Length: 10\r\nContent-Length: 10\r\n",
    b"Content-Length: 10\r\nContent-Length: 20\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Length: 10\r\n",
    b"Content-Length: 10\r\nTransfer-Encoding: chunked\r\n",
    b"Content-Length: 0\r\nTransfer-Encoding: identity\r\n",
])
def test_ambiguous_framing_is_400_at_once(start: Emulators, framing: bytes) -> None:
    """The client keeps the connection open and sends no body: the 400 must not wait for one,
    and the connection is closed after it (what follows cannot be framed)."""
    emulator = start(BASE_CONFIG)
    answer, took = exchange(emulator, AUTODISCOVER + framing + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    assert b"\r\nConnection: close\r\n" in answer
    assert took < 2
    stats = emulator.stats()
    assert stats.errors == 1
    assert stats.requests == {}


def test_a_single_content_length_still_reads_its_body(start: Emulators) -> None:
    """The framing check refuses nothing ordinary: one Content-Length gets its body read
    (an empty POX request is answered with Autodiscover error 600, after authentication)."""
    emulator = start(BASE_CONFIG)
    answer, _ = exchange(emulator, AUTODISCOVER + b"Content-Length: 3\r\nConnection: close"
                         b"\r\n\r\nabc")
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:80]
    assert emulator.stats().errors == 0


def test_connections_beyond_the_cap_get_503_and_are_closed(start: Emulators) -> None:
    emulator = start(capped(2))
    held = [connect(emulator), connect(emulator)]
    try:
        time.sleep(0.2)  # both accepted and in their threads
        answer, took = exchange(emulator, GET_STATS)
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer[:80]
        assert b"\r\nConnection: close\r\n" in answer and b"\r\nRetry-After: 1\r\n" in answer
        assert answer.endswith(b"\r\n\r\n")  # Content-Length: 0, nothing after the head
        assert took < 2
        held[0].sendall(GET_STATS)  # a connection within the cap is served meanwhile
        assert read_all(held[0]).startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        for sock in held:
            sock.close()
    assert emulator.stats().connections_refused == 1
    assert served_again(emulator)  # (its tries before the slots free up may be refused too)


def served_again(emulator: Emulator, tls: Tls | None = None) -> bool:
    """Once the held connections are closed their slots free up (their threads see EOF)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        answer, _ = exchange(emulator, GET_STATS, tls)
        if answer.startswith(b"HTTP/1.1 200 OK\r\n"):
            return True
        time.sleep(0.05)
    return False


def test_the_cap_holds_over_tls(start: Emulators, tls: Tls) -> None:
    emulator = start(capped(1), tls)
    held = connect(emulator, tls)
    try:
        time.sleep(0.2)
        answer, _ = exchange(emulator, GET_STATS, tls)
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer[:80]
    finally:
        held.close()
    assert served_again(emulator, tls)
    stats = emulator.stats()
    assert stats.connections_refused >= 1
    assert stats.tcp_connections >= 3  # refused connections are accepted connections too


def test_a_flood_beyond_the_cap_leaves_the_server_usable(start: Emulators) -> None:
    """100 connections that connect and say nothing against a cap of 8: all beyond the cap
    are refused (answered or, past the refusal threads, closed), none hangs the server."""
    emulator = start(capped(8))
    flood = [connect(emulator) for _ in range(100)]
    try:
        time.sleep(0.3)
        assert emulator.stats().connections_refused == 92
        closed = 0
        for sock in flood[8:]:
            sock.settimeout(3)
            sock.shutdown(socket.SHUT_WR)
            answer = read_all(sock)
            closed += answer == b"" or answer.startswith(b"HTTP/1.1 503 ")
        assert closed == 92
    finally:
        for sock in flood:
            sock.close()
    assert served_again(emulator)


def test_max_connections_is_configured_and_checked() -> None:
    assert loads(BASE_CONFIG).server.max_connections == 256
    assert loads(capped(3)).server.max_connections == 3
    with pytest.raises(ConfigError, match="max_connections"):
        loads(capped(0))
