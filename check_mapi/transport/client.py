"""The only httpx client: one per probe, every request bound to a ``Deadline``.

One ``httpx.Client`` with a single keep-alive connection per host, so that a probe costs
one TCP/TLS connection and one NTLM handshake. Its network backend (``network``) bounds
every DNS lookup, connect, handshake, read and write by the deadline of the request in
flight; authentication is passed per request (an ``httpx.Auth`` flow sees each response,
and through ``response.extensions["network_stream"]`` the connection it came on). Each
answer carries the facts of its connection (``ConnectionFacts``).
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Sequence
from http.cookiejar import CookieJar

import httpx

from ..deadline import Deadline
from ..errors import DecodeError, TransportTimeoutError
from ..settings import ConnectionSettings
from ..values import Value
from ..wire import MetaTag, MetaTagEvent, ResponseStream, ResponseStreamParser
from .bodies import ACCEPT_ENCODING
from .errors import BUDGET_SPENT, mapped, url_problem
from .facts import ConnectionFacts, connection_facts
from .network import DeadlineBackend
from .proxy import Routes
from .tls import client_context

Auth = httpx.Auth  # the type of an auth flow, for modules that must not import httpx
Verify = ssl.SSLContext | bool  # what ssl_context() gives: built once, shared by probes
__all__ = ["Auth", "HttpExchange", "HttpReply", "Transport", "Verify", "ssl_context",
           "url_problem"]
MAX_TEXT = 300  # characters of a non-MAPI body kept for the diagnosis
MAX_SKIPPED = 64 * 1024  # a longer error page is not read to its end (its connection closes)


def ssl_context(settings: ConnectionSettings, tls_expected: bool = True) -> Verify:
    """What httpx verifies with: False (--insecure without a client certificate), else a
    context trusting the --ca-file or certifi's CAs (``tls.client_context``), with the
    client certificate loaded for mutual TLS.

    Built once per run and shared by every probe; ConfigError (UNKNOWN) for a bad file.
    """
    if settings.insecure and not settings.client_cert:
        return False
    return client_context(settings, tls_expected)


class HttpExchange(Value):
    """What one POST gave back, with the times that matter for the diagnosis."""

    url: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    set_cookies: tuple[str, ...]
    stream: ResponseStream | None  # the MAPI inner stream, None if the body is not one
    text: str  # the start of a non-MAPI body (HTML diagnostic pages), tags stripped
    elapsed: float
    processing_after: float | None  # seconds until the PROCESSING meta-tag arrived
    decode_error: DecodeError | None = None
    connection: ConnectionFacts | None = None
    auth_legs: int = 0  # answers before this one in the auth flow (the 401 challenges)

    def header(self, name: str) -> str | None:
        return header(self.headers, name)

    @property
    def response_code(self) -> int | None:
        """X-ResponseCode: the inner stream's (the later one wins), else the header's."""
        if self.stream is not None:
            return self.stream.response_code
        return _as_int(self.header("X-ResponseCode"))


class HttpReply(Value):
    """A plain (non-MAPI) answer, e.g. Autodiscover's, its body read up to a size cap."""

    url: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # at most max_bytes
    elapsed: float
    oversize: bool  # the body was longer than max_bytes and was not read to its end
    connection: ConnectionFacts | None = None

    def header(self, name: str) -> str | None:
        return header(self.headers, name)


def header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The first value of ``name`` (case-insensitive) in an answer's header list."""
    lowered = name.lower()
    return next((v for k, v in headers if k.lower() == lowered), None)


class _NoCookieJar(CookieJar):
    """httpx's cookie jar, never used: the MAPI session sends its own Cookie header
    ([MS-OXCMAPIHTTP] 2.2.3.1), and nothing else here needs cookies. Parsing every
    answer's cookies for a jar nobody reads was a tenth of a probe's CPU."""

    def extract_cookies(self, response: object, request: object) -> None:
        return None

    def add_cookie_header(self, request: object) -> None:
        return None


class Transport:
    """Owns the httpx client; ``post()``/``request()`` answer or raise TransportError."""

    def __init__(self, settings: ConnectionSettings, verify: Verify = True) -> None:
        self._backend = DeadlineBackend(settings.resolve, settings.family)
        # direct, or through the proxy (its own CONNECT tunnel, NTLM included): ``proxy``
        transport = Routes(settings, verify, _LIMITS, self._backend)
        self._urls: dict[str, httpx.URL] = {}
        self._client = httpx.Client(transport=transport, follow_redirects=False,
                                    trust_env=False, cookies=_NoCookieJar(),
                                    headers={"User-Agent": settings.user_agent,
                                             "Accept-Encoding": ACCEPT_ENCODING})

    def close(self) -> None:
        self._client.close()
        self._backend.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post(self, url: str, headers: Sequence[tuple[str, str]], body: bytes,
             deadline: Deadline, auth: Auth | None = None) -> HttpExchange:
        """POST a MAPI/HTTP request; the answer's inner stream parsed as it arrives."""
        start = time.monotonic()
        with mapped(url, deadline), self._armed(deadline), self._client.stream(
                "POST", self._parsed(url), content=body, headers=list(headers),
                timeout=_timeout(deadline), auth=auth) as response:
            return self._read(response, url, start, deadline)

    def request(self, method: str, url: str, headers: Sequence[tuple[str, str]],
                body: bytes, deadline: Deadline, *, max_bytes: int,
                auth: Auth | None = None) -> HttpReply:
        """Any request whose answer is not a MAPI/HTTP stream (Autodiscover POX, v2, GET).

        The body is read incrementally and never beyond ``max_bytes``; redirects are not
        followed (the caller decides); ``auth`` None sends no credentials.
        """
        start = time.monotonic()
        with mapped(url, deadline), self._armed(deadline), self._client.stream(
                method, self._parsed(url), content=body or None, headers=list(headers),
                timeout=_timeout(deadline), auth=auth) as response:
            facts = _facts(response)  # before the body: an early stop closes the connection
            raw, oversize = bytearray(), False
            declared = _as_int(response.headers.get("Content-Length"))
            if declared is not None and declared > max_bytes:
                oversize = True
            else:
                for chunk in response.iter_bytes():
                    _check(deadline)
                    raw += chunk
                    if len(raw) > max_bytes:
                        oversize = True
                        break
            return HttpReply(url=url, status=response.status_code,
                             reason=response.reason_phrase,
                             headers=tuple(response.headers.multi_items()),
                             body=bytes(raw[:max_bytes]), elapsed=time.monotonic() - start,
                             oversize=oversize, connection=facts)

    def _parsed(self, url: str) -> httpx.URL:
        """The URL parsed once per transport: a MAPI session posts to one URL four times,
        and httpx's URL parser is a noticeable part of a request's CPU."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    def network_time(self) -> float | None:
        """The last request's own time: from its first network action (name lookup,
        connect, or first byte sent) to the kernel's arrival time of the last data read.
        Unlike a wall clock around the call, it leaves out the time this thread waited
        to run (other probes' threads, the GIL) after the answer had arrived."""
        return self._backend.network_time()

    def _armed(self, deadline: Deadline) -> _Armed:
        return _Armed(self._backend, deadline)

    def _read(self, response: httpx.Response, url: str, start: float,
              deadline: Deadline) -> HttpExchange:
        headers = tuple(response.headers.multi_items())  # decoded once, looked up below
        code_header = header(headers, "X-ResponseCode")
        mapi = (response.status_code == 200 and
                (header(headers, "content-type") or "").startswith(
                    ("application/mapi-http", "application/octet-stream")))
        parser = ResponseStreamParser(_as_int(code_header))
        facts = _facts(response)
        processing_after: float | None = None
        raw = bytearray()
        decode_error: DecodeError | None = None
        skipped = 0  # bytes of a page or a broken stream read past what is kept
        for chunk in response.iter_bytes():
            _check(deadline)
            if not mapi or decode_error is not None:
                raw += chunk[: MAX_TEXT * 4 - len(raw)]
                skipped += len(chunk)
                if skipped > MAX_SKIPPED:  # read on only to reuse the connection
                    break
                continue
            try:
                for event in parser.feed(chunk):
                    if isinstance(event, MetaTagEvent) and event.tag is MetaTag.PROCESSING:
                        processing_after = time.monotonic() - start
            except DecodeError as err:
                decode_error = err
        stream = None
        if mapi and decode_error is None:
            try:
                stream = parser.close()
            except DecodeError as err:
                decode_error = err
        return HttpExchange(
            url=url, status=response.status_code, reason=response.reason_phrase,
            headers=headers,
            set_cookies=tuple(v for k, v in headers if k.lower() == "set-cookie"), stream=stream,
            text=_text(bytes(raw)), elapsed=time.monotonic() - start,
            processing_after=processing_after, decode_error=decode_error,
            connection=facts, auth_legs=len(response.history))


class _Armed:
    """The backend bound to ``deadline`` (and its watchdog armed) for one request."""

    __slots__ = ("_backend", "_deadline")

    def __init__(self, backend: DeadlineBackend, deadline: Deadline) -> None:
        self._backend, self._deadline = backend, deadline

    def __enter__(self) -> None:
        _check(self._deadline)
        self._backend.arm(self._deadline)

    def __exit__(self, *exc: object) -> None:
        self._backend.disarm()


_LIMITS = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60)


def _timeout(deadline: Deadline) -> httpx.Timeout:
    return httpx.Timeout(max(deadline.remaining(), 0.001))


def _check(deadline: Deadline) -> None:
    if deadline.expired:
        raise TransportTimeoutError(BUDGET_SPENT)


def _facts(response: httpx.Response) -> ConnectionFacts | None:
    return connection_facts(response.extensions.get("network_stream"))


def _as_int(value: str | None) -> int | None:
    """A header's decimal number; None for anything else (str.isdigit alone would take
    "²" and "٣", which int() then refuses or reads as 3)."""
    text = (value or "").strip()
    return int(text) if text.isascii() and text.isdigit() else None


_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _text(raw: bytes) -> str:
    """The readable start of an error page: tags and whitespace runs removed."""
    text = raw.decode("utf-8", "replace")
    text = _SPACE.sub(" ", _TAGS.sub(" ", text)).strip()
    return text[:MAX_TEXT]


