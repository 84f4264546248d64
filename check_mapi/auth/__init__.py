"""How to authenticate: ``httpx.Auth`` flows built by the probe from an ``AuthSpec``.

Configuration says what to authenticate with (``check_mapi.settings.AuthSpec``); the probe
calls ``flow_for`` and passes the flow with each request, so that a flow can see every
response and the connection it came on (``response.extensions["network_stream"]``, e.g.
for channel binding). Basic is httpx's own; Bearer sends a token obtained elsewhere.
NTLM/Negotiate (pyspnego) and OAuth (msal) will be imported lazily here, so that a Basic or
bearer-token run loads neither library.
"""

from __future__ import annotations

import httpx

from ..errors import ConfigError
from ..settings import AuthSpec
from .bearer import BearerAuth

__all__ = ["BearerAuth", "flow_for"]


def flow_for(spec: AuthSpec, mailbox: str) -> httpx.Auth:
    """The flow for ``spec``; the logon name defaults to the mailbox address."""
    if spec.secret is None:  # the CLI never builds one: a bug, not user input
        raise ConfigError(f"--auth {spec.method}: no secret")
    if spec.method == "bearer":
        return BearerAuth(spec.secret.value)
    if spec.method == "basic":
        return httpx.BasicAuth(spec.username or mailbox, spec.secret.value)
    raise ConfigError(f"--auth {spec.method} is not supported")
