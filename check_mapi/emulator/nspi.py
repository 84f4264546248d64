"""The address-book endpoint ``/mapi/nspi/``: Bind, Unbind and PING ([MS-OXCMAPIHTTP] 2.2.5.1,
2.2.5.2, 2.2.6; [MS-OXNSPI] 3.1.4.1.1-3.1.4.1.2).

Autodiscover advertises this URL (``AddressBook``) as Exchange does, so it is served rather
than left answering 404: Bind is what a client sends first ([MS-OXOABK] 3.1.3.2: it MUST come
before any address book object is read), Unbind what it sends last, and a client or a later
probe step can check that the address book answers at all. The address book's contents (the
GAL, GetProps, QueryRows, DNToMId, GetMailboxUrl, ...) are not modelled: those request types
are refused with X-ResponseCode 5 (Invalid Request Type) and a page naming the ones served.

Requests are as strict as on the mailbox endpoint (the same headers, Content-Type, size and
cookie rules); an address-book Session Context is created by Bind, named by its own
``MapiContext`` cookie (Path ``/mapi/nspi/``), bound to the identity that created it and ended
by Unbind or by ``session_expiration_ms`` without a request. No fault step applies here.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from ..errors import DecodeError
from ..wire import Reader, Writer
from .config import Mailbox
from .emsmdb import (
    CONTENT_TYPES,
    MAX_REQUEST_BYTES,
    Endpoint,
    _answer,  # the mailbox endpoint's reply shapes, shared on purpose
    _refuse,
    _Refused,
    check_client_headers,
)
from .reply import Reply, Request, status_page
from .sessions import new_cookie_value

PATH = "/mapi/nspi/"
STAT_SIZE = 36  # [MS-OXNSPI] 2.2.8 STAT: nine 4-byte fields
UNBIND_SUCCESS = 0x00000001  # [MS-OXNSPI] 2.2.1.2 UnbindSuccess, NspiUnbind's success value


class Contexts:
    """Address-book Session Contexts: cookie value -> (identity, last use)."""

    def __init__(self, expiration_s: float) -> None:
        self._lock = threading.Lock()
        self._expiration_s = expiration_s
        self._by_cookie: dict[str, tuple[str, float]] = {}

    def create(self, identity: str) -> str:
        cookie = new_cookie_value()
        with self._lock:
            self._by_cookie[cookie] = (identity, time.monotonic())
        return cookie

    def touch(self, cookie: str, identity: str) -> bool:
        """True when ``cookie`` names a live context of ``identity`` (its idle timer restarts)."""
        now = time.monotonic()
        with self._lock:
            found = self._by_cookie.get(cookie)
            if found is None or now - found[1] > self._expiration_s:
                self._by_cookie.pop(cookie, None)
                return False
            if found[0].lower() != identity.lower():
                return False
            self._by_cookie[cookie] = (found[0], now)
            return True

    def remove(self, cookie: str) -> None:
        with self._lock:
            self._by_cookie.pop(cookie, None)

    def open_count(self) -> int:
        with self._lock:
            return len(self._by_cookie)


def server_guid(ep: Endpoint) -> uuid.UUID:
    """The address book server's GUID (Bind's ServerGuid): stable per backend server name."""
    return uuid.uuid5(uuid.NAMESPACE_DNS, f"nspi.{ep.config.server.backend_server.lower()}")


def handle(req: Request, ep: Endpoint, contexts: Contexts) -> Reply:
    """Answer one request under /mapi/nspi/ (already authenticated)."""
    try:
        return _handle(req, ep, contexts)
    except _Refused as refused:
        return refused.reply


def _handle(req: Request, ep: Endpoint, contexts: Contexts) -> Reply:
    if req.method != "POST":
        raise _refuse(req, ep, 2, f"{req.method} is not allowed; MAPI/HTTP uses POST")
    mailbox_id = next((v for k, v in req.query.items() if k.lower() == "mailboxid"), "")
    if not mailbox_id:
        return status_page(400, ep.config.server, fault=False)
    if ep.config.by_mailbox_id(mailbox_id.partition("@")[0]) is None:
        return status_page(404, ep.config.server, fault=False)
    check_client_headers(req, ep)
    kind = (req.header("X-RequestType") or "").strip().lower()
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise _refuse(req, ep, 5, f"X-RequestType {kind!r} is not served by this emulator's "
                      "address book (Bind, Unbind and PING are)")
    content_type = (req.header("Content-Type") or "").split(";")[0].strip().lower()
    if kind != "ping" and content_type not in CONTENT_TYPES:
        raise _refuse(req, ep, 4, f"Content-Type {content_type!r} is not application/mapi-http")
    mailbox = ep.config.by_identity(req.identity or "")
    if mailbox is None:
        raise _refuse(req, ep, 8, "the request is not authenticated as a mailbox user")
    if len(req.body) > MAX_REQUEST_BYTES:
        raise _refuse(req, ep, 9, f"request body of {len(req.body)} bytes is too large")
    return handler(req, ep, contexts, mailbox)


def _cookie(req: Request, value: str, expire: bool = False) -> tuple[str, str]:
    parts = [f"MapiContext={value}", f"Path={PATH}"]
    if expire:
        parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if req.tls:
        parts.append("Secure")
    parts.append("HttpOnly")
    return ("Set-Cookie", "; ".join(parts))


def _context(req: Request, ep: Endpoint, contexts: Contexts) -> str:
    cookie = req.cookies().get("MapiContext")
    if cookie is None:
        raise _refuse(req, ep, 13, "the MapiContext cookie is missing")
    if not contexts.touch(cookie, req.identity or ""):
        raise _refuse(req, ep, 10, "no such address book Session Context (unknown, unbound, "
                      "expired or created by another user)")
    return cookie


def decode_bind_request(body: bytes) -> tuple[int, bytes | None, bytes]:
    """Flags, State (36 bytes, when HasState) and AuxiliaryBuffer of 2.2.5.1.1."""
    r = Reader(body, "Bind request")
    flags, has_state = r.u32("Flags"), r.u8("HasState")
    state = r.take(STAT_SIZE, "State") if has_state else None
    aux = r.counted_bytes32("AuxiliaryBuffer")
    r.expect_end()
    return flags, state, aux


def encode_bind_response(error_code: int, guid: uuid.UUID) -> bytes:
    """2.2.5.1.2: StatusCode 0, ErrorCode, ServerGuid, AuxiliaryBufferSize 0 (28 bytes)."""
    return Writer().u32(0).u32(error_code).guid(guid).u32(0).getvalue()


def decode_unbind_request(body: bytes) -> bytes:
    """Reserved (ignored, 2.2.5.2.1) and the AuxiliaryBuffer."""
    r = Reader(body, "Unbind request")
    r.u32("Reserved")
    aux = r.counted_bytes32("AuxiliaryBuffer")
    r.expect_end()
    return aux


def encode_unbind_response(error_code: int) -> bytes:
    """2.2.5.2.2: StatusCode 0, ErrorCode, AuxiliaryBufferSize 0 (12 bytes)."""
    return Writer().u32(0).u32(error_code).u32(0).getvalue()


def _bind(req: Request, ep: Endpoint, contexts: Contexts, mailbox: Mailbox) -> Reply:
    try:
        decode_bind_request(req.body)
    except DecodeError as err:
        raise _refuse(req, ep, 12, f"Bind body: {err}") from None
    old = req.cookies().get("MapiContext")
    if old is not None:  # a new Bind replaces the context the client had
        contexts.remove(old)
    cookie = contexts.create(req.identity or mailbox.smtp)
    return _answer(req, ep, encode_bind_response(0, server_guid(ep)), None,
                   (_cookie(req, cookie),))


def _unbind(req: Request, ep: Endpoint, contexts: Contexts, mailbox: Mailbox) -> Reply:
    cookie = _context(req, ep, contexts)
    try:
        decode_unbind_request(req.body)
    except DecodeError as err:
        raise _refuse(req, ep, 12, f"Unbind body: {err}") from None
    contexts.remove(cookie)
    return _answer(req, ep, encode_unbind_response(UNBIND_SUCCESS), None,
                   (_cookie(req, "", expire=True),))


def _ping(req: Request, ep: Endpoint, contexts: Contexts, mailbox: Mailbox) -> Reply:
    _context(req, ep, contexts)
    return _answer(req, ep, b"", None)


_HANDLERS: dict[str, Callable[[Request, Endpoint, Contexts, Mailbox], Reply]] = {
    "bind": _bind, "unbind": _unbind, "ping": _ping,
}
