"""A threaded HTTP/1.1 test server on 127.0.0.1 (https with an SSL context), the base of
the hostile-answer servers (tests/robust_input) and the fuzz replay server (tests/robust):
one thread accepts, one thread per connection runs the subclass's ``_serve``."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case; values as latin-1 text
    body: bytes

    @property
    def authorized(self) -> bool:
        return "authorization" in self.headers


def read_request(reader: object) -> Request | None:
    """The next request from a socket's ``makefile("rb")``; None at the end."""
    readline = reader.readline  # type: ignore[attr-defined]
    first = readline()
    if not first.strip():
        return None
    method, path, _ = first.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (line := readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))  # type: ignore[attr-defined]
    return Request(method, path, headers, body)


class LoopbackServer:
    """Call ``_listen()`` once the subclass's own fields are set; ``close()`` at the end."""

    context: ssl.SSLContext | None

    def _listen(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.context else "http"
        return f"{scheme}://127.0.0.1:{self._sock.getsockname()[1]}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError
