"""The HTTP/1.1 server: keep-alive, optional TLS, chunked MAPI/HTTP answers, and the
:class:`Emulator` handle tests, benchmarks and ``check_mapi --demo`` use.

Standard library only (``http.server``), one thread per TCP connection, at most
``[server] max_connections`` at once: beyond that a new connection is answered 503 and
closed (``connections_refused``), so a flood cannot exhaust threads. Nothing is ever
printed: request logging is switched off and errors (garbage, TLS failures, clients that
go away) are counted in the statistics instead.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from socketserver import TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import config as config_module
from .app import App
from .auth import AuthResult, ConnectionAuth
from .capped import CappedServer
from .config import EmulatorConfig
from .idp_hooks import IdentityHooks
from .ntlm import tls_server_end_point
from .reply import Reply, Request, http_date
from .stats import StatsSnapshot

MAX_BODY = 4 * 1024 * 1024  # far above Exchange's own limits; beyond it: 413 and close
POLL_INTERVAL = 0.05


class _Server(CappedServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App,
                 ssl_context: ssl.SSLContext | None) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler, app.config.server.max_connections, app.stats)

    def server_bind(self) -> None:
        TCPServer.server_bind(self)  # skip HTTPServer's getfqdn(): a DNS lookup at start-up
        self.server_name, self.server_port = str(self.server_address[0]), int(
            self.server_address[1])

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        if self.ssl_context is not None:  # the handshake runs in the connection's thread
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.app.stats.bump("errors")  # never a traceback on stderr

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    disable_nagle_algorithm = True  # PROCESSING must leave at once, not wait for an ACK
    server: _Server
    auth: ConnectionAuth

    def setup(self) -> None:
        app = self.server.app
        app.stats.bump("tcp_connections")
        with self.server.connections_lock:
            self.server.connections.add(self.request)
        super().setup()
        self.connection.settimeout(app.config.server.idle_connection_timeout_s)
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except OSError:  # ssl.SSLError included; finish() will not run
                with self.server.connections_lock:
                    self.server.connections.discard(self.request)
                raise
        self.auth = app.new_connection_auth()

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.request)
        with contextlib.suppress(OSError):
            super().finish()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silence: the emulator never writes to stderr."""

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        self.server.app.stats.bump("errors")
        super().send_error(code, message, explain)

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # -- request -----------------------------------------------------------------------

    def _serve(self) -> None:
        app = self.server.app
        started = time.monotonic()
        body = self._read_body()
        if body is None:
            return
        url = urlsplit(self.path)
        where = app.route(url.path)
        headers = self._header_map()
        counted = app.counted(where)
        if counted:
            app.stats.request(app.request_kind(where, headers))
        query = dict(reversed(parse_qsl(url.query, keep_blank_values=True)))
        req = Request(self.command, url.path, query, headers, body, None,
                      isinstance(self.connection, ssl.SSLSocket), app.base_url, started)
        result: AuthResult | None = None
        if where in ("autodiscover", "emsmdb", "nspi") or (
                where == "autodiscover_json" and "bearer" in app.config.auth.methods
                and _is_bearer(self.headers.get("Authorization"))):
            result = self.auth.authenticate(self.headers.get("Authorization"))
            if result.handshake_completed:
                app.stats.bump("auth_handshakes")
            if result.status != 200:
                close = result.challenge and app.closes_after_challenge(where, req)
                self._write(app.challenge(result, close), started, None)
                return
            req = replace(req, identity=result.identity)
        reply = app.with_auth_headers(app.dispatch(where, req), result)
        self._write(reply, started, req, counted)

    def _header_map(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            joiner = "; " if key == "cookie" else ", "
            found[key] = f"{found[key]}{joiner}{value}" if key in found else value
        return found

    def _read_body(self) -> bytes | None:
        """The request body; None once an error is answered (and the connection closed)."""
        problem = self._framing_problem()
        if problem is not None:
            self.send_error(*problem)
            self.close_connection = True
            return None
        if (self.headers.get("Transfer-Encoding") or "").strip():  # chunked: checked above
            return self._read_chunked()
        size = int((self.headers.get("Content-Length") or "0").strip())
        body = self.rfile.read(size)
        if len(body) != size:
            self.close_connection = True
            return None
        return body

    def _framing_problem(self) -> tuple[int, str] | None:
        """Why the body cannot be read. Ambiguous framing (two Content-Lengths, or one with
        Transfer-Encoding) is refused before waiting for any body (RFC 9112 6.3)."""
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1 or (lengths and "Transfer-Encoding" in self.headers):
            return 400, "Ambiguous message framing"
        coding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if coding not in ("", "chunked"):
            return 501, "Unsupported Transfer-Encoding"
        length = (lengths[0] if lengths else "0").strip()
        if not (length.isdigit() and length.isascii()):
            return 400, "Bad Content-Length"
        return (413, "Request Entity Too Large") if int(length) > MAX_BODY else None

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                size = -1
            if size < 0 or total + size > MAX_BODY:
                self.send_error(400, "Bad chunked body")
                self.close_connection = True
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailer fields
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(3)
            total += size

    # -- reply ---------------------------------------------------------------------------

    def _write(self, reply: Reply, started: float, req: Request | None,
               counted: bool = True) -> None:
        app = self.server.app
        if counted:  # the emulator's own hooks are counted nowhere (stats.py)
            app.stats.answered(reply.status, reply.response_code)
        if reply.fault:
            app.stats.bump("faults_applied")
        try:
            if reply.delay_s and app.stop_event.wait(reply.delay_s):
                self._drop()
                return
            if reply.stream is not None and req is not None:
                self._write_stream(reply, started, req)
            else:
                self._write_plain(reply)
        except OSError:  # the client went away mid-answer
            app.stats.bump("errors")
            self.close_connection = True

    def _head(self, reply: Reply, extra: tuple[tuple[str, str], ...]) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers + extra:
            self.send_header(name, value)
        self.end_headers()

    def _write_plain(self, reply: Reply) -> None:
        body = reply.body[: len(reply.body) // 2] if reply.truncate_body else reply.body
        has_length = any(k.lower() == "content-length" for k, _ in reply.headers)
        self._head(reply, () if has_length else (("Content-Length", str(len(body))),))
        if reply.drop:
            self.wfile.write(body[: len(body) // 2])
            self._drop()
            return
        self.wfile.write(body)

    def _chunk(self, data: bytes, last: bool = False) -> None:
        self.wfile.write(b"%X\r\n%s\r\n%s" % (len(data), data, b"0\r\n\r\n" if last else b""))

    def _write_stream(self, reply: Reply, started: float, req: Request) -> None:
        """[MS-OXCMAPIHTTP] 3.2.5.2: PROCESSING, PENDING keep-alives, DONE, headers, body."""
        stream = reply.stream
        assert stream is not None
        stop = self.server.app.stop_event
        self._head(reply, (("Transfer-Encoding", "chunked"),))
        self._chunk(b"PROCESSING\r\n")
        if stream.drop_after_processing:
            self._drop()
            return
        deadline = time.monotonic() + stream.delay_s
        while stream.pending_forever or time.monotonic() < deadline:
            wait = stream.pending_period_s
            if not stream.pending_forever:
                wait = min(wait, deadline - time.monotonic())
            if stop.wait(max(wait, 0.0)):
                self._drop()
                return
            if stream.pending_forever or time.monotonic() < deadline:
                self._chunk(b"PENDING\r\n")
        elapsed = int((time.monotonic() - started) * 1000)
        done = (f"DONE\r\nX-ResponseCode: {reply.response_code or 0}\r\nX-ElapsedTime: "
                f"{elapsed}\r\nX-StartTime: {http_date(req.started_at)}\r\n\r\n").encode()
        body = stream.body[: len(stream.body) // 2] if stream.truncate_body else stream.body
        self._chunk(done + body, last=True)

    def _drop(self) -> None:
        """Close the TCP connection now, in the middle of the answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


def _is_bearer(authorization: str | None) -> bool:
    """Autodiscover v2 is anonymous, but a Bearer token sent to it (where Bearer is one of the
    methods) must be valid."""
    return (authorization or "").strip().lower().startswith("bearer")


def _first_certificate(path: Path) -> bytes:
    """DER of the server's own certificate: the first one in the PEM file (RFC 5929 binds
    to the end-entity certificate, which comes first in a chain file)."""
    pem = path.read_text(encoding="ascii")
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = pem.index(begin)
    return ssl.PEM_cert_to_DER_cert(pem[start : pem.index(end, start) + len(end)])


class Emulator(IdentityHooks):
    """An Exchange-like Autodiscover and MAPI/HTTP server on a local port.

    ``Emulator(config).start()`` listens (port 0: a free one), ``url`` is its base URL,
    ``stats()`` its counters; ``stop()`` ends it. Also a context manager. With an
    ``[identity]`` section, :class:`.idp_hooks.IdentityHooks` drives its identity provider.
    """

    def __init__(self, config: EmulatorConfig | str | Path | None = None, *,
                 host: str = "127.0.0.1", port: int = 0, tls_cert: str | Path | None = None,
                 tls_key: str | Path | None = None) -> None:
        if config is None:
            from .example import example_config
            config = config_module.loads(example_config())
        elif not isinstance(config, EmulatorConfig):
            config = config_module.load(config)
        self.config = config
        self._host, self._port = host, port
        self._ssl: ssl.SSLContext | None = None
        binding = None
        if tls_cert is not None:
            self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ssl.load_cert_chain(str(tls_cert), str(tls_key) if tls_key else None)
            binding = tls_server_end_point(_first_certificate(Path(tls_cert)))
        self.app = App(config, binding)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Emulator:
        server = _Server((self._host, self._port), self.app, self._ssl)
        host = self._host if ":" not in self._host else f"[{self._host}]"
        scheme = "https" if self._ssl else "http"
        self.app.base_url = f"{scheme}://{host}:{server.server_port}"
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(POLL_INTERVAL,),
                                        name="check_mapi-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.app.stop_event.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Run in the calling thread until stop() (or KeyboardInterrupt) — for the CLI."""
        if self._thread is None:
            self.start()
        try:
            while self._server is not None and not self.app.stop_event.wait(0.5):
                pass
        finally:
            self.stop()

    @property
    def url(self) -> str:
        if not self.app.base_url:
            raise RuntimeError("the emulator is not started")
        return self.app.base_url

    @property
    def autodiscover_url(self) -> str:
        return f"{self.url}/autodiscover/autodiscover.xml"

    def mapi_url(self, smtp: str) -> str:
        mailbox = self.config.by_smtp(smtp)
        if mailbox is None:
            raise KeyError(smtp)
        return f"{self.url}/mapi/emsmdb/?MailboxId={mailbox.mailbox_id}"

    def stats(self) -> StatsSnapshot:
        return self.app.snapshot()

    def reset_stats(self) -> None:
        self.app.stats.reset()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

