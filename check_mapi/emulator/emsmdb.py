"""The mailbox endpoint ``/mapi/emsmdb/``: Connect, Execute, Disconnect, PING
([MS-OXCMAPIHTTP] 2.2.2-2.2.7, 3.2.5), as strict as Exchange's front end and MAPI/HTTP handler.

Refusals are ``200`` with a non-zero ``X-ResponseCode`` and a short ``text/html`` page
(2.2.3.2.2, 2.2.3.3.3): missing X-RequestType/X-RequestId/X-ClientInfo/X-ClientApplication
or an X-ClientApplication not ``Name/a.b.c.d`` -> 7, unknown X-RequestType -> 5, a wrong
Content-Type -> 4, a missing cookie -> 13, an unknown or expired context, or a request
authenticated as someone else than the context's creator (3.2.5.1) -> 10, a stale sequence
cookie or a second request in flight -> 15, an undecodable body -> 12, too large -> 9.
The X-ClientApplication rule (Exchange's Connect handler) is applied to every request type.
Only Execute checks and rotates ``MapiSequence``; PING and Disconnect need ``MapiContext``.
NotificationWait is answered at once with no event pending (no notifications are modelled).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from .. import values
from ..errors import DecodeError
from ..wire import (
    EXECUTE_FLAG_NO_XOR_MAGIC,
    MAX_ROP_OUT,
    ConnectRequest,
    ConnectResponse,
    DisconnectRequest,
    DisconnectResponse,
    ErrorCode,
    ExecuteResponse,
    FailureResponse,
    Reader,
    RopBuffer,
    RopContext,
    RopLogonRequest,
    RopOpenFolderRequest,
    RopRequest,
    code_page_codec,
    decode_request_rop_buffer,
    describe_response_code,
)
from .config import EmulatorConfig, Mailbox
from .faults import Fault, FaultBook
from .reply import Headers, MapiStream, Reply, Request, exchange_headers, status_page
from .rops import RopExecutor, RopFaults
from .sessions import Session, Sessions
from .stats import Stats
from .store import MailboxStore

PATH = "/mapi/emsmdb/"
CLIENT_APPLICATION = re.compile(r"[^/\s]+/\d+\.\d+\.\d+\.\d+")
MAX_REQUEST_BYTES = 268288  # Exchange's MAPI/HTTP request limit (mapi-http.md 2.9)
CONTENT_TYPES = ("application/mapi-http", "application/octet-stream")
REQUIRED_HEADERS = ("X-RequestType", "X-RequestId", "X-ClientInfo", "X-ClientApplication")
CONNECT_FLAG_ADMIN = 0x00000001
POLLS_MAX_MS, RETRY_COUNT, RETRY_DELAY_MS = 60000, 6, 10000


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What the mailbox endpoint shares with the rest of the emulator."""

    config: EmulatorConfig
    sessions: Sessions
    stores: dict[str, MailboxStore]  # by lower-cased SMTP address
    faults: FaultBook
    stats: Stats
    known_dns: frozenset[str]


class _Refused(Exception):  # noqa: N818 - carries the refusal reply up to handle()
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.response_code)
        self.reply = reply


def handle(req: Request, ep: Endpoint) -> Reply:
    """Answer one request under /mapi/emsmdb/ (already authenticated)."""
    try:
        return _handle(req, ep)
    except _Refused as refused:
        return refused.reply


def _handle(req: Request, ep: Endpoint) -> Reply:
    facts = ep.config.server
    if req.method == "GET":
        return _connectivity_page(req, ep)
    if req.method != "POST":
        raise _refuse(req, ep, 2, f"{req.method} is not allowed; MAPI/HTTP uses POST")
    mailbox_id = next((v for k, v in req.query.items() if k.lower() == "mailboxid"), "")
    if not mailbox_id:
        return Reply(400, (("Content-Length", "0"), *exchange_headers(facts)))
    if ep.config.by_mailbox_id(mailbox_id.partition("@")[0]) is None:
        return status_page(404, facts, fault=False)
    _check_headers(req, ep)
    mailbox = ep.config.by_identity(req.identity or "")
    if mailbox is None:
        raise _refuse(req, ep, 8, "the request is not authenticated as a mailbox user")
    if len(req.body) > MAX_REQUEST_BYTES:
        raise _refuse(req, ep, 9, f"request body of {len(req.body)} bytes is too large")
    kind = req.header("X-RequestType") or ""
    return _HANDLERS[kind.lower()](req, ep, mailbox)


def check_client_headers(req: Request, ep: Endpoint) -> None:
    """The headers every MAPI/HTTP request carries (mailbox and address book alike)."""
    for name in REQUIRED_HEADERS:
        if not (req.header(name) or "").strip():
            raise _refuse(req, ep, 7, f"missing header {name}")
    application = (req.header("X-ClientApplication") or "").strip()
    if not CLIENT_APPLICATION.fullmatch(application):
        raise _refuse(req, ep, 7, f"X-ClientApplication {application!r} is not Name/a.b.c.d")


def _check_headers(req: Request, ep: Endpoint) -> None:
    check_client_headers(req, ep)
    kind = (req.header("X-RequestType") or "").strip().lower()
    if kind not in _HANDLERS:
        raise _refuse(req, ep, 5, "unknown X-RequestType")
    content_type = (req.header("Content-Type") or "").split(";")[0].strip().lower()
    if kind != "ping" and content_type not in CONTENT_TYPES:
        raise _refuse(req, ep, 4, f"Content-Type {content_type!r} is not application/mapi-http")


# -- replies ------------------------------------------------------------------------------

def _base_headers(req: Request, ep: Endpoint, code: int, content_type: str) -> list[tuple[
        str, str]]:
    facts = ep.config.server
    headers = [("Cache-Control", "private"), ("Content-Type", content_type)]
    for name in ("X-RequestType", "X-RequestId", "X-ClientInfo"):
        value = req.header(name)
        if value is not None:
            headers.append((name, value))
    headers += [("X-ResponseCode", str(code)),
                ("X-ServerApplication", f"Exchange/{facts.version}"),
                ("X-PendingPeriod", str(facts.pending_period_ms)),
                ("X-ExpirationInfo", str(facts.session_expiration_ms))]
    return headers + list(exchange_headers(facts))


def _refuse(req: Request, ep: Endpoint, code: int, reason: str,
            fault: Fault | None = None) -> _Refused:
    title = f"X-ResponseCode: {describe_response_code(code)}"
    body = (f"<html><head><title>MAPI/HTTP request failed</title></head><body><h1>{title}</h1>"
            f"<p>{_escape(reason)}</p><p>Server: {ep.config.server.backend_server}</p>"
            "</body></html>").encode()
    headers = tuple(_base_headers(req, ep, code, "text/html"))
    delay = fault.latency_ms / 1000 if fault else 0.0
    return _Refused(Reply(200, headers, body, delay_s=delay, response_code=code,
                          fault=fault is not None))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cookie(req: Request, name: str, value: str, expire: bool = False) -> tuple[str, str]:
    parts = [f"{name}={value}", f"Path={PATH}"]
    if expire:
        parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if req.tls:
        parts.append("Secure")
    parts.append("HttpOnly")
    return ("Set-Cookie", "; ".join(parts))


def _answer(req: Request, ep: Endpoint, body: bytes, fault: Fault | None,
            cookies: Headers = ()) -> Reply:
    """A success (X-ResponseCode 0): the chunked inner stream with ``body`` after DONE."""
    facts = ep.config.server
    headers = tuple(_base_headers(req, ep, 0, "application/mapi-http")) + cookies
    stream = MapiStream(body, pending_period_s=facts.pending_period_ms / 1000)
    if fault is not None:
        stream = replace(stream, delay_s=fault.latency_ms / 1000,
                         pending_forever=fault.pending_forever,
                         drop_after_processing=fault.drop_connection,
                         truncate_body=fault.truncate_body)
    return Reply(200, headers, stream=stream, response_code=0, fault=fault is not None)


def _early(req: Request, ep: Endpoint, fault: Fault | None) -> None:
    """Faults that replace the whole answer: an HTTP status or an X-ResponseCode."""
    if fault is None:
        return
    if fault.http_status is not None:
        reply = status_page(fault.http_status, ep.config.server, fault.retry_after)
        raise _Refused(replace(reply, delay_s=fault.latency_ms / 1000))
    if fault.response_code is not None:
        raise _refuse(req, ep, fault.response_code, "configured fault", fault)


def _never_answered(fault: Fault | None) -> bool:
    return fault is not None and (fault.pending_forever or fault.drop_connection)


def _session(req: Request, ep: Endpoint, *, check_sequence: bool) -> Session:
    jar = req.cookies()
    context = jar.get("MapiContext")
    if context is None:
        raise _refuse(req, ep, 13, "the MapiContext cookie is missing")
    session = ep.sessions.get(context)
    if session is None:
        raise _refuse(req, ep, 10, "no such Session Context (unknown, disconnected or expired)")
    if session.identity.lower() != (req.identity or "").lower():
        raise _refuse(req, ep, 10, "the request is authenticated as another user than the "
                      "one that created the Session Context")
    if check_sequence:
        sequence = jar.get("MapiSequence")
        if sequence is None:
            raise _refuse(req, ep, 13, "the MapiSequence cookie is missing")
        if sequence != session.sequence:
            raise _refuse(req, ep, 15, "stale MapiSequence cookie")
    return session


# -- request types ----------------------------------------------------------------------------

def _connect(req: Request, ep: Endpoint, mailbox: Mailbox) -> Reply:
    try:
        request = ConnectRequest.decode(req.body)
    except DecodeError as err:
        raise _refuse(req, ep, 12, f"Connect body: {err}") from None
    fault = ep.faults.take(mailbox.faults, "connect")
    _early(req, ep, fault)
    old = req.cookies().get("MapiContext")
    if old is not None:  # reconnect: the old context goes away (3.2.5.6)
        existing = ep.sessions.get(old)
        if existing is not None and existing.identity == req.identity:
            ep.sessions.remove(old)
    if fault is not None and fault.status_code:
        return _answer(req, ep, FailureResponse(fault.status_code).encode(), fault)
    error = _connect_error(request, mailbox, fault)
    if error:
        return _answer(req, ep, ConnectResponse(error, 0, 0, 0, "", "").encode(), fault)
    if _never_answered(fault):  # the client will never see the cookies: no context
        return _answer(req, ep, b"", fault)
    store = ep.stores[mailbox.smtp.lower()]
    session = ep.sessions.create(req.identity or mailbox.smtp, mailbox, store,
                                 _code_page(request.default_code_page))
    body = ConnectResponse(0, POLLS_MAX_MS, RETRY_COUNT, RETRY_DELAY_MS, mailbox.dn_prefix,
                           mailbox.display_name).encode()
    cookies = (_cookie(req, "MapiContext", session.context),
               _cookie(req, "MapiSequence", session.sequence))
    return _answer(req, ep, body, fault, cookies)


def _code_page(code_page: int) -> int:
    """The logon code page for PtypString8 values; one Python cannot encode becomes 1252
    (Exchange's answer to an unknown code page is not documented here)."""
    try:
        code_page_codec(code_page)
    except DecodeError:
        return 1252
    return code_page


def _connect_error(request: ConnectRequest, mailbox: Mailbox, fault: Fault | None) -> int:
    """EcDoConnectEx's result ([MS-OXCRPC] 3.1.4.1): the caller's own DN, no admin rights."""
    if fault is not None and fault.error_code:
        return fault.error_code
    if request.user_dn.lower() != mailbox.legacy_dn.lower():
        return ErrorCode.ecAccessDenied
    if request.flags & CONNECT_FLAG_ADMIN:
        return ErrorCode.ecLoginPerm
    return 0


def _parse_execute(req: Request, ep: Endpoint) -> tuple[int, bytes, int]:
    """Flags, RopBuffer, MaxRopOut of an Execute body (2.2.4.2.1), or X-ResponseCode 12."""
    try:
        r = Reader(req.body, "Execute request")
        flags, size = r.u32("Flags"), r.u32("RopBufferSize")
        rop_buffer, max_rop_out = r.take(size, "RopBuffer"), r.u32("MaxRopOut")
        r.counted_bytes32("AuxiliaryBuffer")
        r.expect_end()
    except DecodeError as err:
        raise _refuse(req, ep, 12, f"Execute body: {err}") from None
    return flags, rop_buffer, max_rop_out


def _execute(req: Request, ep: Endpoint, mailbox: Mailbox) -> Reply:
    session = _session(req, ep, check_sequence=True)
    flags, rop_buffer, max_rop_out = _parse_execute(req, ep)
    segments: tuple[RopBuffer[RopRequest], ...] | None
    try:
        segments = decode_request_rop_buffer(rop_buffer, 8)
    except DecodeError:
        segments = None  # ecRpcFormat below
    step = execute_step(segments, session.store.inbox.fid)
    fault = ep.faults.take(mailbox.faults, step) if step else None
    _early(req, ep, fault)
    if not session.busy.acquire(blocking=False):
        raise _refuse(req, ep, 15, "another request of this Session Context is in progress")
    try:
        body = _execute_body(session, ep, segments, flags=flags,
                             max_rop_out=min(max_rop_out, MAX_ROP_OUT), fault=fault)
        sequence = session.rotate_sequence()
    finally:
        session.busy.release()
    return _answer(req, ep, body, fault, (_cookie(req, "MapiSequence", sequence),))


def execute_step(segments: tuple[RopBuffer[RopRequest], ...] | None,
                 inbox_fid: int) -> str | None:
    """The probe step an Execute belongs to, for its faults; None: no step, no fault.

    ``logon``: it carries a RopLogon. ``inbox``: it carries a RopOpenFolder of this mailbox's
    Inbox (the FolderId RopLogon returned at index 4), as the probe's Inbox request does;
    ruler sends that RopOpenFolder alone, then other Executes for other folders and messages,
    which are no step of the probe. Anything else, an undecodable ROP buffer included, gets
    no fault: a fault named after a step must not touch another client's later requests.
    """
    rops = [rop for segment in segments or () for rop in segment.rops]
    if any(isinstance(rop, RopLogonRequest) for rop in rops):
        return "logon"
    if any(isinstance(rop, RopOpenFolderRequest) and rop.folder_id == inbox_fid
           for rop in rops):
        return "inbox"
    return None


def _execute_body(session: Session, ep: Endpoint,
                  segments: tuple[RopBuffer[RopRequest], ...] | None, *, flags: int,
                  max_rop_out: int, fault: Fault | None) -> bytes:
    if fault is not None and fault.status_code:
        return FailureResponse(fault.status_code).encode()
    if fault is not None and fault.error_code:
        return ExecuteResponse(fault.error_code, ()).encode()
    if segments is None:
        return ExecuteResponse(ErrorCode.ecRpcFormat, ()).encode()
    rop_faults = RopFaults(
        logon_error=fault.rop_error if fault and fault.step == "logon" else None,
        logon_redirect=fault.wrong_server if fault else None,
        open_inbox_error=fault.rop_error if fault and fault.step == "inbox" else None)
    executor = RopExecutor(session.store, session.objects, user_dn=session.mailbox.legacy_dn,
                           known_dns=ep.known_dns, code_page=session.code_page,
                           faults=rop_faults)
    xor = ep.config.server.xor_responses and not flags & EXECUTE_FLAG_NO_XOR_MAGIC
    out = tuple(values.replace(executor.run(segment, max_rop_out), xor_magic=xor)
                for segment in segments)
    return ExecuteResponse(0, out).encode(RopContext(code_page=session.code_page))


def _disconnect(req: Request, ep: Endpoint, mailbox: Mailbox) -> Reply:
    session = _session(req, ep, check_sequence=False)
    if req.body:  # 2.2.4.3.1 has AuxiliaryBufferSize; 3.1.5.4 says "no body": take both
        try:
            DisconnectRequest.decode(req.body)
        except DecodeError as err:
            raise _refuse(req, ep, 12, f"Disconnect body: {err}") from None
    fault = ep.faults.take(mailbox.faults, "disconnect")
    _early(req, ep, fault)
    if fault is not None and fault.status_code:
        return _answer(req, ep, FailureResponse(fault.status_code).encode(), fault)
    if fault is not None and fault.error_code:
        return _answer(req, ep, DisconnectResponse(fault.error_code).encode(), fault)
    if _never_answered(fault):  # the context stays until the client retries or it expires
        return _answer(req, ep, b"", fault)
    ep.sessions.remove(session.context)
    cookies = (_cookie(req, "MapiContext", "", expire=True),
               _cookie(req, "MapiSequence", "", expire=True))
    return _answer(req, ep, DisconnectResponse(0).encode(), fault, cookies)


def _ping(req: Request, ep: Endpoint, mailbox: Mailbox) -> Reply:
    """2.2.6: meta-tags only; refreshes the idle timer (3.2.5.3)."""
    _session(req, ep, check_sequence=False)
    fault = ep.faults.take(mailbox.faults, "ping")
    _early(req, ep, fault)
    return _answer(req, ep, b"", fault)


def _notification_wait(req: Request, ep: Endpoint, mailbox: Mailbox) -> Reply:
    """2.2.4.4: no events are ever pending here, so the wait completes at once."""
    _session(req, ep, check_sequence=False)
    body = b"\x00" * 16  # StatusCode, ErrorCode, EventPending 0, AuxiliaryBufferSize 0
    return _answer(req, ep, body, None)


_HANDLERS: dict[str, Callable[[Request, Endpoint, Mailbox], Reply]] = {
    "connect": _connect, "execute": _execute, "disconnect": _disconnect, "ping": _ping,
    "notificationwait": _notification_wait,
}


def _connectivity_page(req: Request, ep: Endpoint) -> Reply:
    """What Exchange answers to a browser's GET of the vdir (after authentication)."""
    facts = ep.config.server
    text = (f"<html><body>Exchange MAPI/HTTP Connectivity Endpoint<br><br>Version: "
            f"{facts.version}<br>Vdir Path: {PATH}<br><br>User: {_escape(req.identity or '')}"
            f"<br>Cafe: {facts.frontend_server}<br>Mailbox: {facts.backend_server}<br>"
            f"Database: {facts.database}<br></body></html>")
    headers = (("Content-Type", "text/html"), *exchange_headers(facts))
    return Reply(200, headers, text.encode())
