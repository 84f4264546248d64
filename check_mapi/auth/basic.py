"""Basic (RFC 7617), sent only where nobody on the network can read it.

Basic credentials are the password in base64: over plain http they go only to a loopback
address, unless the administrator consents with ``--allow-basic-over-http``. The refusal
is a ConfigError (UNKNOWN): the check was not allowed to run, it did not fail.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Generator

import httpx

from ..errors import ConfigError
from .report import AuthReport


class GuardedBasicAuth(httpx.Auth):
    """httpx's Basic header, preemptively on every request, but never in clear text."""

    def __init__(self, username: str, password: str, consent: bool,
                 report: AuthReport | None = None) -> None:
        self._basic = httpx.BasicAuth(username, password)
        self._consent = consent
        self.report = report or AuthReport(identity=username)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                             None]:
        self.report.start()
        yield self.sign(request)

    def sign(self, request: httpx.Request) -> httpx.Request:
        """The request with its Basic header (for a flow that chose Basic mid-way)."""
        refuse_plain_text(request.url, self._consent)
        self.report.used, self.report.legs = "Basic", self.report.legs + 1
        return next(self._basic.auth_flow(request))

    def __repr__(self) -> str:
        return "GuardedBasicAuth(<credentials>)"


def refuse_plain_text(url: httpx.URL, consent: bool) -> None:
    if url.scheme == "https" or consent or is_loopback(url.host):
        return
    raise ConfigError(f"refusing to send Basic credentials over plain http to {url.host}: "
                      "anyone on the network could read them (use https, or consent with "
                      "--allow-basic-over-http)")


def refuse_plain_token(url: httpx.URL) -> None:
    """A bearer token goes over TLS only (RFC 6750 5.3), or to loopback: whoever reads it
    can use it until it expires. No consent option: Exchange Online is https."""
    if url.scheme == "https" or is_loopback(url.host):
        return
    raise ConfigError(f"refusing to send the OAuth token over plain http to {url.host}: "
                      "anyone on the network could use it (use https)")


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
