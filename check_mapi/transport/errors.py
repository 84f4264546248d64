"""Every httpx/httpcore exception mapped to the error family, in one place.

The messages name the server, never the step (the probe adds that) and never a Python
class name. A request whose deadline has passed is a timeout whatever the socket said:
the watchdog's shutdown surfaces as "server disconnected".
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpcore
import httpx

from ..deadline import Deadline
from ..errors import ConfigError, TransportError, TransportTimeoutError
from .tls import certificate_problem

BUDGET_SPENT = "timed out: the check's time budget ran out"
_SPACE = re.compile(r"\s+")


class ProxyFailure(httpcore.ProxyError):
    """A proxy problem whose message is complete: it names the proxy or the target.

    Raised inside httpcore (``proxy.ProxyBackend``) or by ``proxy.Routes``; httpx turns it
    into ``httpx.ProxyError`` with this as its cause, and ``mapped`` says it as it is.
    """


def host_of(url: str) -> str:
    """The host for a message, also from a URL that does not parse."""
    try:
        return urlsplit(url).hostname or url[:80]
    except ValueError:
        return url[:80]


@contextlib.contextmanager
def mapped(url: str, deadline: Deadline) -> Iterator[None]:
    """httpx's exceptions -> TransportError naming the server."""
    try:
        yield
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as err:
        raise TransportError(f"invalid URL {url[:200]!r}: {describe(err)}") from err
    except httpx.TimeoutException as err:
        if deadline.expired:
            raise TransportTimeoutError(BUDGET_SPENT) from err
        detail = describe(err)
        raise TransportTimeoutError("timed out" if detail in ("timed out", "no details")
                                    else f"timed out ({detail})") from err
    except httpx.HTTPError as err:
        if deadline.expired:
            raise TransportTimeoutError(BUDGET_SPENT) from err
        raise _transport_error(err, host_of(url)) from err


def _transport_error(err: httpx.HTTPError, host: str) -> TransportError:
    if isinstance(err, httpx.ProxyError) and isinstance(err.__cause__, ProxyFailure):
        return TransportError(str(err.__cause__))
    if isinstance(err, httpx.ProxyError):
        return TransportError(f"proxy failed to connect to {host}: {describe(err)}")
    if isinstance(err, httpx.ConnectError):
        refused = certificate_problem(err, host)  # expired, other names, untrusted
        return TransportError(refused or f"cannot connect to {host}: {describe(err)}")
    if isinstance(err, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return TransportError(f"connection to {host} failed: {describe(err)}")
    return TransportError(f"HTTP error talking to {host}: {describe(err)}")


def url_problem(text: str) -> str | None:
    """Why httpx cannot send a request to ``text`` (None: it can); for URLs from servers."""
    try:
        url = httpx.URL(text)
        urlsplit(text).port  # noqa: B018 - httpx lets a port above 65535 through
    except (httpx.InvalidURL, TypeError, ValueError) as err:
        return describe(err)
    if url.scheme not in ("http", "https") or not url.host:
        return "not an http(s) URL"
    return None


def checked_url(text: str, option: str) -> str:
    """A user's URL as httpx will read it, or ConfigError naming the option (UNKNOWN)."""
    problem = url_problem(text)
    if problem == "not an http(s) URL":
        raise ConfigError(f"{option} {text[:200]!r} is not an http(s) URL")
    if problem:
        raise ConfigError(f"{option} {text[:200]!r} is not a valid URL ({problem})")
    return text


def describe(err: Exception) -> str:
    """One line from an httpx/ssl error, without Python class names."""
    text = str(err).strip() or "no details"
    text = re.sub(r"\[SSL: [A-Z_]+\]\s*(?=\S)", "", text)  # OpenSSL's code, then its words
    text = re.sub(r"\[SSL: ([A-Z_]+)\]", lambda m: m.group(1).replace("_", " ").lower(), text)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    text = re.sub(r"\[Errno -?\d+\]\s*", "", text)
    return _SPACE.sub(" ", text)[:200]
