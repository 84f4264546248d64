"""The only module that talks to httpx: one client per probe, deadlines, error mapping.

One ``httpx.Client`` with a single keep-alive connection per host, so that a probe costs
one TCP/TLS connection and one NTLM handshake. Each request runs against an absolute
deadline (monotonic clock): httpx timeouts are per socket operation, so a server that
keeps sending PENDING could otherwise hold a request forever.
"""

from __future__ import annotations

import contextlib
import re
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import httpx

from .errors import DecodeError, TransportError, TransportTimeoutError
from .wire import MetaTag, MetaTagEvent, ResponseStream, ResponseStreamParser

MAX_TEXT = 300  # characters of a non-MAPI body kept for the diagnosis


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """How to reach the server; secrets never live here (they are in the auth flow)."""

    verify: ssl.SSLContext | bool = True
    proxy: str | None = None
    trust_env: bool = False  # monitoring daemons run with odd environments: be explicit
    user_agent: str = "check_mapi"


@dataclass(frozen=True, slots=True)
class HttpExchange:
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

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    @property
    def response_code(self) -> int | None:
        """X-ResponseCode: the inner stream's (the later one wins), else the header's."""
        if self.stream is not None:
            return self.stream.response_code
        return _as_int(self.header("X-ResponseCode"))


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A plain (non-MAPI) answer, e.g. Autodiscover's, its body read up to a size cap."""

    url: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # at most max_bytes
    elapsed: float
    oversize: bool  # the body was longer than max_bytes and was not read to its end

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


class Transport:
    """Owns the httpx client; ``post()`` returns an HttpExchange or raises TransportError."""

    def __init__(self, config: TransportConfig, auth: httpx.Auth | None = None) -> None:
        self._client = httpx.Client(
            verify=config.verify, proxy=config.proxy, trust_env=config.trust_env, auth=auth,
            follow_redirects=False, headers={"User-Agent": config.user_agent},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1,
                                keepalive_expiry=60))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post(self, url: str, headers: Sequence[tuple[str, str]], body: bytes,
             deadline: float) -> HttpExchange:
        """POST ``body``; ``deadline`` is a time.monotonic() value."""
        start = time.monotonic()
        with _mapped_errors(url):
            timeout = _remaining(deadline)
            self._client.cookies.clear()  # the session sends its own Cookie header
            with self._client.stream("POST", url, content=body, headers=list(headers),
                                     timeout=httpx.Timeout(timeout)) as response:
                return self._read(response, url, start, deadline)

    def request(self, method: str, url: str, headers: Sequence[tuple[str, str]],
                body: bytes, deadline: float, *, max_bytes: int,
                authenticate: bool = True) -> HttpReply:
        """Any request whose answer is not a MAPI/HTTP stream (Autodiscover POX, v2, GET).

        The body is read incrementally and never beyond ``max_bytes``; redirects are not
        followed (the caller decides); ``authenticate=False`` sends no credentials.
        """
        start = time.monotonic()
        with _mapped_errors(url):
            timeout = _remaining(deadline)
            auth = httpx.USE_CLIENT_DEFAULT if authenticate else None
            with self._client.stream(method, url, content=body or None, headers=list(headers),
                                     timeout=httpx.Timeout(timeout), auth=auth) as response:
                raw, oversize = bytearray(), False
                declared = _as_int(response.headers.get("Content-Length"))
                if declared is not None and declared > max_bytes:
                    oversize = True
                else:
                    for chunk in response.iter_bytes():
                        _remaining(deadline)
                        raw += chunk
                        if len(raw) > max_bytes:
                            oversize = True
                            break
                return HttpReply(url=url, status=response.status_code,
                                 reason=response.reason_phrase,
                                 headers=tuple(response.headers.multi_items()),
                                 body=bytes(raw[:max_bytes]), elapsed=time.monotonic() - start,
                                 oversize=oversize)

    def _read(self, response: httpx.Response, url: str, start: float,
              deadline: float) -> HttpExchange:
        code_header = response.headers.get("X-ResponseCode")
        mapi = (response.status_code == 200 and
                response.headers.get("content-type", "").startswith(
                    ("application/mapi-http", "application/octet-stream")))
        parser = ResponseStreamParser(_as_int(code_header))
        processing_after: float | None = None
        raw = bytearray()
        decode_error: DecodeError | None = None
        for chunk in response.iter_bytes():
            _remaining(deadline)
            if not mapi or decode_error is not None:
                raw += chunk[: MAX_TEXT * 4 - len(raw)]
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
            headers=tuple(response.headers.multi_items()),
            set_cookies=tuple(response.headers.get_list("set-cookie")), stream=stream,
            text=_text(bytes(raw)), elapsed=time.monotonic() - start,
            processing_after=processing_after, decode_error=decode_error)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TransportTimeoutError("timed out: the check's time budget ran out")
    return left


def _as_int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _text(raw: bytes) -> str:
    """The readable start of an error page: tags and whitespace runs removed."""
    text = raw.decode("utf-8", "replace")
    text = _SPACE.sub(" ", _TAGS.sub(" ", text)).strip()
    return text[:MAX_TEXT]


@contextlib.contextmanager
def _mapped_errors(url: str) -> Iterator[None]:
    """httpx's exceptions -> TransportError naming the server (the probe names the step)."""
    host = httpx.URL(url).host
    try:
        yield
    except httpx.TimeoutException as err:
        detail = _describe(err)
        raise TransportTimeoutError("timed out" if detail in ("timed out", "no details")
                                    else f"timed out ({detail})") from err
    except httpx.ProxyError as err:
        raise TransportError(f"proxy failed to connect to {host}: {_describe(err)}") from err
    except httpx.ConnectError as err:
        raise TransportError(f"cannot connect to {host}: {_describe(err)}") from err
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as err:
        raise TransportError(f"connection to {host} failed: {_describe(err)}") from err
    except httpx.HTTPError as err:
        raise TransportError(f"HTTP error talking to {host}: {_describe(err)}") from err


def _describe(err: Exception) -> str:
    """One line from an httpx/ssl error, without Python class names."""
    text = str(err).strip() or "no details"
    text = re.sub(r"\[SSL: [A-Z_]+\]\s*(?=\S)", "", text)  # OpenSSL's code, then its words
    text = re.sub(r"\[SSL: ([A-Z_]+)\]", lambda m: m.group(1).replace("_", " ").lower(), text)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    text = re.sub(r"\[Errno -?\d+\]\s*", "", text)
    return _SPACE.sub(" ", text)[:200]
