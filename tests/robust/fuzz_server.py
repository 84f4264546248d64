"""A loopback server for the fuzz tests: it first records the emulator's real answer to
each step of one probe (``record``), then replays those answers, one step's answer
replaced by a mutated one (``arm``).

Each request gets its own connection, closed once the answer is written: a mutated
``Content-Length`` or ``Connection`` cannot make the plugin wait for bytes that never come
(the plugin sees the end of the answer at once), so a run takes milliseconds.

Steps are told apart by the request, not by their order: ``autodiscover_v2`` (the GET of
``autodiscover.json``), ``autodiscover`` (the POX POST), then ``X-RequestType`` Connect,
Execute (the first is ``logon``, the second ``inbox``) and Disconnect.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..loopback import LoopbackServer, read_request

STEPS = ("autodiscover_v2", "autodiscover", "connect", "logon", "inbox", "disconnect")
DROPPED = ("content-length", "transfer-encoding", "connection", "keep-alive", "date")


@dataclass
class Answer:
    """One recorded answer, split for mutation: its head (status line and header lines,
    without the blank line and ``Content-Length``) and its body, de-chunked."""

    status: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def head(self) -> bytes:
        lines = [self.status, *(name + b": " + value for name, value in self.headers)]
        return b"\r\n".join(lines) + b"\r\n"

    def encode(self, body: bytes | None = None, head: bytes | None = None) -> bytes:
        """The whole answer; ``head`` given: it is sent as is (its own framing)."""
        body = self.body if body is None else body
        if head is None:
            head = self.head() + b"Content-Length: %d\r\nConnection: close\r\n" % len(body)
        return head + b"\r\n" + body


@dataclass
class FuzzServer(LoopbackServer):
    """``record(emulator_url)`` forwards to the emulator and keeps its answers;
    afterwards every request is answered from them, the ``armed`` step with its bytes."""

    context: ssl.SSLContext | None = None  # serve https with it
    recorded: dict[str, Answer] = field(default_factory=dict)
    armed: tuple[str, bytes] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._executes = 0
        self._upstream: httpx.Client | None = None
        self._listen()

    def record(self, upstream: str) -> None:
        self._upstream = httpx.Client(base_url=upstream, timeout=10)

    def replay(self) -> None:
        assert self._upstream is not None
        self._upstream.close()
        self._upstream = None

    def arm(self, step: str | None, data: bytes = b"") -> None:
        """The next probe: ``step`` answered with ``data`` (None: all as recorded)."""
        with self._lock:
            self._executes = 0
            self.armed = None if step is None else (step, data)

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            with conn.makefile("rb") as reader:
                request = read_request(reader)
            if request is not None:
                conn.sendall(self._answer(request.method, request.path, request.headers,
                                          request.body))
            conn.shutdown(socket.SHUT_WR)
        except OSError:  # ssl.SSLError included: the plugin hung up
            pass
        finally:
            conn.close()

    def _step(self, method: str, path: str, headers: dict[str, str]) -> str:
        if "autodiscover.json" in path.lower():
            return "autodiscover_v2"
        kind = headers.get("x-requesttype", "").lower()
        if not kind:
            return "autodiscover"
        if kind == "execute":
            with self._lock:
                self._executes += 1
                return ("logon", "inbox")[min(self._executes, 2) - 1]
        return kind

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        step = self._step(method, path, headers)
        if self._upstream is not None:
            self.recorded[step] = self._forward(method, path, headers, body)
        armed = self.armed
        if armed is not None and armed[0] == step:  # this request's id where it was
            recorded = dict((k.lower(), v) for k, v in self.recorded[step].headers)
            sent = headers.get("x-requestid", "").encode("latin-1")
            return armed[1].replace(recorded.get(b"x-requestid") or b"\0", sent or b"\0")
        answer = self.recorded[step]
        return answer.encode(head=_echoed(answer, headers))

    def _forward(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> Answer:
        assert self._upstream is not None
        sent = {k: v for k, v in headers.items() if k not in ("host", "content-length",
                                                              "connection")}
        reply = self._upstream.request(method, path, headers=sent, content=body)
        kept = [(k.encode("latin-1"), v.encode("latin-1"))
                for k, v in reply.headers.multi_items() if k.lower() not in DROPPED]
        status = f"HTTP/1.1 {reply.status_code} {reply.reason_phrase}".encode("latin-1")
        content = reply.content  # de-chunked (and decoded, if it ever were) by httpx
        # The emulator names itself in its answers (v2 JSON, POX URLs): name this server.
        return Answer(status, kept, content.replace(str(self._upstream.base_url).rstrip(
            "/").encode(), self.url.encode()))


def _echoed(answer: Answer, headers: dict[str, str]) -> bytes | None:
    """The recorded head with this request's ``X-RequestId`` (None: the default head)."""
    wanted = headers.get("x-requestid")
    if wanted is None:
        return None
    fields = [(k, wanted.encode("latin-1") if k.lower() == b"x-requestid" else v)
              for k, v in answer.headers]
    echoed = Answer(answer.status, fields, answer.body)
    return echoed.head() + b"Content-Length: %d\r\nConnection: close\r\n" % len(answer.body)


_REAL_GETADDRINFO = socket.getaddrinfo


def _loopback_only(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    """``socket.getaddrinfo`` for loopback literals and ``localhost`` only: a mutated URL
    must never send the plugin to another host, nor a name to the DNS server."""
    name = (host.decode() if isinstance(host, bytes) else str(host)).strip("[]")
    try:
        allowed = ipaddress.ip_address(name).is_loopback
    except ValueError:
        allowed = name.lower() == "localhost"
    if not allowed:
        raise socket.gaierror(socket.EAI_NONAME, "fuzz guard: not a loopback address")
    return _REAL_GETADDRINFO(host, port, *args, **kwargs)


@contextmanager
def loopback_only() -> Iterator[None]:
    socket.getaddrinfo = _loopback_only
    try:
        yield
    finally:
        socket.getaddrinfo = _REAL_GETADDRINFO
