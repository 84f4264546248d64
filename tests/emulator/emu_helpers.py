"""Shared pieces of the emulator tests: a test configuration, fixtures (the emulators come
from tests/conftest.py's ``start``) and a tiny MAPI/HTTP client built on httpx and the wire
codec (only to produce requests; responses are also checked byte by byte in the tests)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from check_mapi.emulator import Emulator
from check_mapi.wire import (
    ConnectRequest,
    ConnectResponse,
    DisconnectRequest,
    ExecuteRequest,
    ExecuteResponse,
    RopBuffer,
    RopContext,
    RopLogonRequest,
    RopRequest,
    parse_response_stream,
)
from check_mapi.wire.stream import ResponseStream

from ..conftest import Emulators

VECTORS = Path(__file__).parent.parent / "vectors"  # shared with the codec tests
RULER_DN = ("/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)"
            "/cn=Recipients/cn=0123456789abcdef0123456789abcdef-probe")
RULER_GUID = "416c6368-656d-794a-6f45-57615272456e"
PASSWORD = "P@ssw0rd!"
OTHER_PASSWORD = "Other-Pass1"
TIMEOUT = httpx.Timeout(5.0)
NO_HANDLE = 0xFFFFFFFF
APP = "Outlook/16.0.18025.20000"
SUBJECT = 0x0037001F
DELIVERY = 0x0E060040
SENDER = 0x0C1A001F
SIZE = 0x0E080003
FLAGS = 0x0E070003
COLUMNS = (SUBJECT, DELIVERY, SENDER, SIZE, FLAGS)

BASE_CONFIG = f'''
[server]
pending_period_ms = 50
backend_server = "EXMBX07.contoso.test"
frontend_server = "EXCAS07"
version = "15.02.1544.004"

[auth]
methods = ["negotiate", "ntlm", "basic", "bearer"]

[[mailbox]]
smtp = "probe@contoso.test"
username = "probe"
password = "{PASSWORD}"
tokens = ["token-probe"]
legacy_dn = "{RULER_DN}"
mailbox_guid = "{RULER_GUID}"
display_name = "Probe Ünïcode 𝄞"

[[mailbox.inbox]]
subject = "Quarterly report Q3 (Zürich)"
sender_name = "Jürgen Müller"
received = 2026-01-15T08:30:00Z
size = 48213
read = false
has_attachments = true

[[mailbox.inbox]]
subject = "Lunch? 🍕 ランチ"
sender_name = "Ana Lima"
received = 2026-01-14T12:05:00Z
size = 2048
read = true

[[mailbox.inbox]]
subject = "Delivery Status Notification (Failure)"
received = 2026-01-13T23:59:59Z
size = 10240
read = true

[[mailbox.inbox]]
subject = "Ā newest"
sender_name = "Ōtsuka Ken"
received = 2026-01-16T07:00:00Z
size = 100
read = false

[[mailbox]]
smtp = "other@contoso.test"
password = "{OTHER_PASSWORD}"
'''


@pytest.fixture
def emu(start: Emulators) -> Emulator:
    """An emulator with BASE_CONFIG, from the shared ``start`` (tests/conftest.py)."""
    return start(BASE_CONFIG)


def client(user: str = "probe", password: str = PASSWORD, **kwargs: object) -> httpx.Client:
    return httpx.Client(auth=(user, password), timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]


def vector(name: str) -> bytes:
    path = VECTORS / name
    if path.suffix == ".hex":
        lines = path.read_text().splitlines()
        return bytes.fromhex(" ".join(ln for ln in lines if not ln.startswith("#")))
    return path.read_bytes()


@dataclass
class Answer:
    response: httpx.Response
    stream: ResponseStream | None

    @property
    def code(self) -> int:
        return int(self.response.headers["X-ResponseCode"])

    @property
    def body(self) -> bytes:
        assert self.stream is not None
        return self.stream.body


class Mapi:
    """One MAPI/HTTP session, cookies handled by hand so tests can tamper with them."""

    def __init__(self, http: httpx.Client, url: str) -> None:
        self.http = http
        self.url = url
        self.cookies: dict[str, str] = {}
        self.counter = itertools.count(1)

    def headers(self, kind: str, **override: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/mapi-http", "X-RequestType": kind,
                   "X-RequestId": f"{{8A3E4F5B-2C1D-4E6F-9A8B-7C6D5E4F3A2B}}:{next(self.counter)}",
                   "X-ClientInfo": "{1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9}:1",
                   "X-ClientApplication": APP}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for name, value in override.items():
            key = name.replace("_", "-")
            if value is None:
                headers.pop(key, None)
            else:
                headers[key] = value
        return headers

    def post(self, kind: str, body: bytes, **override: str | None) -> Answer:
        response = self.http.post(self.url, content=body, headers=self.headers(kind, **override))
        self.http.cookies.clear()  # cookies are ours to send (or to leave out)
        for line in response.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            value = rest.split(";")[0]
            if "Expires=Thu, 01 Jan 1970" in line:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        stream = None
        if response.headers.get("content-type") == "application/mapi-http":
            stream = parse_response_stream(response.content,
                                           int(response.headers["X-ResponseCode"]))
        return Answer(response, stream)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Mapi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self, dn: str = RULER_DN) -> ConnectResponse:
        answer = self.post("Connect", ConnectRequest(dn).encode())
        assert answer.code == 0
        decoded = ConnectResponse.decode(answer.body)
        assert isinstance(decoded, ConnectResponse)
        return decoded

    def execute(self, rops: Sequence[RopRequest], handles: Sequence[int],
                columns: tuple[int, ...] | None = None, max_rop_out: int = 0x10008,
                flags: int = 3, code_page: int = 1252) -> tuple[ExecuteResponse, Answer]:
        body = ExecuteRequest((RopBuffer(tuple(rops), tuple(handles)),), flags,
                              max_rop_out).encode()
        answer = self.post("Execute", body)
        assert answer.code == 0, answer.response.text
        decoded = ExecuteResponse.decode(answer.body, RopContext(columns, code_page))
        assert isinstance(decoded, ExecuteResponse)
        return decoded, answer

    def logon(self, dn: str = RULER_DN, logon_id: int = 0) -> tuple[ExecuteResponse, int]:
        response, _ = self.execute([RopLogonRequest(logon_id, 0, 0x01, 0x01000000, 0, dn)],
                                   [NO_HANDLE])
        return response, response.rop_buffers[0].server_object_handle_table[0]

    def disconnect(self) -> Answer:
        return self.post("Disconnect", DisconnectRequest().encode())


@pytest.fixture
def probe(emu: Emulator) -> Iterator[Mapi]:
    """A MAPI session helper for probe@contoso.test (Basic auth), closed after the test."""
    with Mapi(client(), emu.mapi_url("probe@contoso.test")) as mapi:
        yield mapi
