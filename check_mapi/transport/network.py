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
  still blocks (a handshake that trickles, a write that never drains);
* keeps each request's own time (``network_time``) by the kernel's clock where it can
  (``stamps``: arrival times of data, the TCP handshake's round trip, a TLS handshake
  timed flight by flight), leaving out the thread's time between network actions.

Its streams answer ``get_extra_info`` like httpcore's, so ``facts.connection_facts`` reads
what each connection was.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, cast

import httpcore

from ..deadline import Deadline
from .stamps import (
    STAMPED,
    StampedTls,
    handshake_time,
    note_arrival,
    stamp_arrivals,
    wait_for,
)
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
            stamp_arrivals(sock)
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
            handshake = handshake_time(stream.get_extra_info("socket"))
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
        if self._fd >= 0 and STAMPED:
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
        if not wait_for(self._fd, select.POLLIN, timeout):
            raise httpcore.ReadTimeout("timed out")
        note_arrival(self._fd, self._backend)

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
        stamped = None  # TLS in TLS (an https proxy) keeps httpcore's own handshake
        if STAMPED and self._sock is not None and not isinstance(self._sock, ssl.SSLSocket):
            stamped = StampedTls(ssl_context, self._backend)
        try:
            tls = self._inner.start_tls(cast(ssl.SSLContext, stamped or ssl_context),
                                        server_hostname, clamped)
        finally:  # on failure httpcore has closed the socket: its descriptor is not ours
            self._backend.forget(self._inner)
        if stamped is None or not stamped.ran:
            self._backend.settled()
        return self._backend.track(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


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
