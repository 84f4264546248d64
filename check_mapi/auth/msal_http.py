"""msal's ``http_client`` contract over the probe's own transport (auth.md section 1d).

So the identity provider is reached like Exchange: through the same proxy, TLS settings
and deadline, with every error mapped. Two msal habits are mended here: it puts
``client_assertion`` in the form as bytes (httpx would send ``b'eyJ...'``), and it asks the
user-realm endpoint on the authority's host without the authority's port (a local
identity provider on another port than 443: the request goes where the authority is).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..deadline import Deadline
from ..errors import ProtocolError

MAX_ANSWER = 256 * 1024  # an identity provider's JSON answer is a few KiB


class MsalResponse:
    """What msal reads from a response: status, text, headers, raise_for_status()."""

    def __init__(self, status_code: int, text: str, headers: Mapping[str, str]) -> None:
        self.status_code = status_code
        self.text = text
        self.headers = dict(headers)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise ProtocolError(f"identity provider answered HTTP {self.status_code}")


class MsalHttp:
    """``post``/``get``/``close`` as msal calls them, each bounded by ``deadline``."""

    def __init__(self, transport: Any, deadline: Deadline, authority_host: str) -> None:
        self._transport = transport
        self._deadline = deadline
        self._authority = urlsplit(f"https://{authority_host}")

    def post(self, url: str, params: Mapping[str, Any] | None = None,
             data: Mapping[str, Any] | str | None = None,
             headers: Mapping[str, str] | None = None, **kwargs: Any) -> MsalResponse:
        body = b""
        sent = dict(headers or {})
        if isinstance(data, str):  # WS-Trust's SOAP body
            body = data.encode()
        elif data is not None:
            body = urlencode({k: v.decode() if isinstance(v, bytes) else v
                              for k, v in data.items()}).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return self._send("POST", url, params, sent, body)

    def get(self, url: str, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None, **kwargs: Any) -> MsalResponse:
        return self._send("GET", url, params, dict(headers or {}), b"")

    def close(self) -> None:
        """The transport belongs to the probe: nothing to close here."""

    def _send(self, method: str, url: str, params: Mapping[str, Any] | None,
              headers: dict[str, str], body: bytes) -> MsalResponse:
        url = self._routed(url)
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        reply = self._transport.request(method, url, list(headers.items()), body,
                                        self._deadline, max_bytes=MAX_ANSWER)
        joined: dict[str, str] = {}
        for name, value in reply.headers:
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
        return MsalResponse(reply.status, reply.body.decode("utf-8", "replace"), joined)

    def _routed(self, url: str) -> str:
        """msal drops the authority's port for the user-realm request: put it back."""
        parts = urlsplit(url)
        authority = self._authority
        if (authority.port and parts.port is None and parts.hostname
                and parts.hostname == authority.hostname):
            return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{authority.port}"))
        return url
