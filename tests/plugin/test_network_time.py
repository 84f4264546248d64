"""The request's own time: the kernel's arrival time of the answer, not the moment a busy
thread got around to reading it (issue 12: times must not grow with --parallel)."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from check_mapi.deadline import Deadline
from check_mapi.emulator import Emulator
from check_mapi.plugin.main import run
from check_mapi.probe.session import MapiSession
from check_mapi.transport.network import DeadlineBackend
from check_mapi.transport.stamps import SO_TIMESTAMPNS, arrival, handshake_time

from ..conftest import Tls
from .conftest import PASSWORD, SMTP, fault_toml, probe

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="SO_TIMESTAMPNS is Linux's")


@pytest.fixture
def stamping() -> Iterator[None]:
    """The kernel's time-stamping switched on and working before the test's exchange.

    Linux turns receive time-stamps on machine-wide when the first socket asks, but
    later, from a work queue; until then TCP data arrives unstamped (seen on a loaded CI
    machine: the test's only answer came before the switch). Production falls back to
    wall time for such a read; here a held socket keeps the switch on, and a loopback
    exchange proves it is on. A kernel that never stamps fails the test.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    sender = socket.create_connection(listener.getsockname())
    receiver, _ = listener.accept()
    receiver.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    try:
        until = time.monotonic() + 5
        while True:
            sender.sendall(b"x")
            time.sleep(0.01)
            stamped = arrival(receiver.fileno())
            receiver.recv(64)
            if stamped is not None:
                break
            assert time.monotonic() < until, "the kernel does not time-stamp loopback TCP"
        yield
    finally:
        for sock in (sender, receiver, listener):
            sock.close()


def serve_once(sent: threading.Event) -> tuple[socket.socket, int]:
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        conn.recv(16)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        sent.set()
        time.sleep(1)
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    return listener, listener.getsockname()[1]


def test_the_kernel_says_when_the_answer_arrived(stamping: None) -> None:
    sent = threading.Event()
    listener, port = serve_once(sent)
    backend = DeadlineBackend()
    backend.arm(Deadline.after(5))
    wrote = time.monotonic()  # the request's first network action comes after this
    stream = backend.connect_tcp("127.0.0.1", port)
    stream.write(b"GET / HTTP/1.1\r\n\r\n")
    assert sent.wait(5)
    time.sleep(0.3)  # this thread is busy elsewhere while the answer waits in the kernel
    looked = time.monotonic()
    assert stream.read(65536).startswith(b"HTTP/1.1 200 OK")
    own = backend.network_time()
    assert own is not None
    # the answer arrived before `sent`, which was 0.3 s before it was read: a wall clock
    # around the read would say at least looked - wrote
    assert own <= (looked - wrote) - 0.29
    stream.close()
    listener.close()


def serve_after(delay: float) -> tuple[socket.socket, int]:
    """Answers ``delay`` s after the whole request (headers and body) has come."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        received = b""
        while not received.endswith(b"body"):
            received += conn.recv(64)
        time.sleep(delay)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        time.sleep(1)
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    return listener, listener.getsockname()[1]


@pytest.mark.parametrize("where", ["after the connect", "between the writes"])
def test_the_threads_own_time_between_network_actions_is_left_out(
        stamping: None, where: str) -> None:
    """A thread that waits between network actions (for the GIL behind other probes, or
    building the request) does not make the request slower: the server's 0.2 s count,
    the thread's 0.5 s pause does not."""
    listener, port = serve_after(0.2)
    backend = DeadlineBackend()
    backend.arm(Deadline.after(5))
    stream = backend.connect_tcp("127.0.0.1", port)
    if where == "after the connect":
        time.sleep(0.5)
    stream.write(b"POST / HTTP/1.1\r\n\r\n")
    if where == "between the writes":
        time.sleep(0.5)
    stream.write(b"body")
    assert stream.read(65536).startswith(b"HTTP/1.1 200 OK")
    own = backend.network_time()
    assert own is not None
    assert 0.2 <= own < 0.5
    stream.close()
    listener.close()


def late_connecting(monkeypatch: pytest.MonkeyPatch, late: float) -> DeadlineBackend:
    """A backend whose thread gets the GIL back ``late`` s after each connect completed
    (other probes ran meanwhile)."""
    backend = DeadlineBackend()
    inner = backend._inner.connect_tcp

    def connect(*args: Any, **kwargs: Any) -> Any:
        stream = inner(*args, **kwargs)
        time.sleep(late)
        return stream

    monkeypatch.setattr(backend._inner, "connect_tcp", connect)
    return backend


def test_the_wait_after_the_kernel_finished_the_handshake_is_left_out(
        stamping: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread that gets the GIL back 0.5 s after its connect completed (31 other probes
    ran meanwhile): the handshake counts as the kernel timed it, the 0.5 s do not."""
    listener, port = serve_after(0.2)
    backend = late_connecting(monkeypatch, 0.5)
    backend.arm(Deadline.after(5))
    stream = backend.connect_tcp("127.0.0.1", port)
    stream.write(b"POST / HTTP/1.1\r\n\r\nbody")
    assert stream.read(65536).startswith(b"HTTP/1.1 200 OK")
    own = backend.network_time()
    assert own is not None
    assert 0.2 <= own < 0.5
    stream.close()
    listener.close()


def serve_tls_after(delay: float, tls: Tls) -> tuple[socket.socket, int]:
    """A TLS server that answers ``delay`` s after the request came."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tls.cert_pem, tls.key_pem)

    def answer() -> None:
        conn, _ = listener.accept()
        with server.wrap_socket(conn, server_side=True) as wrapped:
            wrapped.recv(64)
            time.sleep(delay)
            wrapped.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            time.sleep(1)

    threading.Thread(target=answer, daemon=True).start()
    return listener, listener.getsockname()[1]


def test_the_wait_before_the_tls_handshake_is_left_out(
        stamping: None, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same over TLS: the 0.5 s between the connect and the ClientHello are the
    thread's, the handshake and the server's 0.2 s are the request's."""
    listener, port = serve_tls_after(0.2, tls)
    backend = late_connecting(monkeypatch, 0.5)
    backend.arm(Deadline.after(5))
    stream = backend.connect_tcp("127.0.0.1", port)
    stream = stream.start_tls(tls.context(), "localhost")
    stream.write(b"GET / HTTP/1.1\r\n\r\n")
    assert stream.read(65536).startswith(b"HTTP/1.1 200 OK")
    own = backend.network_time()
    assert own is not None
    assert 0.2 <= own < 0.5
    stream.close()
    listener.close()


def test_the_waits_inside_the_tls_handshake_are_left_out(
        stamping: None, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> None:
    """The thread gets the GIL back 0.4 s after each step of the client's handshake (31
    other probes ran meanwhile): the handshake counts up to the arrival of the server's
    flight, the waits do not; the server's 0.2 s over the request do."""
    listener, port = serve_tls_after(0.2, tls)
    original = ssl.SSLSocket.do_handshake

    def late(self: ssl.SSLSocket, *args: Any, **kwargs: Any) -> None:
        try:
            original(self, *args, **kwargs)
        finally:
            if not self.server_side:
                time.sleep(0.4)

    monkeypatch.setattr(ssl.SSLSocket, "do_handshake", late)
    backend = DeadlineBackend()
    backend.arm(Deadline.after(10))
    started = time.monotonic()
    stream = backend.connect_tcp("127.0.0.1", port).start_tls(tls.context(), "localhost")
    stream.write(b"GET / HTTP/1.1\r\n\r\n")
    assert stream.read(65536).startswith(b"HTTP/1.1 200 OK")
    assert time.monotonic() - started >= 0.6  # the waits did happen
    own = backend.network_time()
    assert own is not None
    assert 0.2 <= own < 0.4
    stream.close()
    listener.close()


def test_the_handshake_time_is_the_kernels_round_trip() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    started = time.monotonic()
    client = socket.create_connection(listener.getsockname())
    wall = time.monotonic() - started
    left, right = socket.socketpair()
    try:
        handshake = handshake_time(client)
        assert handshake is not None and 0 < handshake <= wall
        assert handshake_time(left) is None  # not TCP
        assert handshake_time(None) is None  # httpcore gave no socket
    finally:
        for sock in (client, listener, left, right):
            sock.close()


def test_a_retransmitted_syn_keeps_the_wall_clock() -> None:
    """A SYN dropped by a full accept queue and sent again a second later: the kernel's
    round trip would be the second SYN's alone, so the wall clock (over 1 s) counts."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # Linux queues one connection beyond the backlog
    address = listener.getsockname()
    queued = [socket.create_connection(address, timeout=5)]
    late: list[socket.socket] = []
    connecting = threading.Thread(target=lambda: late.append(
        socket.create_connection(address, timeout=10)))
    started = time.monotonic()
    connecting.start()
    time.sleep(0.3)  # its first SYN is dropped: the accept queue is full
    accepted = [listener.accept()[0] for _ in range(2)]  # room for the second SYN
    connecting.join(10)
    try:
        assert late, "the third connection never completed"
        assert time.monotonic() - started > 0.9  # it waited for the retransmission
        assert handshake_time(late[0]) is None
    finally:
        for sock in (*queued, *accepted, *late, listener):
            sock.close()


def test_no_arrival_without_data() -> None:
    left, right = socket.socketpair()
    try:
        assert arrival(left.fileno()) is None  # nothing queued: the peek finds nothing
        right.sendall(b"x")
        time.sleep(0.05)
        assert arrival(left.fileno()) is None  # a socketpair is not time-stamped
    finally:
        left.close()
        right.close()


def test_rearming_forgets_the_last_request() -> None:
    backend = DeadlineBackend()
    backend.arm(Deadline.after(5))
    backend.began()
    assert backend.network_time() is None  # nothing arrived yet
    backend.arm(Deadline.after(5))
    assert backend.network_time() is None


def _perf(first_line: str) -> dict[str, float]:
    values = {}
    for item in first_line.split(" | ", 1)[1].split():
        label, _, rest = item.partition("=")
        number = rest.split(";", 1)[0].removesuffix("s")
        if label.endswith("_time") and number != "U":
            values[label] = float(number)
    return values


def test_total_time_is_the_steps_own_times_added_up(
        stamping: None, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin busy for 0.3 s before each Execute (as a thread waiting for the GIL
    behind 31 other probes would be): neither the step times nor total_time grow."""
    original = MapiSession.execute

    def slow(self: MapiSession, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MapiSession, "execute", slow)
    started = time.monotonic()
    outcome = probe(emulator, monkeypatch=monkeypatch)
    assert time.monotonic() - started >= 0.6  # two Executes, each 0.3 s late
    assert outcome.code == 0, outcome.output
    times = _perf(outcome.first_line)
    assert times["logon_time"] < 0.3 and times["inbox_time"] < 0.3
    steps = sum(t for label, t in times.items() if label != "total_time")
    assert times["total_time"] == pytest.approx(steps, abs=0.0005)  # rounding only
    assert times["total_time"] < 0.6


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_slow_answer_in_one_piece_counts_in_full(
        stamping: None, scheme: str, tls: Tls, emulator_factory: Callable[..., Emulator],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Autodiscover answering after 0.4 s on a fresh connection: its time holds the
    0.4 s, over TLS 1.3 too, where the server's session tickets arrive before the answer
    (the emulator writes head and body apart, so the body's arrival is noted even without
    ``_read_tls``; the backend test above has the answer in one piece)."""
    emulator = emulator_factory(fault_toml(step="autodiscover", latency_ms=400),
                                tls=tls if scheme == "https" else None)
    monkeypatch.setenv("CHECK_MAPI_PASSWORD", PASSWORD)
    code, output = run(["-m", SMTP, "--autodiscover-url", emulator.autodiscover_url,
                        "--auth", "basic", "--ca-file", str(tls.ca_pem)])
    first_line = output.split("\n", 1)[0]
    assert code == 0, output
    assert 0.4 <= _perf(first_line)["autodiscover_time"] < 1.0
