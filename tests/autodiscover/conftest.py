"""Helpers for the Autodiscover tests: emulator configurations (the emulators and the TLS CA
are tests/conftest.py's ``start`` and ``tls``), a scripted HTTP server for answers the
emulator never gives, and the CLI in-process. Loopback only: no test resolves a DNS name
(candidate lists and SRV lookups are injected)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any

import httpx
import pytest

from check_mapi.autodiscover.discovery import Discoverer
from check_mapi.autodiscover.pox import AutodiscoverError
from check_mapi.autodiscover.record import Attempt
from check_mapi.deadline import Deadline
from check_mapi.plugin.main import run
from check_mapi.settings import ConnectionSettings
from check_mapi.transport.client import Transport

from ..conftest import Tls
from ..plugin_output import Outcome

PASSWORD = "Aut0discover-Sentinel!"
DOMAIN = "contoso.com"
TIMEOUT = 10.0


def mailbox_toml(smtp: str, **keys: object) -> str:
    lines = ["[[mailbox]]", f'smtp = "{smtp}"', f'password = "{PASSWORD}"']
    for key, value in keys.items():
        text = str(value).lower() if isinstance(value, bool) else (
            f'"{value}"' if isinstance(value, str) else str(value))
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def config(*mailboxes: str, org: bool = True, server: str = "") -> str:
    return (f"[server]\npending_period_ms = 200\n{server}\n[auth]\nmethods = [\"basic\"]\n"
            f"[organization]\nmapi_http_enabled = {str(org).lower()}\n" + "\n".join(mailboxes))



def cli(*argv: str) -> Outcome:
    """The plugin in-process, Basic pinned (these tests are about Autodiscover, and count
    its requests: ``--auth auto`` would add its anonymous first leg)."""
    code, output = run(["--password", PASSWORD, "--auth", "basic", *argv])
    return Outcome(int(code), output)


def transport(tls: Tls | None = None) -> Transport:
    verify: ssl.SSLContext | bool = tls.context() if tls else True
    return Transport(ConnectionSettings(), verify)


def deadline(seconds: float = TIMEOUT) -> Deadline:
    return Deadline.after(seconds)


SMTP = "probe@contoso.com"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}/autodiscover/autodiscover.xml"


def discover(address: str = SMTP, pinned: str | None = None, tls: Tls | None = None,
             seconds: float = 10.0, **hooks: object) -> tuple[Discoverer, object]:
    with transport(tls) as http:
        auth = httpx.BasicAuth("probe@contoso.com", PASSWORD)
        discoverer = Discoverer(http, deadline(seconds), auth, **hooks)  # type: ignore[arg-type]
        try:
            return discoverer, discoverer.discover(address, pinned)
        except AutodiscoverError as err:
            return discoverer, err


def failure(address: str = SMTP, pinned: str | None = None, **kwargs: object) -> tuple[
        str, list[Attempt]]:
    discoverer, outcome = discover(address, pinned, **kwargs)  # type: ignore[arg-type]
    assert isinstance(outcome, AutodiscoverError), outcome
    return str(outcome), discoverer.attempts


Reply = tuple[int, list[tuple[str, str]], bytes]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        TCPServer.server_bind(self)  # no getfqdn(): that would be a DNS lookup
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (oversize, timeout tests): nothing on stderr."""


@dataclass
class Scripted:
    """A loopback HTTP server answering each request from ``answer(method, path)``."""

    answer: Callable[[str, str], Reply]
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    scheme: str = "http"

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    """``scripted(answer, tls=None)``: a server answering from ``answer(method, path)``."""
    servers: list[ThreadingHTTPServer] = []

    def make(answer: Callable[[str, str], Reply], tls: Tls | None = None) -> Scripted:
        state = Scripted(answer)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                state.requests.append((self.command, self.path, dict(self.headers.items())))
                status, headers, body = state.answer(self.command, self.path)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                if not any(n.lower() in ("content-length", "transfer-encoding")
                           for n, _ in headers):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if any(n.lower() == "transfer-encoding" for n, _ in headers):
                    for start in range(0, len(body), 65536):
                        part = body[start:start + 65536]
                        self.wfile.write(b"%X\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(body)

            do_GET = do_POST = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = _Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls.cert_pem), str(tls.key_pem))
            server.socket = context.wrap_socket(server.socket, server_side=True)
            state.scheme = "https"
        servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        state.server = server
        return state

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()
