"""``--auth auto``: the method chosen from what the server offers, as an administrator would.

The first leg goes out without credentials; its 401 names the schemes. The order: Negotiate
when the host has a Kerberos ticket (and the server offers Negotiate), NTLM, Negotiate
(carrying NTLM), then Basic (over TLS only, or with consent). The choice is kept for the
rest of the probe, so later requests go out the chosen way at once.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import cache

import httpx

from .basic import GuardedBasicAuth
from .negotiate import SpnegoAuth
from .report import AuthReport, offered_schemes

Flow = Generator[httpx.Request, httpx.Response, None]


class AutoAuth(httpx.Auth):
    requires_response_body = True

    def __init__(self, username: str, password: str | None, consent: bool) -> None:
        self.report = AuthReport(identity=username)
        self._username, self._password, self._consent = username, password, consent
        self._chosen: SpnegoAuth | GuardedBasicAuth | None = None

    def auth_flow(self, request: httpx.Request) -> Flow:
        if self._chosen is not None:
            yield from self._chosen.auth_flow(request)
            return
        self.report.start()
        response = yield request
        if response.status_code != 401:
            return
        offered = offered_schemes(response.headers.get_list("www-authenticate"))
        self.report.offered = offered
        chosen = self._choose(offered)
        if chosen is None:
            self.report.wanted = "Negotiate, NTLM or Basic"
            return
        self._chosen = chosen
        if isinstance(chosen, GuardedBasicAuth):
            yield chosen.sign(request)
        else:
            yield from chosen.after_challenge(request, response)

    def _choose(self, offered: tuple[str, ...]) -> SpnegoAuth | GuardedBasicAuth | None:
        if "Negotiate" in offered and kerberos_ticket():
            return SpnegoAuth("negotiate", self._username, self._password, self.report)
        if self._password is None:
            return None
        if "NTLM" in offered:
            return SpnegoAuth("ntlm", self._username, self._password, self.report)
        if "Negotiate" in offered:
            return SpnegoAuth("negotiate", self._username, self._password, self.report)
        if "Basic" in offered:
            return GuardedBasicAuth(self._username, self._password, self._consent,
                                    self.report)
        return None

    def __repr__(self) -> str:
        return f"AutoAuth({self._username!r})"


@cache
def kerberos_ticket() -> bool:
    """The host has a usable Kerberos ticket (needs the optional gssapi package)."""
    try:
        import gssapi
    except ImportError:
        return False
    try:
        return bool(gssapi.Credentials(usage="initiate").lifetime)
    except Exception:  # noqa: BLE001 - no ccache, expired ticket: no Kerberos
        return False
