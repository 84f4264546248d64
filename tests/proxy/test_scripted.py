"""What squid does not do on request: a proxy that stalls, closes the connection in the middle
of the NTLM handshake, or asks for a logon the plugin does not speak. A scripted proxy on
loopback answers each CONNECT with the next of its answers."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator

import pytest
import spnego

from check_mapi.emulator.ntlm import user_file

from ..loopback import LoopbackServer
from .test_proxy import PROXY_USER, probe

STALL = b""  # an answer that never comes


def ntlm_challenge() -> str:
    """A CHALLENGE_MESSAGE from pyspnego's acceptor."""
    client = spnego.client("user", "password", protocol="ntlm")
    with user_file((("user", "password"),), "CONTOSO"):  # pyspnego insists on a user file
        challenge = spnego.server(protocol="ntlm").step(client.step()) or b""
    return base64.b64encode(challenge).decode()


def answer(status: str, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers, "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


class ScriptedProxy(LoopbackServer):
    """Answers the n-th CONNECT it reads (on any connection) with ``answers[n]``."""

    context = None

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self._listen()
        self.port: int = self._sock.getsockname()[1]

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            data = b""
            while not self._stop.is_set():
                chunk = connection.recv(65536)
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    head, data = data.split(b"\r\n\r\n", 1)
                    self.requests.append(head)
                    reply = self.answers[min(len(self.requests), len(self.answers)) - 1]
                    if reply == STALL:
                        self._stop.wait()
                        return
                    connection.sendall(reply)
                    if b"Connection: close" in reply:
                        return


@pytest.fixture
def scripted() -> Iterator[type[ScriptedProxy]]:
    made: list[ScriptedProxy] = []

    class Made(ScriptedProxy):
        def __init__(self, answers: list[bytes]) -> None:
            super().__init__(answers)
            made.append(self)

    yield Made
    for proxy in made:
        proxy.close()


URL = "https://mail.contoso.example:8443/mapi/emsmdb/?MailboxId=x@contoso.com"


def test_a_stalling_proxy_cannot_hold_the_check(scripted: type[ScriptedProxy]) -> None:
    proxy = scripted([STALL])
    started = time.monotonic()
    outcome = probe(URL, "--auth", "basic", "--proxy", f"http://127.0.0.1:{proxy.port}",
                    "-t", "2")
    assert time.monotonic() - started < 2.5
    assert outcome.code == 2
    assert outcome.status == ("MAPI CRITICAL - probe@contoso.com: connect failed: timed out: "
                              "the check's time budget ran out")
    assert proxy.requests[0].startswith(b"CONNECT mail.contoso.example:8443 HTTP/1.1\r\n")


def test_closing_during_the_ntlm_handshake(scripted: type[ScriptedProxy]) -> None:
    proxy = scripted([answer("407 Proxy Authentication Required",
                             "Proxy-Authenticate: NTLM"),
                      answer("407 Proxy Authentication Required",
                             f"Proxy-Authenticate: NTLM {ntlm_challenge()}", "Connection: close")])
    outcome = probe(URL, "--auth", "basic", "--proxy", f"http://127.0.0.1:{proxy.port}",
                    "--proxy-user", f"CONTOSO\\{PROXY_USER}")
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - probe@contoso.com: connect failed: proxy "
                              f"127.0.0.1:{proxy.port} closed the connection during the NTLM "
                              "handshake")
    assert b"Proxy-Authorization: NTLM TlRMTVNTUAAB" in proxy.requests[1]  # NEGOTIATE


@pytest.mark.parametrize(("user", "offers", "message"), [
    (f"CONTOSO\\{PROXY_USER}", ["Negotiate"],
     "proxy offers no logon check_mapi speaks (HTTP 407 Proxy Authentication Required, offers "
     "Negotiate)"),
    (PROXY_USER, ["NTLM"],
     "proxy refused the credentials (HTTP 407 Proxy Authentication Required, offers NTLM); "
     "NTLM needs DOMAIN\\user or --proxy-domain"),
])
def test_a_logon_the_plugin_cannot_give(user: str, offers: list[str], message: str,
                                        scripted: type[ScriptedProxy]) -> None:
    proxy = scripted([answer("407 Proxy Authentication Required",
                             *(f"Proxy-Authenticate: {o}" for o in offers))])
    outcome = probe(URL, "--auth", "basic", "--proxy", f"http://127.0.0.1:{proxy.port}",
                    "--proxy-user", user)
    assert outcome.code == 2
    assert outcome.status == f"MAPI CRITICAL - probe@contoso.com: connect failed: {message}"
