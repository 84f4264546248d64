"""The network under httpx: every socket operation bounded by the check's ``Deadline``.

httpx's timeouts apply to each socket operation, so a server that trickles bytes, or a
TLS handshake, a name lookup or a sequence of reads could outlive ``-t``. This backend
(httpcore's ``NetworkBackend`` interface, wrapping its ``SyncBackend``) therefore:

* clamps every connect, TLS handshake, read and write to what is left of the deadline of
  the request in flight, and refuses to start one once it has passed;
* resolves names in a helper thread and waits no longer than the deadline (``getaddrinfo``
  has no timeout of its own), then connects to the addresses it found; ``--ip`` and
  ``--resolve`` (``pinned``) replace the lookup of the hosts they name, ``-4``/``-6``
  (``family``) keep the addresses of one family;
* arms a watchdog per request (one thread for the whole process) that shuts the
  request's connections down from outside when its deadline passes, for anything that
  still blocks (a handshake that trickles, a write that never drains).

Its streams answer ``get_extra_info`` like httpcore's, so ``facts.connection_facts`` reads
what each connection was.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, cast

import httpcore

from ..deadline import Deadline
from .watchdog import Watchdog


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, bounded by ``self.deadline`` (set per request)."""

    def __init__(self, pinned: Sequence[tuple[str, str]] = (), family: int = 0) -> None:
        self.deadline: Deadline | None = None
        self.pinned = tuple(pinned)  # (host, address); host "*": every host
        self.family = family  # 0 any, 4, 6
        self._inner = httpcore.SyncBackend()
        self._lock = threading.Lock()
        self._live: dict[int, int] = {}  # id(stream) -> its socket's file descriptor
        self._watchdog = Watchdog(self.abort)
        self._began: float | None = None  # the request's first network action (monotonic)
        self._arrived: float | None = None  # the kernel's arrival time of its last data
        self._settled: float | None = None  # when the last network action ended
        self._local = 0.0  # this thread's own time between network actions

    # -- the deadline --------------------------------------------------------------------

    def arm(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self._watchdog.arm(deadline.at)
        self._began = self._arrived = self._settled = None
        self._local = 0.0

    # -- the request's own time ----------------------------------------------------------

    def began(self) -> None:
        """A network action of the request starts now (the thread holds the GIL here)."""
        if self._began is None:
            self._began = time.monotonic()

    def sending(self) -> None:
        """A write starts now. The time since the last network action ended (a connect
        done, the last data arrived) was this thread's own: building the request, or
        waiting for the GIL behind other probes. It is not the request's time. The write
        counts as instantaneous: a MAPI request fits the socket's send buffer, and the
        moment the send returns would again include a wait for the GIL."""
        now = time.monotonic()
        if self._began is None:
            self._began = now
        elif self._settled is not None:
            self._local += max(now - self._settled, 0.0)
        self._settled = now

    def settled(self, at: float | None = None) -> None:
        """A network action (a connect, a TLS handshake) ended now, or at ``at``."""
        self._settled = time.monotonic() if at is None else at

    def arrived(self, at: float) -> None:
        """Data arrived at ``at`` (the kernel's time): the request's latest network moment."""
        self._arrived = self._settled = at

    def network_time(self) -> float | None:
        """From the request's first network action to the arrival of the last data it read,
        as the kernel time-stamped it, less this thread's own time between network actions
        (``sending``); None when that cannot be known, or when the answer came before the
        request was all written (a server that answers early: the wall clock then)."""
        if self._began is None or self._arrived is None:
            return None
        own = self._arrived - self._began - self._local
        return own if own > 0 else None

    def disarm(self) -> None:
        self._watchdog.arm(None)

    def close(self) -> None:
        self._watchdog.close()

    def clamp(self, timeout: float | None, exception: type[Exception]) -> float | None:
        """``timeout`` cut to what is left; ``exception`` when nothing is."""
        if self.deadline is None:
            return timeout
        left = self.deadline.remaining()
        if left <= 0:
            raise exception("the check's time budget ran out")
        return left if timeout is None else min(timeout, left)

    def abort(self) -> None:
        """Shut every open connection down (from the watchdog thread)."""
        with self._lock:
            for fd in self._live.values():
                # By descriptor: it survives the TLS wrap, which detaches the plain socket
                # object; shutdown (not close) wakes a blocked reader without freeing the fd.
                with contextlib.suppress(OSError):
                    sock = socket.socket(fileno=fd)
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    finally:
                        sock.detach()

    def track(self, stream: httpcore.NetworkStream) -> _Stream:
        sock = stream.get_extra_info("socket")
        fd = -1
        if isinstance(sock, socket.socket):
            fd = sock.fileno()
            with self._lock:
                self._live[id(stream)] = fd
            _stamp_arrivals(sock)
        return _Stream(stream, self, sock if isinstance(sock, socket.socket) else None, fd)

    def forget(self, stream: httpcore.NetworkStream) -> None:
        with self._lock:
            self._live.pop(id(stream), None)

    # -- httpcore.NetworkBackend ---------------------------------------------------------

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return self.dial(host, port, timeout, local_address, socket_options, pinned=True)

    def dial(self, host: str, port: int, timeout: float | None = None,
             local_address: str | None = None, socket_options: Iterable[Any] | None = None,
             *, pinned: bool) -> httpcore.NetworkStream:
        """A bounded connection to ``host``; ``pinned`` False: ignore --ip/--resolve (they
        name origins; a proxy is dialled by its own name)."""
        self.began()
        addresses = resolve(host, port, self.clamp(timeout, httpcore.ConnectTimeout),
                            self.pinned if pinned else (), self.family)
        failure: Exception | None = None
        for address in addresses:
            started = time.monotonic()
            try:
                stream = self._inner.connect_tcp(
                    _without_idna(address), port, self.clamp(timeout, httpcore.ConnectTimeout),
                    local_address, socket_options)
            except httpcore.ConnectError as err:
                failure = err
                continue
            handshake = _handshake_time(stream.get_extra_info("socket"))
            self.settled(None if handshake is None else started + handshake)
            return self.track(stream)
        raise failure or httpcore.ConnectError(f"no address for {host}")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:  # pragma: no cover - not used
        raise httpcore.ConnectError("unix sockets are not supported")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore's retries only
        time.sleep(min(seconds, self.deadline.remaining() if self.deadline else seconds))


class _Stream(httpcore.NetworkStream):
    """A connection whose every operation is clamped to the backend's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, backend: DeadlineBackend,
                 sock: socket.socket | None = None, fd: int = -1) -> None:
        self._inner = inner
        self._backend = backend
        self._sock, self._fd = sock, fd

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        clamped = self._backend.clamp(timeout, httpcore.ReadTimeout)
        if self._fd >= 0 and _STAMPED:
            if isinstance(self._sock, ssl.SSLSocket):
                return self._read_tls(max_bytes, timeout)
            self._note_arrival(clamped)
        data: bytes = self._inner.read(max_bytes, clamped)
        return data

    def _read_tls(self, max_bytes: int, timeout: float | None) -> bytes:
        """The first records after a TLS 1.3 handshake may hold no application data (the
        server's session tickets [RFC 8446 4.6.1], sent as the handshake ends): a blocking
        read would consume them and go on waiting for the answer, whose arrival would then
        go unnoted. So each arrival is noted and read without blocking, until the read
        returns application data."""
        while True:
            self._note_arrival(self._backend.clamp(timeout, httpcore.ReadTimeout))
            try:
                data: bytes = self._inner.read(max_bytes, 0.0)  # 0.0: non-blocking
            except httpcore.ReadError as err:
                if isinstance(err.__cause__, ssl.SSLWantWriteError):  # a key update's write
                    return self._inner.read(max_bytes, self._backend.clamp(
                        timeout, httpcore.ReadTimeout))
                if not isinstance(err.__cause__, ssl.SSLWantReadError):
                    raise
            else:
                return data

    def _note_arrival(self, timeout: float | None) -> None:
        """Wait until data is there, then ask the kernel when it arrived (before this
        thread got the GIL back: with many probes in threads, that wait is not the
        server's time). Data TLS already decrypted arrived with what was noted before."""
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        # rounded up: a wait that ends before the deadline would not read as its end
        if not poller.poll(-1 if timeout is None else int(timeout * 1000) + 1):
            raise httpcore.ReadTimeout("timed out")
        arrived = _arrival(self._fd)
        if arrived is not None:
            self._backend.arrived(arrived)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:  # httpcore also "writes" h11's empty end of a sized body, often late
            self._backend.sending()
        self._inner.write(buffer, self._backend.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._backend.forget(self._inner)
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        clamped = self._backend.clamp(timeout, httpcore.ConnectTimeout)
        self._backend.sending()  # the ClientHello: the wait since the connect is not counted
        if server_hostname is not None and server_hostname.isascii():
            server_hostname = _without_idna(server_hostname)
        try:
            tls = self._inner.start_tls(ssl_context, server_hostname, clamped)
        finally:  # on failure httpcore has closed the socket: its descriptor is not ours
            self._backend.forget(self._inner)
        self._backend.settled()
        return self._backend.track(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


# Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS; the socket module does not name it): each
# read's data carries the CLOCK_REALTIME moment it arrived. Elsewhere: wall time only.
_SO_TIMESTAMPNS = 35
_STAMPED = sys.platform.startswith("linux")
_TIMESPEC = struct.Struct("@ll")


def _stamp_arrivals(sock: socket.socket) -> None:
    """Kernel arrival times on, and Nagle off: httpcore writes a request's headers and
    body separately, and Nagle would hold the body back until the headers were
    acknowledged (an extra round trip, or a 40 ms delayed ACK, in every step's time)."""
    with contextlib.suppress(OSError):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if _STAMPED:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)


# struct tcp_info (linux/tcp.h): 8 bytes of u8 fields, then u32s; tcpi_rtt (microseconds)
# is the 16th u32 and tcpi_total_retrans the 24th
_TCP_INFO = struct.Struct("@8x60xI28xI")
_TCP_INFO_SIZE = 104


def _handshake_time(sock: object) -> float | None:
    """How long the TCP handshake took, as the kernel measured it: right after connect the
    smoothed round-trip time holds one sample, the SYN's. The wall clock around connect
    would also hold this thread's wait for the GIL after the kernel finished (tens of ms
    with many probes in threads). None (the wall clock then) off Linux, for a socket that
    is not TCP, or when a SYN was retransmitted: the sample would then leave out the wait
    for the retransmission, which is the user's time too."""
    if not _STAMPED or not isinstance(sock, socket.socket) or sock.family not in (
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


def _arrival(fd: int) -> float | None:
    """The monotonic moment the data at the head of ``fd``'s queue arrived (peeked, not
    consumed); None when the kernel does not say (closed, or not stamped)."""
    sock = socket.socket(fileno=fd)
    try:
        _, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_SPACE(_TIMESPEC.size),
                                          socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return None
    finally:
        sock.detach()
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(
                data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack(data[:_TIMESPEC.size])
            realtime = int(seconds) * 1_000_000_000 + int(nanoseconds)
            return (realtime - time.time_ns() + time.monotonic_ns()) / 1e9
    return None


def _without_idna(name: str) -> str:
    """An ASCII host name or address as bytes, which getaddrinfo and ssl take as they are.
    Given a str, both run it through the IDNA codec, whose first use imports
    ``encodings.idna`` and ``stringprep`` (~2 ms, inside the first step's time) to change
    nothing in an ASCII name."""
    return cast(str, name.encode("ascii"))


def resolve(host: str, port: int, timeout: float | None,
            pinned: Sequence[tuple[str, str]] = (), family: int = 0) -> list[str]:
    """The addresses of ``host`` of ``family`` (0: any; 4, 6), from ``pinned`` (host or
    "*", address) or looked up in a helper thread for at most ``timeout``."""
    name = host.strip("[]").lower().rstrip(".")
    wanted = [address for match, address in pinned if match == name]
    wanted = wanted or [address for match, address in pinned if match == "*"]
    if not wanted:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            wanted = _lookup(host, port, timeout)
        else:
            wanted = [name]
    kept = [a for a in wanted if not family or ipaddress.ip_address(a).version == family]
    if not kept:
        raise httpcore.ConnectError(f"no IPv{family} address for {host.strip('[]')}")
    return kept


def _lookup(host: str, port: int, timeout: float | None) -> list[str]:
    """``getaddrinfo`` in a helper thread, for at most ``timeout``."""
    found: list[list[str] | OSError] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except OSError as err:  # socket.gaierror included
            found.append(err)
        except UnicodeError as err:  # an IDNA-invalid name
            found.append(OSError(f"invalid host name ({err})"))
        done.set()

    threading.Thread(target=lookup, name="check_mapi-dns", daemon=True).start()
    if not done.wait(timeout):
        raise httpcore.ConnectTimeout(f"no answer to the name lookup of {host}")
    answer = found[0]
    if isinstance(answer, OSError):
        raise httpcore.ConnectError(str(answer))
    return answer
