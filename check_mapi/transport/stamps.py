"""What the kernel says about time on a connection (Linux), so that a step's time is the
network's and the server's, not the time a busy thread took to get back to it.

* ``SO_TIMESTAMPNS``: each read's data carries the moment it arrived (``arrival``, peeked
  before the read);
* ``TCP_INFO``: right after connect, the TCP handshake's round trip (``handshake_time``);
* ``StampedTls``: a TLS handshake run without blocking, each flight's arrival noted, so
  that the thread's waits between the flights are not the handshake's.

Elsewhere than on Linux every function answers None and ``STAMPED`` is False: the wall
clock then.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import sys
import time
from typing import Any, Protocol

# Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS; the socket module does not name it): each
# read's data carries the CLOCK_REALTIME moment it arrived. Elsewhere: wall time only.
SO_TIMESTAMPNS = 35
STAMPED = sys.platform.startswith("linux")
_TIMESPEC = struct.Struct("@ll")
ANCILLARY_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)  # recvmsg's room for the time stamp


def stamp_arrivals(sock: socket.socket) -> None:
    """Kernel arrival times on, and Nagle off: httpcore writes a request's headers and
    body separately, and Nagle would hold the body back until the headers were
    acknowledged (an extra round trip, or a 40 ms delayed ACK, in every step's time)."""
    with contextlib.suppress(OSError):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if STAMPED:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


# struct tcp_info (linux/tcp.h): 8 bytes of u8 fields, then u32s; tcpi_rtt (microseconds)
# is the 16th u32 and tcpi_total_retrans the 24th
_TCP_INFO = struct.Struct("@8x60xI28xI")
_TCP_INFO_SIZE = 104


def handshake_time(sock: object) -> float | None:
    """How long the TCP handshake took, as the kernel measured it: right after connect the
    smoothed round-trip time holds one sample, the SYN's. The wall clock around connect
    would also hold this thread's wait for the GIL after the kernel finished (tens of ms
    with many probes in threads). None (the wall clock then) off Linux, for a socket that
    is not TCP, or when a SYN was retransmitted: the sample would then leave out the wait
    for the retransmission, which is the user's time too."""
    if not STAMPED or not isinstance(sock, socket.socket) or sock.family not in (
            socket.AF_INET, socket.AF_INET6):
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    except OSError:
        return None
    if len(info) < _TCP_INFO.size:
        return None
    rtt, retransmitted = _TCP_INFO.unpack_from(info)
    return rtt / 1e6 if rtt and not retransmitted else None


def arrival(fd: int) -> float | None:
    """The monotonic moment the data at the head of ``fd``'s queue arrived (peeked, not
    consumed); None when the kernel does not say (closed, or not stamped)."""
    sock = socket.socket(fileno=fd)
    try:
        _, ancillary, _, _ = sock.recvmsg(1, ANCILLARY_SPACE,
                                          socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return None
    finally:
        sock.detach()
    return stamped(ancillary)


def stamped(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The monotonic moment a ``recvmsg``'s ``SCM_TIMESTAMPNS`` message names, if any."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(
                data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack(data[:_TIMESPEC.size])
            realtime = int(seconds) * 1_000_000_000 + int(nanoseconds)
            return (realtime - time.time_ns() + time.monotonic_ns()) / 1e9
    return None


def wait_for(fd: int, events: int, timeout: float | None) -> bool:
    """Poll ``fd`` for ``events`` at most ``timeout`` s (None: without end); False when the
    time ran out. Rounded up to the millisecond: a wait that ended just before the
    deadline would not read as its end."""
    poller = select.poll()
    poller.register(fd, events)
    return bool(poller.poll(-1 if timeout is None else int(timeout * 1000) + 1))


def note_arrival(fd: int, clock: Clock) -> None:
    """Tell ``clock`` when the data waiting on ``fd`` arrived, if the kernel says."""
    arrived = arrival(fd)
    if arrived is not None:
        clock.arrived(arrived)


class Clock(Protocol):
    """The backend's accounting of a request's own time (``network.DeadlineBackend``)."""

    def sending(self) -> None: ...

    def arrived(self, at: float) -> None: ...


class StampedTls:
    """An ``ssl.SSLContext`` as httpcore's ``start_tls`` uses it (``wrap_socket``), whose
    handshake does not block: each flight of the server is waited for with ``poll`` and
    its arrival noted (``clock.arrived``), each flight of the client starts with
    ``clock.sending``. A blocking handshake would be timed from outside, by the wall
    clock, and hold the thread's waits for the GIL after each of its reads and writes
    (with many probes in threads, tens of milliseconds in every new connection's first
    step). ``ran`` tells whether the handshake went through here. Anything else is the
    wrapped context's."""

    def __init__(self, context: ssl.SSLContext, clock: Clock) -> None:
        self._context, self._clock = context, clock
        self.ran = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def wrap_socket(self, sock: socket.socket, server_hostname: str | None = None,
                    **kwargs: Any) -> ssl.SSLSocket:
        timeout = sock.gettimeout()
        tls = self._context.wrap_socket(sock, server_hostname=server_hostname,
                                        do_handshake_on_connect=False, **kwargs)
        try:
            self._handshake(tls, timeout)
            tls.settimeout(timeout)
        except BaseException:
            tls.close()  # the plain socket was detached into it: nobody else closes it
            raise
        self.ran = True
        return tls

    def _handshake(self, tls: ssl.SSLSocket, timeout: float | None) -> None:
        """[RFC 8446 2] / [RFC 5246 7.3]: as many flights as the protocol needs; a timeout
        as the blocking handshake's (``TimeoutError``, httpcore's ConnectTimeout)."""
        end = None if timeout is None else time.monotonic() + timeout
        tls.settimeout(0.0)
        while True:
            self._clock.sending()
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                events = select.POLLIN
            except ssl.SSLWantWriteError:
                events = select.POLLOUT
            else:
                return
            left = None if end is None else end - time.monotonic()
            if (left is not None and left <= 0) or not wait_for(tls.fileno(), events, left):
                raise TimeoutError("_ssl.c: The handshake operation timed out")
            if events == select.POLLIN:
                note_arrival(tls.fileno(), self._clock)
