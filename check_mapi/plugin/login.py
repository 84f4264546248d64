"""``check_mapi --oauth-login -m user@tenant``: the one-time, interactive Exchange Online login.

A device code (RFC 8628) through msal with the Office client: it prints the code and the
page to enter it on (MFA and Conditional Access happen there, in a browser anywhere),
waits for the user, and keeps msal's cache with the refresh token in the private token
store. Never part of a monitoring run: a check never waits for a human. Its own time
budget is the device code's lifetime (about 15 minutes), not ``-t``.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from typing import Any

from ..auth.oauth import OAuthAuth, application, refused_text
from ..deadline import Deadline
from ..errors import AuthError
from ..settings import EXO_SCOPE, Plan
from ..transport.client import Transport, ssl_context

LOGIN_SECONDS = 900.0  # Entra's device codes expire after 15 minutes


def login(plan: Plan, write: Any = None) -> str:
    """Log in; the summary of what was stored where (the prompt goes out at once)."""
    say = write or _print
    mailbox = plan.mailbox
    flow = OAuthAuth(mailbox.auth, mailbox.address, plan.run.state_dir)
    deadline = Deadline.after(LOGIN_SECONDS)
    with Transport(plan.run.connection, ssl_context(plan.run.connection)) as transport, \
            flow.store.locked(Deadline.after(30)):
        record = flow.store.read() or {}
        app, cache = application(mailbox.auth, flow.authority, transport, deadline,
                                  record.get("cache"))
        device = app.initiate_device_flow(scopes=[EXO_SCOPE])
        if "user_code" not in device:
            raise AuthError(refused_text(device, "oauth-login", mailbox.address))
        say(f"{device['message']}\n")
        device["expires_at"] = min(float(device.get("expires_at", 0)) or 1e18,
                                   time.time() + LOGIN_SECONDS)
        result = app.acquire_token_by_device_flow(device)
        record["logged_in"] = {"user": flow.user, "at": time.time()}
        flow.keep(result, cache, record, "oauth-login")
    until = datetime.fromtimestamp(flow.expires or time.time(), timezone.utc)
    return (f"logged in as {flow.user} ({flow.authority}, client {mailbox.auth.client_id})\n"
            f"token store: {flow.store.path} (mode 0600)\n"
            f"access token valid until {until:%Y-%m-%d %H:%M} UTC; checks with --auth "
            "oauth refresh it silently with the refresh token, which Entra keeps valid "
            "while it is used (by default it expires after 90 days unused, or when the "
            "password changes or an administrator revokes the sessions)\n")


def _print(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
