"""What the endpoint modules get (a parsed request) and give back (a reply to write).

Kept free of sockets: ``server.py`` turns a :class:`Reply` into bytes on the connection,
including the chunked MAPI/HTTP inner stream of [MS-OXCMAPIHTTP] 2.2.7 / 3.2.5.2.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from http import HTTPStatus

from .config import ServerFacts

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # without the query
    query: Mapping[str, str]  # first value of each parameter, names as sent
    headers: Mapping[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes
    identity: str | None  # the authenticated identity (SMTP address), None if anonymous
    tls: bool
    base_url: str  # scheme://host:port of this emulator
    started: float  # time.monotonic() when the request was read
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def cookies(self) -> dict[str, str]:
        """Cookie header pairs (RFC 6265 5.4); the first of a repeated name wins."""
        jar: dict[str, str] = {}
        for part in (self.header("cookie") or "").replace(",", ";").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name and name not in jar:
                jar[name] = value.strip()
        return jar


@dataclass(frozen=True, slots=True)
class MapiStream:
    """A 200 answer whose body is the MAPI/HTTP inner stream, sent chunked:
    PROCESSING at once, PENDING every ``pending_period_s`` while ``delay_s`` runs, then DONE,
    the additional headers (X-ResponseCode, X-ElapsedTime in ms, X-StartTime) and ``body``."""

    body: bytes
    delay_s: float = 0.0
    pending_period_s: float = 30.0
    pending_forever: bool = False
    drop_after_processing: bool = False
    truncate_body: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Headers = ()
    body: bytes = b""
    stream: MapiStream | None = None
    delay_s: float = 0.0  # before anything is sent
    drop: bool = False  # send the head and half the body, then close the connection
    truncate_body: bool = False  # send half the body, correctly framed
    response_code: int | None = None  # X-ResponseCode sent, for the counters
    fault: bool = False  # a configured fault shaped this reply


def exchange_headers(facts: ServerFacts) -> Headers:
    """Headers every Exchange 2016/2019 front end adds (values from the configuration)."""
    backend = facts.backend_server
    return (
        ("request-id", str(uuid.uuid4())),
        ("X-CalculatedBETarget", backend.lower()),
        ("X-BEServer", backend.split(".")[0].upper()),
        ("X-DiagInfo", backend.split(".")[0].upper()),
        ("X-BackEndHttpStatus", "200"),
        ("X-FEServer", facts.frontend_server),
        ("X-Powered-By", "ASP.NET"),
    )


def http_date(moment: datetime) -> str:
    """RFC 1123 date, as X-StartTime carries it."""
    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)


def status_page(status: int, facts: ServerFacts, retry_after: int | None = None,
                fault: bool = True) -> Reply:
    """A plain HTTP error page, as IIS or the Exchange front end send them."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    body = (f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}"
            f"</h1></body></html>").encode()
    headers = [("Content-Type", "text/html"), *exchange_headers(facts)]
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    return Reply(status, tuple(headers), body, fault=fault)
