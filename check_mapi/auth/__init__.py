"""How to authenticate: ``httpx.Auth`` flows built by the probe from an ``AuthSpec``.

Configuration says what to authenticate with (``check_mapi.settings.AuthSpec``); the probe
calls ``flow_for`` and passes the flow with each request, so that a flow sees every
response and the connection it came on (``response.extensions["network_stream"]``: the
certificate for channel binding). ``auto`` (``auto``) picks from the server's challenge;
NTLM, Negotiate and Kerberos (``negotiate``, on pyspnego with RFC 5929 channel binding);
Basic (``basic``, never in clear text to a non-loopback host without consent); Bearer
(``bearer``, a token obtained elsewhere). Each flow keeps an ``AuthReport`` (``report``):
what was offered and used, for the step trace and for precise refusal reasons. pyspnego is
imported only when a handshake starts: a Basic or bearer run does not load it.
"""

from __future__ import annotations

import httpx

from ..errors import ConfigError
from ..settings import AuthSpec
from .auto import AutoAuth
from .basic import GuardedBasicAuth
from .bearer import BearerAuth
from .negotiate import SpnegoAuth
from .report import AuthReport, offered_schemes, refusal

__all__ = ["AuthReport", "BearerAuth", "flow_for", "offered_schemes", "refusal", "report_of"]


def flow_for(spec: AuthSpec, mailbox: str, state_dir: str = ".") -> httpx.Auth:
    """The flow for ``spec``; the logon name defaults to the mailbox address. The OAuth
    flow needs its token first: ``cached()``, else ``acquire()`` (the ``token`` step)."""
    password = spec.secret.value if spec.secret is not None else None
    username = spec.username or mailbox
    if spec.oauth:
        from .oauth import OAuthAuth  # the token store; msal itself only when refreshing

        return OAuthAuth(spec, mailbox, state_dir)
    if spec.method == "bearer":
        if password is None:  # the CLI never builds one: a bug, not user input
            raise ConfigError("--auth bearer: no token")
        return BearerAuth(password)
    if spec.method == "kerberos":
        return SpnegoAuth("kerberos", spec.username, password)
    if password is None:
        raise ConfigError(f"--auth {spec.method}: no password")
    if spec.method == "basic":
        return GuardedBasicAuth(username, password, spec.basic_over_http)
    if spec.method in ("ntlm", "negotiate"):
        return SpnegoAuth(spec.method, username, password)
    if spec.method == "auto":
        return AutoAuth(username, password, spec.basic_over_http)
    raise ConfigError(f"--auth {spec.method} is not supported")


def report_of(flow: httpx.Auth | None) -> AuthReport | None:
    """The flow's report (None for a flow that keeps none)."""
    report = getattr(flow, "report", None)
    return report if isinstance(report, AuthReport) else None
