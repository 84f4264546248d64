"""A threading HTTP server with a cap on concurrent connections.

``http.server`` runs one thread per connection and never says no: a flood of connections
(or of clients that connect and send nothing) would grow threads without bound. Beyond the
cap a new connection gets ``503 Service Unavailable`` with ``Connection: close`` and is
counted in ``connections_refused``; the refusals themselves run on at most
:data:`REFUSERS` short-lived threads, and a connection beyond those is closed unanswered.
"""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .stats import Stats

REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nServer: Microsoft-IIS/10.0\r\nRetry-After: 1"
           b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
REFUSERS = 16  # threads answering refused connections at once
REFUSAL_TIMEOUT_S = 1.0  # for the TLS handshake, the send and the drain of a refusal


class CappedServer(ThreadingHTTPServer):
    """At most ``max_connections`` connection threads; counted from ``accept()`` on, so a
    burst of connections is capped before any of their threads has started."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 max_connections: int, stats: Stats) -> None:
        self.max_connections = max_connections
        self.cap_stats = stats
        self.active = 0
        self.active_lock = threading.Lock()
        self.refusers = threading.BoundedSemaphore(REFUSERS)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection, or the 503 refusal once the cap is reached."""
        with self.active_lock:
            busy = self.active >= self.max_connections
            self.active += not busy
        if not busy:
            try:
                super().process_request(request, client_address)
            except Exception:  # the thread did not start: its slot is free again
                self._release()
                raise
            return
        self.cap_stats.bump("tcp_connections")
        self.cap_stats.bump("connections_refused")
        if self.refusers.acquire(blocking=False):
            threading.Thread(target=self._refuse, args=(request,), daemon=True,
                             name="check_mapi-emulator-refusal").start()
        else:
            self.shutdown_request(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self.active_lock:
            self.active -= 1

    def _refuse(self, sock: socket.socket) -> None:
        """503, then drain what the client sent before closing: closing a socket with unread
        data sends a reset, which can destroy the answer before the client reads it."""
        try:
            sock.settimeout(REFUSAL_TIMEOUT_S)
            if isinstance(sock, ssl.SSLSocket):
                sock.do_handshake()
            sock.sendall(REFUSAL)
            if not isinstance(sock, ssl.SSLSocket):  # TLS: close_notify goes with close()
                sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:  # a client gone or too slow: nothing more to say to it
            pass
        finally:
            self.shutdown_request(sock)
            self.refusers.release()
