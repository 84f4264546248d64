"""Servers for hostile answers, on loopback: ``raw`` answers each request with bytes a test
writes (any header, any encoding), ``relay`` stands in front of an emulator and lets a test
rewrite the emulator's answer on its way to the plugin. Both record every request, so that
a test can see whether credentials arrived. The plugin runs in-process (``cli``)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from check_mapi.plugin.main import run

from ..conftest import Tls
from ..loopback import LoopbackServer, Request, read_request
from ..plugin_output import Outcome

PASSWORD = "R0bust-Sentinel-Pa55!"


Answer = Callable[[Request], bytes]


def response(status: int = 200, headers: list[tuple[str, str]] | None = None,
             body: bytes = b"", reason: str = "OK", raw_headers: bytes = b"") -> bytes:
    """An HTTP/1.1 answer; ``raw_headers``: header lines as bytes (any encoding)."""
    lines = [f"HTTP/1.1 {status} {reason}".encode()]
    lines += [f"{name}: {value}".encode() for name, value in headers or []]
    lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n" + raw_headers + b"\r\n" + body


@dataclass
class Server(LoopbackServer):
    """A loopback HTTP/1.1 server answering from ``answer``; ``requests`` as they arrived."""

    answer: Answer
    context: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listen()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            conn.settimeout(10)
            reader = conn.makefile("rb")
            while (request := read_request(reader)) is not None:
                self.requests.append(request)
                conn.sendall(self.answer(request))
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


@pytest.fixture
def raw(tls: Tls) -> Iterator[Callable[..., Server]]:
    """``raw(answer, https=False)``: a server answering each request with ``answer(request)``."""
    servers: list[Server] = []

    def make(answer: Answer, https: bool = False) -> Server:
        context = None
        if https:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls.cert_pem), str(tls.key_pem))
        servers.append(Server(answer, context))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


Rewrite = Callable[[Request, httpx.Response], bytes | None]


@pytest.fixture
def relay(raw: Callable[..., Server]) -> Iterator[Callable[[str, Rewrite], Server]]:
    """``relay(upstream_url, rewrite)``: a server that forwards each request to the emulator
    at ``upstream_url`` and answers ``rewrite(request, upstream_answer)`` (None: unchanged,
    with the body read whole)."""
    clients: list[httpx.Client] = []

    def make(upstream: str, rewrite: Rewrite) -> Server:
        client = httpx.Client(base_url=upstream, timeout=10)
        clients.append(client)

        def answer(request: Request) -> bytes:
            headers = {k: v for k, v in request.headers.items()
                       if k not in ("host", "content-length", "connection")}
            upstream_answer = client.request(request.method, request.path, headers=headers,
                                             content=request.body)
            rewritten = rewrite(request, upstream_answer)
            if rewritten is not None:
                return rewritten
            return passed_on(upstream_answer)

        return raw(answer)

    yield make
    for client in clients:
        client.close()


def passed_on(answer: httpx.Response, body: bytes | None = None,
              extra: list[tuple[str, str]] | None = None, raw_headers: bytes = b"") -> bytes:
    """The emulator's answer as it came, with its body (or ``body``) whole."""
    headers = [(k, v) for k, v in answer.headers.multi_items()
               if k.lower() not in ("content-length", "transfer-encoding", "connection")]
    return response(answer.status_code, headers + (extra or []),
                    answer.content if body is None else body, answer.reason_phrase,
                    raw_headers)


def cli(*argv: str) -> Outcome:
    """The plugin in-process, the password given as an option (no environment needed)."""
    code, output = run(["--password", PASSWORD, *argv])
    return Outcome(int(code), output)


SMTP = "probe@contoso.com"
LEGACY_DN = "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=probe"
GUID = "416c6368-656d-794a-6f45-57615272456e"
MAPI_PATH = f"/mapi/emsmdb/?MailboxId={GUID}@contoso.com"


def mailbox(smtp: str = SMTP, legacy_dn: str = LEGACY_DN, extra: str = "") -> str:
    """One emulator mailbox with two Inbox items (TOML)."""
    return (f'[[mailbox]]\nsmtp = "{smtp}"\npassword = "{PASSWORD}"\n'
            f'display_name = "Probe Mailbox"\nlegacy_dn = "{legacy_dn}"\n'
            f'mailbox_guid = "{GUID}"\n{extra}'
            '[[mailbox.inbox]]\nsubject = "Hello"\nreceived = 2026-01-15T08:30:00Z\n'
            '[[mailbox.inbox]]\nsubject = "Older"\nreceived = 2026-01-14T08:30:00Z\n')


def emulator_config(*mailboxes: str, server: str = "") -> str:
    return (f"[server]\npending_period_ms = 200\n{server}\n[auth]\nmethods = [\"basic\"]\n"
            "[organization]\nmapi_http_enabled = true\n" + "\n".join(mailboxes or (mailbox(),)))


def mapi(base: str, *extra: str, smtp: str = SMTP, legacy_dn: str = LEGACY_DN) -> Outcome:
    """The plugin against the emsmdb URL at ``base``, Autodiscover skipped, Basic pinned."""
    return cli("-m", smtp, "--url", base + MAPI_PATH, "--legacy-dn", legacy_dn,
               "--auth", "basic", "-t", "10", *extra)
