"""The request's own time: the kernel's arrival time of the answer, not the moment a busy
thread got around to reading it (issue 12: times must not grow with --parallel)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from check_mapi.deadline import Deadline
from check_mapi.emulator import Emulator
from check_mapi.probe.session import MapiSession
from check_mapi.transport.network import _SO_TIMESTAMPNS, DeadlineBackend, _arrival

from .conftest import probe

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
    receiver.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    try:
        until = time.monotonic() + 5
        while True:
            sender.sendall(b"x")
            time.sleep(0.01)
            stamped = _arrival(receiver.fileno())
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


def test_no_arrival_without_data() -> None:
    left, right = socket.socketpair()
    try:
        assert _arrival(left.fileno()) is None  # nothing queued: the peek finds nothing
        right.sendall(b"x")
        time.sleep(0.05)
        assert _arrival(left.fileno()) is None  # a socketpair is not time-stamped
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
