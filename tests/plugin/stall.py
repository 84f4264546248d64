"""A loopback relay between the plugin and the emulator that misbehaves at one request.

``StallingRelay`` listens on 127.0.0.1 and serves exactly ONE request per client
connection: it reads the request (head and body), forwards it to the emulator on a fresh
connection with ``Connection: close``, and streams the answer back with its
``Connection``/``Keep-Alive`` headers replaced by ``Connection: close``, then closes both
sides. Every request of the plugin therefore opens a new TCP connection, and the n-th
connection the relay accepts carries the n-th request. With the plugin pointed at
``relay.autodiscover_url`` and the emulator advertising ``relay.url`` as its Internal and
External base URL, the plugin's order is fixed (see ``STEP_INDEX``), so a stall at one
connection index is a stall at one step of the probe, whatever that stall prevents the
relay from seeing of the request.

Modes of the stalled connection:

``tcp``         accepted, then nothing is read and nothing is sent; held open.
``tls``         the relay terminates TLS for every other connection, but this one is
                accepted and the handshake never happens; held open.
``processing``  the request is read and not forwarded; the answer is a 200 head (chunked,
                ``X-ResponseCode: 0``) and one chunk ``PROCESSING\\r\\n`` (for Autodiscover:
                an XML content type and the start of an XML document), then silence; held.
``trickle``     forwarded; the emulator's whole answer is sent to the client one byte per
                ``TRICKLE_INTERVAL`` seconds.

Without a mode the relay only passes requests through (still one request per connection,
answers streamed as they come, so the emulator's PENDING keep-alives arrive in time).

Threads are daemon threads; ``stop()`` closes the listener and every socket, held ones
included, which wakes every thread blocked on one. Nothing is ever written to stderr:
socket and protocol errors end the connection silently, and are counted in ``errors``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

MODES = ("tcp", "tls", "processing", "trickle")
# The plugin's requests in order, one TCP connection each, when Autodiscover is pinned to
# the relay and every step succeeds (Basic auth is preemptive: no 401 legs). A stall
# shortens the sequence (a timed-out logon is followed by Disconnect at index 3); only
# the index of the stalled request matters.
STEP_INDEX = {"autodiscover": 0, "connect": 1, "logon": 2, "inbox": 3, "disconnect": 4}
# What each of those requests is (``Seen.request_type``: X-RequestType, or "autodiscover").
REQUESTS = ("autodiscover", "Connect", "Execute", "Execute", "Disconnect")
TRICKLE_INTERVAL = 1.0  # seconds between two bytes of a trickled answer
IO_TIMEOUT = 30.0  # no relay socket waits longer than this (stop() wakes them anyway)
MAX_HEAD = 64 * 1024
MAX_BODY = 8 * 1024 * 1024
POLL = 0.05  # the accept loop looks at the stop flag this often
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection"}
XML_START = (b'<?xml version="1.0" encoding="utf-8"?>\r\n<Autodiscover xmlns="http://schemas.'
             b'microsoft.com/exchange/autodiscover/responseschema/2006">\r\n')


class _PeerClosedError(OSError):
    """The peer closed the connection before a complete message."""


@dataclass(frozen=True)
class Seen:
    """What the relay did with one connection (for assertions and failure messages)."""

    index: int
    accepted_at: float  # time.monotonic() when the connection was accepted
    action: str  # "forwarded", or the mode of the stall
    method: str = ""  # empty when the request was never read (tcp, tls)
    path: str = ""
    request_type: str = ""  # X-RequestType, or "autodiscover"

    def __str__(self) -> str:
        what = f" {self.method} {self.path} [{self.request_type}]" if self.method else ""
        return f"#{self.index} {self.action}{what}"


class _Reader:
    """Buffered reads from a socket: a head up to its blank line, exact byte counts."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise _PeerClosedError("connection closed by the peer")
        self.buffer += data

    def head(self) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD:
                raise ValueError("HTTP head too large")
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        return head

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD:
                raise ValueError("chunk line too long")
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line + b"\r\n"

    def chunked(self) -> bytes:
        """A chunked body, raw (framing kept): it is forwarded as it came."""
        raw = b""
        while True:
            line = self.line()
            raw += line
            size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                while True:  # trailer fields up to the blank line
                    trailer = self.line()
                    raw += trailer
                    if trailer == b"\r\n":
                        return raw
            if len(raw) + size > MAX_BODY:
                raise ValueError("chunked body too large")
            raw += self.exactly(size + 2)


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes  # raw: chunked framing kept when the request was chunked

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def is_autodiscover(self) -> bool:
        return "/autodiscover/" in self.path.lower()

    @property
    def request_type(self) -> str:
        return "autodiscover" if self.is_autodiscover else (self.header("X-RequestType") or "")

    def encode(self) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in HOP_BY_HOP]
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The start line and the header fields of an HTTP/1.1 head."""
    text = head.decode("latin-1")
    start, *fields = text.split("\r\n")
    headers: list[tuple[str, str]] = []
    for field in fields:
        name, sep, value = field.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"bad header field {field!r}")
        headers.append((name.strip(), value.strip()))
    return start, headers


def _read_request(reader: _Reader) -> _Request:
    start, headers = _parse_head(reader.head())
    parts = start.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError(f"bad request line {start!r}")
    request = _Request(parts[0], parts[1], headers, b"")
    coding = (request.header("Transfer-Encoding") or "").lower()
    if "chunked" in coding:
        body = reader.chunked()
    else:
        length = int(request.header("Content-Length") or "0")
        if not 0 <= length <= MAX_BODY:
            raise ValueError("bad Content-Length")
        body = reader.exactly(length)
    return _Request(request.method, request.path, headers, body)


def _response_head(head: bytes) -> bytes:
    """The emulator's response head with ``Connection: close`` as the only Connection field."""
    start, headers = _parse_head(head)
    lines = [start] + [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _processing_answer(request: _Request) -> bytes:
    """A 200 head and the first chunk of a streamed answer, whose rest never comes."""
    if request.is_autodiscover:
        headers = [("Content-Type", "text/xml; charset=utf-8")]
        chunk = XML_START
    else:
        headers = [("Cache-Control", "private"), ("Content-Type", "application/mapi-http")]
        for name in ("X-RequestType", "X-RequestId", "X-ClientInfo"):  # Exchange echoes them
            value = request.header(name)
            if value is not None:
                headers.append((name, value))
        headers += [("X-ResponseCode", "0"), ("X-PendingPeriod", "15000")]
        chunk = b"PROCESSING\r\n"
    headers += [("Transfer-Encoding", "chunked"), ("Connection", "close")]
    head = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + b"%X\r\n%s\r\n" % (len(chunk), chunk)


class StallingRelay:
    """``StallingRelay(mode, stall_at, tls=context)``: see the module docstring.

    The listening socket exists from construction on (``url`` is known before the emulator
    that must advertise it is configured); ``start(upstream_url)`` begins serving.
    """

    def __init__(self, mode: str | None = None, stall_at: int | None = None, *,
                 tls: ssl.SSLContext | None = None) -> None:
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        if (mode is None) != (stall_at is None):
            raise ValueError("a mode needs a request index to stall at, and vice versa")
        if mode == "tls" and tls is None:
            raise ValueError("mode 'tls' needs a server-side TLS context")
        self.mode, self.stall_at, self._tls = mode, stall_at, tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL)
        self.port = int(self._listener.getsockname()[1])
        self._upstream: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._accepted = 0
        self.seen: list[Seen] = []
        self.answered: set[int] = set()  # connections whose whole answer reached the client
        self.errors = 0

    # -- public -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def autodiscover_url(self) -> str:
        return f"{self.url}/autodiscover/autodiscover.xml"

    def start(self, upstream_url: str) -> StallingRelay:
        """Serve, forwarding to ``upstream_url`` (a plain-http emulator's base URL)."""
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream {upstream_url!r}: need http://host:port")
        self._upstream = (parts.hostname, parts.port)
        self._spawn(self._accept_loop, "accept")
        return self

    def stop(self) -> None:
        """Close the listener and every connection (held ones too); join the threads."""
        self._stop.set()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
            threads = list(self._threads)
        for sock in sockets:
            _close(sock)
        for thread in threads:
            thread.join(timeout=2.0)
        _close(self._listener)

    @property
    def stalled(self) -> bool:
        """Whether the stall hit the step it was meant for: every earlier connection carried
        the request ``REQUESTS`` names for it and got its whole answer, and the stalled one
        (when the relay read it) carried the request of the stalled step. False when the
        plugin gave up before (its budget ran out early), which shifts the order."""
        if self.stall_at is None:
            return False
        with self._lock:
            by_index = {seen.index: seen for seen in self.seen}
            for index in range(self.stall_at):
                seen = by_index.get(index)
                if (seen is None or seen.request_type != REQUESTS[index]
                        or index not in self.answered):
                    return False
            stalled = by_index.get(self.stall_at)
        return stalled is not None and stalled.request_type in ("", REQUESTS[self.stall_at])

    def first_connection(self) -> float | None:
        """time.monotonic() of the first accepted connection, None before any."""
        with self._lock:
            return min((seen.accepted_at for seen in self.seen), default=None)

    def log(self) -> str:
        """What happened to each connection, in order (for failure messages)."""
        with self._lock:
            seen = sorted(self.seen, key=lambda s: s.index)
        return "; ".join(map(str, seen)) or "no connection"

    def __enter__(self) -> StallingRelay:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- threads ----------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"stalling-relay-{self.port}-{name}")
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket, replaces: socket.socket | None = None) -> bool:
        """Remember ``sock`` for stop(); False (and ``sock`` closed) when stopping already."""
        with self._lock:
            if replaces is not None:
                self._sockets.discard(replaces)
            if self._stop.is_set():
                _close(sock)
                return False
            self._sockets.add(sock)
            return True

    def _release(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        _close(sock)

    def _note(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener was closed
                return
            client.settimeout(IO_TIMEOUT)
            if not self._track(client):
                return
            index, self._accepted = self._accepted, self._accepted + 1
            self._spawn(self._serve, f"conn{index}", client, index, time.monotonic())

    def _serve(self, client: socket.socket, index: int, accepted_at: float) -> None:
        stalled = self.mode if index == self.stall_at else None
        if stalled in ("tcp", "tls"):  # held as accepted: no read, no handshake
            self._note(Seen(index, accepted_at, stalled))
            return
        conn = client
        held = False
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(client, server_side=True,
                                             do_handshake_on_connect=False)
                if not self._track(conn, replaces=client):
                    return
                conn.do_handshake()
            request = _read_request(_Reader(conn))
            seen = Seen(index, accepted_at, stalled or "forwarded", request.method,
                        request.path, request.request_type)
            self._note(seen)
            if stalled == "processing":
                conn.sendall(_processing_answer(request))
                held = True  # silence from now on; stop() closes it
                return
            self._forward(conn, index, request, trickle=stalled == "trickle")
        except (OSError, ValueError):  # ssl.SSLError and socket.timeout included
            with self._lock:
                self.errors += 1
        finally:
            if not held:
                self._release(conn)

    def _forward(self, client: socket.socket, index: int, request: _Request, *,
                 trickle: bool) -> None:
        assert self._upstream is not None
        upstream = socket.create_connection(self._upstream, timeout=IO_TIMEOUT)
        if not self._track(upstream):
            return
        try:
            upstream.sendall(request.encode())
            reader = _Reader(upstream)
            head = _response_head(reader.head())
            if trickle:  # the whole answer first, then byte by byte
                answer = head + reader.buffer + _drain(upstream)
                for position in range(len(answer)):
                    client.sendall(answer[position:position + 1])
                    if self._stop.wait(TRICKLE_INTERVAL):
                        return
                return
            client.sendall(head + reader.buffer)
            while data := upstream.recv(65536):  # streamed: PENDING keep-alives pass at once
                client.sendall(data)
            with self._lock:
                self.answered.add(index)
        finally:
            self._release(upstream)


def _drain(sock: socket.socket) -> bytes:
    """Everything up to EOF (the emulator closes after a ``Connection: close`` answer)."""
    parts: list[bytes] = []
    total = 0
    while data := sock.recv(65536):
        parts.append(data)
        total += len(data)
        if total > MAX_BODY:
            raise ValueError("answer too large")
    return b"".join(parts)


def _close(sock: socket.socket) -> None:
    """Wake any thread blocked on ``sock`` (shutdown), then close it; never raises."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
