"""NTLM, Negotiate and Kerberos as an ``httpx.Auth`` flow on pyspnego, with channel binding.

No httpx add-on sends channel bindings (auth.md section 4.1), which Exchange's Extended
Protection requires, so this is our own ([MS-NLMP], RFC 4559, RFC 5929):

* The first leg goes out without credentials: on a connection that is already
  authenticated (NTLM and Kerberos authenticate the TCP connection, not the request) the
  server simply answers, and on a new one its 401 names the schemes it offers and tells
  which certificate this connection presented. Only then is the security context made,
  with the channel binding of that certificate (Kerberos puts it in its very first token).
* NEGOTIATE, CHALLENGE, AUTHENTICATE then run on the same connection; a server that closes
  it in between (``Connection: close`` on the challenge, or an answer on another
  connection) is reported as such, not as a wrong password.
* NTLMv2 only: pyspnego's ``LM_COMPAT_LEVEL`` (default 3) is never allowed below 3.

pyspnego is imported when the first handshake starts, so a Basic or bearer run does not
load it.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Generator
from typing import Any

import httpx

from ..errors import ConfigError
from .binding import application_data, peer_certificate
from .report import AuthReport, offered_schemes

SCHEMES = {"ntlm": "NTLM", "negotiate": "Negotiate", "kerberos": "Negotiate"}
Flow = Generator[httpx.Request, httpx.Response, None]


class SpnegoAuth(httpx.Auth):
    """``method``: ntlm (raw NTLMSSP under ``NTLM``), negotiate (SPNEGO: Kerberos when the
    host has a ticket, else NTLM) or kerberos (SPNEGO, Kerberos only)."""

    requires_response_body = True  # intermediate 401s are read: the connection is reused

    def __init__(self, method: str, username: str | None, password: str | None,
                 report: AuthReport | None = None) -> None:
        self.method = method
        self.scheme = SCHEMES[method]
        self._username = username
        self._password = password
        self.report = report or AuthReport(identity=username)

    def auth_flow(self, request: httpx.Request) -> Flow:
        self.report.start()
        response = yield request  # anonymous, or on an already authenticated connection
        if response.status_code == 401:
            yield from self.after_challenge(request, response)

    def after_challenge(self, request: httpx.Request, response: httpx.Response) -> Flow:
        """The handshake, from a 401 that offered schemes on this connection."""
        report = self.report
        report.offered = offered_schemes(response.headers.get_list("www-authenticate"))
        if self.scheme not in report.offered:
            report.wanted = self.scheme
            return
        certificate = peer_certificate(response)
        began = time.monotonic()
        context = self._context(request.url.host, certificate)
        report.setup += time.monotonic() - began
        report.bound = certificate is not None
        stream: object = None  # the connection the challenge came on
        token = context.step()
        while token is not None:
            request.headers["Authorization"] = f"{self.scheme} {base64.b64encode(token).decode()}"
            report.legs += 1
            response = yield request
            report.used = self._used(context)
            if response.status_code != 401:
                return
            current = response.extensions.get("network_stream")
            if context.complete:  # judged, unless it went out on another connection
                report.closed = stream is not None and current is not None and (
                    current is not stream)
                report.completed = not report.closed
                return
            challenge = _token(response, self.scheme)
            if challenge is None or response.headers.get("connection", "").lower() == "close":
                report.closed = challenge is not None
                return
            stream = current
            token = context.step(challenge)
        report.completed = True

    def _context(self, host: str, certificate: bytes | None) -> Any:
        """A pyspnego client context bound to ``certificate`` (RFC 5929)."""
        _ntlm_v2_only()
        try:
            import spnego
            from spnego.channel_bindings import GssChannelBindings
        except ImportError as err:  # pragma: no cover - pyspnego is a dependency
            raise ConfigError(f"--auth {self.method} needs pyspnego") from err
        bindings = (GssChannelBindings(application_data=application_data(certificate))
                    if certificate is not None else None)
        protocol = "ntlm" if self.method == "ntlm" else self.method
        try:
            return spnego.client(self._username, self._password, hostname=host,
                                 service="HTTP", channel_bindings=bindings, protocol=protocol)
        except ImportError as err:  # Kerberos without the gssapi extra
            raise ConfigError("--auth kerberos needs GSSAPI: pip install "
                              "'check_mapi[kerberos]' (and the system's Kerberos "
                              "libraries)") from err
        except Exception as err:  # noqa: BLE001 - pyspnego's errors have no common base
            raise ConfigError(f"--auth {self.method}: cannot start the handshake "
                              f"({type(err).__name__})") from None

    def _used(self, context: Any) -> str:
        if self.scheme == "NTLM":
            return "NTLM"
        try:
            mechanism = str(context.negotiated_protocol or "").lower()
        except Exception:  # noqa: BLE001 - asked before the mechanism is known
            mechanism = ""
        names = {"kerberos": "Kerberos", "ntlm": "NTLM"}
        return f"Negotiate ({names[mechanism]})" if mechanism in names else "Negotiate"

    def __repr__(self) -> str:  # never show the password, whatever logs the object
        return f"SpnegoAuth({self.method}, {self._username!r})"


def _token(response: httpx.Response, scheme: str) -> bytes | None:
    """The server's token for ``scheme`` from its 401 (None: a bare challenge)."""
    for value in response.headers.get_list("www-authenticate"):
        word, _, data = value.strip().partition(" ")
        if word.lower() == scheme.lower() and data.strip():
            try:
                return base64.b64decode(data.strip(), validate=True)
            except ValueError:
                return None
    return None


def _ntlm_v2_only() -> None:
    """pyspnego reads LM_COMPAT_LEVEL when a context is made; below 3 it would send NTLMv1,
    which Extended Protection refuses and no one should send any more."""
    try:
        level = int(os.environ.get("LM_COMPAT_LEVEL", "3"))
    except ValueError:
        level = 0
    if level < 3:
        os.environ["LM_COMPAT_LEVEL"] = "3"
