"""OAuth 2.0 bearer token auth (RFC 6750 2.1), for tokens obtained elsewhere (Exchange Online)."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from .basic import refuse_plain_token
from .report import AuthReport


class BearerAuth(httpx.Auth):
    """Sends ``Authorization: Bearer <token>`` on every request of the session.

    Exchange binds the session context to the authenticated identity ([MS-OXCMAPIHTTP]
    3.2.5.1), so the same token goes on Connect, Execute and Disconnect.
    """

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"
        self.report = AuthReport(used="Bearer")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.report.start()
        refuse_plain_token(request.url)
        self.report.legs = 1
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:  # never show the token, whatever logs the object
        return "BearerAuth(<token>)"
