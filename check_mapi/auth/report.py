"""What an auth flow did, and the one-line reason when the server still said 401 or 403.

Every flow keeps an ``AuthReport`` of its last request: the schemes the server offered,
the one used (and, under Negotiate, the mechanism: Kerberos or NTLM), the number of
authentication legs, whether a handshake ran to its end, whether channel binding was sent,
whether the server closed the connection in the middle of a handshake. ``refusal`` turns it
into the precise reason: never "bad password" for something else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..values import Value

_EXTENDED_PROTECTION = (", or Extended Protection refusing the channel binding behind a "
                        "TLS-inspecting proxy or TLS offloader")


class AuthReport(Value, frozen=False):
    """Mutable, one per flow; reset at the start of each request's flow."""

    offered: tuple[str, ...] = ()  # schemes of the last WWW-Authenticate answer
    used: str | None = None  # "NTLM", "Negotiate (Kerberos)", "Basic", ...
    identity: str | None = None  # the logon name used (never a secret)
    legs: int = 0  # requests sent with an Authorization header, this request
    completed: bool = False  # a handshake ran to its end (the credentials were judged)
    bound: bool = False  # channel binding was sent
    closed: bool = False  # the connection changed in the middle of a handshake
    wanted: str | None = None  # the scheme required but not offered
    setup: float = 0.0  # seconds of local work (loading pyspnego, making the context), ever

    def start(self) -> None:
        self.legs, self.completed, self.closed, self.wanted = 0, False, False, None

    @property
    def text(self) -> str:
        """For the step trace: ``NTLM (server offers Negotiate, NTLM)``."""
        offered = f"server offers {', '.join(self.offered)}" if self.offered else ""
        used = self.used or "none"
        return f"{used} ({offered})" if offered else used


def offered_schemes(values: Iterable[str]) -> tuple[str, ...]:
    """The scheme names of ``WWW-Authenticate`` (or ``Proxy-Authenticate``) values."""
    schemes: list[str] = []
    for value in values:
        for part in value.split(","):  # several challenges may share one header line
            word = part.strip().split(" ", 1)[0]
            if word and "=" not in word and word not in schemes:
                schemes.append(word)
    return tuple(schemes)


def refusal(status: int, reason: str, offered: tuple[str, ...],
            report: AuthReport | None, diagnostics: str | None = None) -> str:
    """Why the server answered 401/403, as precisely as the flow's report allows; Exchange's
    ``x-ms-diagnostics`` reason (Bearer refusals) is added when it gives one."""
    said = _diagnostic_reason(diagnostics)
    text = _refusal(status, reason, offered, report)
    return f"{text}; server says: {said}" if said else text


def _diagnostic_reason(value: str | None) -> str | None:
    """``2000001;reason="The token is app-only.";error_category="invalid_token"``."""
    match = re.search(r'reason="([^"]{1,300})"', value or "")
    return match.group(1).strip().rstrip(".") if match else None


def _refusal(status: int, reason: str, offered: tuple[str, ...],
             report: AuthReport | None) -> str:
    head = f"HTTP {status} {reason}"
    hint = f" (server offers {', '.join(offered)})" if offered else ""
    if report is None or status != 401:
        return f"{head}: credentials refused{hint}"
    if report.wanted is not None:
        theirs = f" (it offers {', '.join(offered)})" if offered else ""
        return f"{head}: the server does not offer {report.wanted}{theirs}"
    if report.closed:
        return (f"{head}: the server closed the connection during the {report.used} "
                "handshake (it authenticates one connection: a load balancer or proxy in "
                "between must keep it open)")
    if report.completed and report.used:
        who = f" for {report.identity}" if report.identity else ""
        return (f"{head}: {report.used} credentials refused{who} after a complete handshake "
                "(wrong user name or password, locked account"
                + (_EXTENDED_PROTECTION if report.bound else "") + ")")
    return f"{head}: credentials refused{hint}"
