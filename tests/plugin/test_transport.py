"""TLS against the emulator, and transport edge cases through respx."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import respx

from check_mapi.emulator import Emulator
from check_mapi.plugin.main import run
from check_mapi.wire import ConnectResponse

from ..conftest import Tls
from .conftest import LEGACY_DN, OK_LINE, PASSWORD, SMTP, mapi_url

URL = "https://mail.contoso.com/mapi/emsmdb/?MailboxId=x@contoso.com"


def cli(*argv: str) -> tuple[int, str]:
    code, output = run(["-m", SMTP, "--legacy-dn", LEGACY_DN, "--password",
                                        PASSWORD, *argv])
    return int(code), output


@pytest.fixture
def tls_emulator(emulator_factory: Callable[..., Emulator], tls: Tls) -> tuple[Emulator, Path]:
    return emulator_factory(tls=tls), tls.ca_pem


def test_tls(tls_emulator: tuple[Emulator, Path]) -> None:
    emulator, ca_pem = tls_emulator
    assert emulator.url.startswith("https://")
    code, output = cli("--url", mapi_url(emulator))
    assert code == 2
    assert output.startswith(f"MAPI CRITICAL - {SMTP}: connect failed: TLS certificate of "
                             "127.0.0.1 is not trusted (issuer OU=Testing CA ")  # tests/tls/
    code, output = cli("--url", mapi_url(emulator), "--ca-file", str(ca_pem))
    assert code == 0, output
    first = output.splitlines()[0]
    assert re.search(r" cert_days=\d+\.?\d* ", first)  # tests/tls/ for its value
    assert OK_LINE.fullmatch(re.sub(r" cert_days=\S+", "", first))
    assert cli("--url", mapi_url(emulator), "--insecure")[0] == 0
    assert emulator.stats().open_sessions == 0


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "application/mapi-http",
                                        "X-ResponseCode": "0"},
                          content=b"PROCESSING\r\nDONE\r\n\r\n" + ConnectResponse(
                              0, 0, 0, 0, "", "x").encode()[:-3])


@pytest.mark.parametrize(("response", "reason"), [
    (httpx.Response(200, headers={"Content-Type": "text/html"},
                    content=b"<html><title>Sign in</title><body>Sign in to continue</body>"),
     "connect failed: not a MAPI/HTTP response (Content-Type text/html, no X-ResponseCode)"),
    (httpx.Response(302, headers={"Location": "https://login.contoso.com/adfs"}),
     "connect failed: HTTP 302 Found, redirected to https://login.contoso.com/adfs"),
    (httpx.Response(403, headers={"WWW-Authenticate": "Bearer realm=x"}),
     "connect failed: HTTP 403 Forbidden: credentials refused (server offers Bearer)"),
    (httpx.Response(200, headers={"Content-Type": "application/mapi-http",
                                  "X-ResponseCode": "0"}, content=b"\x00\x00\x00\x00\r\n"),
     "connect failed: malformed Connect response: expected meta-tag PROCESSING, got "
     "'\\x00\\x00\\x00\\x00' at offset 0 (0x0)"),
    (httpx.ConnectTimeout("timed out"), "connect failed: timed out"),
    (httpx.ReadTimeout("The read operation timed out"),
     "connect failed: timed out (The read operation timed out)"),
    (httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
     "connect failed: connection to mail.contoso.com failed: peer closed connection without "
     "sending complete message body"),
    (httpx.ProxyError("407 Proxy Authentication Required"),
     "connect failed: proxy failed to connect to mail.contoso.com: 407 Proxy Authentication "
     "Required"),
    (httpx.UnsupportedProtocol("Request URL has an unsupported protocol"),
     "connect failed: invalid URL 'https://mail.contoso.com/mapi/emsmdb/?MailboxId=x@contoso.com'"
     ": Request URL has an unsupported protocol"),
])
def test_transport_edge_cases(response: httpx.Response | Exception, reason: str) -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.post(URL).mock(side_effect=[response])
        code, output = cli("--url", URL)
    assert code == 2
    assert output.splitlines()[0] == f"MAPI CRITICAL - {SMTP}: {reason} | " \
        + output.splitlines()[0].split(" | ", 1)[1]
    assert "Error" not in output.splitlines()[0].split(" | ")[0].replace("ErrorCode", "")


def test_truncated_connect_body() -> None:
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=answer)
        code, output = cli("--url", URL)
    assert code == 2
    assert "connect failed: Connect response: truncated AuxiliaryBufferSize: need 4 bytes, " \
           "1 left at offset" in output


def test_connection_facts(tls_emulator: tuple[Emulator, Path], tls: Tls) -> None:
    """The certificate the client saw, byte for byte (channel binding hashes exactly this),
    its expiry, the TLS version and addresses; in the trace with -vv."""
    import ssl as ssl_module

    from cryptography import x509

    from check_mapi.deadline import Deadline
    from check_mapi.settings import ConnectionSettings
    from check_mapi.transport.client import Transport

    emulator, _ = tls_emulator
    pem = tls.cert_pem.read_text()
    der = ssl_module.PEM_cert_to_DER_cert(pem[:pem.index("-----END CERTIFICATE-----") + 25])
    expiry = x509.load_der_x509_certificate(der).not_valid_after_utc
    for verify in (tls.context(), False):
        with Transport(ConnectionSettings(), verify) as transport:
            reply = transport.request("GET", f"{emulator.url}/_emulator/stats", [], b"",
                                      Deadline.after(5), max_bytes=65536)
        facts = reply.connection
        assert facts is not None
        assert facts.peer_certificate == der
        assert facts.tls_version in ("TLSv1.2", "TLSv1.3")
        assert facts.remote == f"127.0.0.1:{emulator.url.rsplit(':', 1)[1]}"
        assert facts.local is not None and facts.local.startswith("127.0.0.1:")
        assert facts.not_after == (expiry.timestamp() if verify else None)
    code, output = cli("--url", mapi_url(emulator), "--ca-file", str(tls.ca_pem), "-vv")
    assert code == 0
    line = next(x for x in output.splitlines() if x.startswith("connection 127.0.0.1:"))
    assert f"certificate valid until {expiry:%Y-%m-%d %H:%M} UTC" in line
