"""A MAPI/HTTP session context on the mailbox endpoint: headers, cookies, request ids.

[MS-OXCMAPIHTTP] 2.2.3.3 (request headers: X-RequestType, X-RequestId ``{GUID}:n`` unique
per session and strictly increasing, X-ClientInfo, X-ClientApplication), 3.1.5.1-3.1.5.2
(every cookie the server set is sent back), 2.2.2.2 and 3.2.5.2 (HTTP status and
X-ResponseCode), 2.2.4 (the Connect/Execute/Disconnect bodies).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from ..auth import AuthReport, offered_schemes, refusal, report_of
from ..deadline import Deadline
from ..errors import (
    AuthError,
    HttpStatusError,
    MapiCallError,
    ProtocolError,
    ResponseCodeError,
)
from ..settings import DEFAULT_CLIENT_APPLICATION
from ..transport.client import Auth, HttpExchange, Transport
from ..values import Value
from ..wire import (
    EXECUTE_FLAG_NO_COMPRESSION,
    EXECUTE_FLAG_NO_XOR_MAGIC,
    ConnectRequest,
    ConnectResponse,
    DisconnectRequest,
    DisconnectResponse,
    ExecuteRequest,
    ExecuteResponse,
    FailureResponse,
    RopBuffer,
    RopContext,
    RopRequest,
    describe_error,
    describe_response_code,
)
from .result import CallTrace

CONTENT_TYPE = "application/mapi-http"
MAX_ROP_OUT = 0x10008  # [MS-OXCRPC] 4.2 uses 0x18008; 64 KiB + headers is plenty for k rows
SERVER_FACT_HEADERS = ("X-ServerApplication", "X-BackEndServer", "X-CalculatedBETarget",
                       "X-FEServer", "X-DiagInfo", "request-id")


MIN_COOKIE = 6  # shorter values (a "1", a "true") would mask ordinary words
_COOKIE_SAFE = re.compile(r"[!#-+\--:<-\[\]-~]+")  # cookie-octet, RFC 6265 4.1.1

class Connected(Value):
    """What Connect told us ([MS-OXCMAPIHTTP] 2.2.4.1.2)."""

    display_name: str
    dn_prefix: str


class MapiSession:
    """Connect, Execute, Disconnect against one emsmdb URL; ``traces`` records each call."""

    def __init__(self, transport: Transport, url: str, auth: Auth | None,
                 client_application: str = DEFAULT_CLIENT_APPLICATION,
                 user_identity: str | None = None) -> None:
        self._transport = transport
        self._url = url
        self._auth = auth
        self._client_application = client_application
        self._user_identity = user_identity
        self.request_guid = f"{{{str(uuid.uuid4()).upper()}}}"
        self.client_info = f"{{{str(uuid.uuid4()).upper()}}}:1"
        self._counter = 0
        self._cookies: dict[str, str] = {}
        self.traces: list[CallTrace] = []

    @property
    def auth_report(self) -> AuthReport | None:
        return report_of(self._auth)

    def network_time(self) -> float | None:
        """The last request's own time (``Transport.network_time``)."""
        return self._transport.network_time()

    def connect(self, user_dn: str, deadline: Deadline) -> Connected:
        body = self._call("Connect", ConnectRequest(user_dn=user_dn).encode(), deadline)
        response = ConnectResponse.decode(body)
        _raise_failure("Connect", response)
        assert isinstance(response, ConnectResponse)
        if response.error_code:
            raise MapiCallError(f"Connect ErrorCode {describe_error(response.error_code)}",
                                response.error_code)
        return Connected(response.display_name, response.dn_prefix)

    def execute(self, rops: Sequence[RopRequest], handles: Sequence[int],
                ctx: RopContext, deadline: Deadline) -> ExecuteResponse:
        request = ExecuteRequest((RopBuffer(tuple(rops), tuple(handles)),),
                                 flags=EXECUTE_FLAG_NO_COMPRESSION | EXECUTE_FLAG_NO_XOR_MAGIC,
                                 max_rop_out=MAX_ROP_OUT)
        response = ExecuteResponse.decode(self._call("Execute", request.encode(), deadline), ctx)
        _raise_failure("Execute", response)
        assert isinstance(response, ExecuteResponse)
        if response.error_code:
            raise MapiCallError(f"Execute ErrorCode {describe_error(response.error_code)}",
                                response.error_code)
        return response

    def disconnect(self, deadline: Deadline) -> None:
        response = DisconnectResponse.decode(
            self._call("Disconnect", DisconnectRequest().encode(), deadline))
        _raise_failure("Disconnect", response)
        assert isinstance(response, DisconnectResponse)
        if response.error_code:
            raise MapiCallError(
                f"Disconnect ErrorCode {describe_error(response.error_code)}",
                response.error_code)

    def _headers(self, request_type: str) -> list[tuple[str, str]]:
        self._counter += 1
        headers = [("Content-Type", CONTENT_TYPE), ("Accept", CONTENT_TYPE),
                   ("X-RequestType", request_type),
                   ("X-RequestId", f"{self.request_guid}:{self._counter}"),
                   ("X-ClientInfo", self.client_info),
                   ("X-ClientApplication", self._client_application)]
        if self._user_identity:
            headers.append(("X-User-Identity", self._user_identity))
        if self._cookies:
            headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in self._cookies.items())))
        return headers

    def _call(self, request_type: str, body: bytes, deadline: Deadline) -> bytes:
        headers = self._headers(request_type)
        request_id = headers[3][1]
        exchange = self._transport.post(self._url, headers, body, deadline, self._auth)
        self._keep_cookies(exchange)
        stream = exchange.stream
        self.traces.append(CallTrace(
            request_type, request_id, exchange.status,
            exchange.response_code,
            exchange.elapsed, exchange.processing_after, stream.pending_count if stream else 0,
            stream.elapsed_time if stream else None,
            tuple((n, v) for n in SERVER_FACT_HEADERS if (v := exchange.header(n)) is not None),
            exchange.connection, _handshake(exchange, report_of(self._auth))))
        try:
            return _checked_body(request_type, exchange, report_of(self._auth))
        except ProtocolError as err:
            self._hide_cookies(err)
            raise

    def _hide_cookies(self, err: ProtocolError) -> None:
        """The session's cookie values out of what an error page or reason phrase echoed:
        they are the session's credentials for as long as it lives."""
        values = sorted((v for v in self._cookies.values() if len(v) >= MIN_COOKIE),
                        key=len, reverse=True)

        def hidden(text: str) -> str:
            for value in values:
                text = text.replace(value, "***")
            return text

        err.server_text = hidden(err.server_text)
        if err.args and isinstance(err.args[0], str):
            err.args = (hidden(err.args[0]), *err.args[1:])

    def _keep_cookies(self, exchange: HttpExchange) -> None:
        """Keep what a Cookie header can carry (RFC 6265 4.1.1: visible ASCII without
        ``;``, ``,``, ``"`` and ``\\``); a cookie that could not be sent back is dropped,
        not allowed to break the next request and the Disconnect."""
        for line in exchange.set_cookies:
            name, sep, value = line.split(";", 1)[0].partition("=")
            name, value = name.strip(), value.strip()
            if sep and name and _COOKIE_SAFE.fullmatch(name) and _COOKIE_SAFE.fullmatch(
                    value or "x"):
                self._cookies[name] = value


def _handshake(exchange: HttpExchange, report: AuthReport | None) -> str | None:
    """``NTLM, 3 legs (server offers Negotiate, NTLM)`` when the request was challenged."""
    if not exchange.auth_legs:
        return None
    used = report.used if report is not None and report.used else "no authentication"
    offered = (f" (server offers {', '.join(report.offered)})"
               if report is not None and report.offered else "")
    return f"{used}, {exchange.auth_legs + 1} legs{offered}"


def _checked_body(request_type: str, exchange: HttpExchange,
                  report: AuthReport | None) -> bytes:
    """The binary body, or the error that explains why there is none."""
    try:
        return _body_or_raise(request_type, exchange, report)
    except ProtocolError as err:
        err.server_text = _page_text(exchange)
        raise


def _body_or_raise(request_type: str, exchange: HttpExchange,
                   report: AuthReport | None) -> bytes:
    status = exchange.status
    if status in (401, 403):
        offered = offered_schemes(v for k, v in exchange.headers
                                  if k.lower() == "www-authenticate")
        raise AuthError(refusal(status, exchange.reason, offered, report,
                                exchange.header("x-ms-diagnostics")), status)
    if status != 200:
        retry, location = exchange.header("Retry-After"), exchange.header("Location")
        after = (f", Retry-After {retry}" if retry else "") + (
            f", redirected to {location}" if location and 300 <= status < 400 else "")
        raise HttpStatusError(f"HTTP {status} {exchange.reason}{after}", status)
    given = exchange.header("X-ResponseCode")
    if given is not None and not (given.strip().isascii() and given.strip().isdigit()):
        raise ProtocolError(f"malformed X-ResponseCode {given[:40]!r}")
    code = exchange.response_code
    if code:
        raise ResponseCodeError(f"X-ResponseCode {describe_response_code(code)}", code)
    if exchange.decode_error is not None:
        raise ProtocolError(f"malformed {request_type} response: {exchange.decode_error}"
                            ) from exchange.decode_error
    if exchange.stream is None:
        content_type = exchange.header("Content-Type") or "none"
        raise ProtocolError(f"not a MAPI/HTTP response (Content-Type {content_type}, "
                            "no X-ResponseCode)")
    return exchange.stream.body


def _page_text(exchange: HttpExchange) -> str:
    """The error page's text, unless it only repeats the status line (IIS, proxies)."""
    text = exchange.text
    for echo in (f"{exchange.status} {exchange.reason}", exchange.reason, str(exchange.status)):
        if echo:
            text = text.replace(echo, " ")
    return exchange.text if text.strip(" -:.") else ""


def _raise_failure(request_type: str, response: object) -> None:
    if isinstance(response, FailureResponse):
        raise MapiCallError(f"{request_type} StatusCode {describe_error(response.status_code)}",
                            response.status_code)
