"""Proxies: which way each request goes, and the CONNECT tunnel with its own proxy logon.

httpcore's own tunnel turns a 407 into an exception and speaks Basic only, but a Windows
proxy wants NTLM, which authenticates the *connection*: its legs must run on the socket
that then carries the tunnel. So the tunnel is built here, in a network backend
(``ProxyBackend``): httpcore asks it for a connection to the origin; it dials the proxy
(through ``DeadlineBackend``, so every operation stays bounded by the request's deadline),
sends ``CONNECT host:port`` with httpcore's HTTP/1.1 connection on that socket, answers
``Proxy-Authenticate`` (NTLM legs through pyspnego, or Basic) until the proxy says 200, and
returns the tunnel. httpcore then runs TLS (with the origin's name) and HTTP in it as on a
direct connection, the origin's own NTLM with channel binding included.

``Routes`` picks the way per request: direct (no proxy, or ``--no-proxy``), through the
tunnel (https; http too when the logon may be NTLM), or forwarded to the proxy (plain
http, Basic or no credentials: httpx's own forwarding, answers scrubbed of the secret
in case the proxy echoes the request). Credentials go only to the proxy; its answers to
CONNECT are never shown. pyspnego is imported only when a proxy asks for NTLM.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from ..settings import ConnectionSettings
from ..values import Value, field
from .bodies import bounded
from .errors import ProxyFailure, describe
from .network import DeadlineBackend

MAX_LEGS = 4  # CONNECT requests on one tunnel: none/Basic, NTLM negotiate, authenticate
MAX_ANSWER = 1 << 20  # bytes of a refusal page read (and dropped) to keep the connection
MIN_SCRUBBED = 6  # a proxy password this long is also removed from forwarded answers


class Identity(Value):
    """Who logs on to the proxy. ``ntlm_user``: DOMAIN\\user or a UPN; None: Basic only."""

    user: str
    password: str = field(repr=False)
    ntlm_user: str | None

    @classmethod
    def of(cls, settings: ConnectionSettings) -> Identity | None:
        if not settings.proxy_user or settings.proxy_secret is None:
            return None
        user = settings.proxy_user
        ntlm = user if "\\" in user or "@" in user else (
            f"{settings.proxy_domain}\\{user}" if settings.proxy_domain else None)
        return cls(user, settings.proxy_secret.value, ntlm)

    def basic(self) -> bytes:
        token = base64.b64encode(f"{self.user}:{self.password}".encode())
        return b"Basic " + token


class ProxyBackend(httpcore.NetworkBackend):
    """Every connection goes to the proxy; ``tunnel``: then CONNECT to the asked origin."""

    def __init__(self, base: DeadlineBackend, proxy_url: str, identity: Identity | None,
                 user_agent: str, *, tunnel: bool) -> None:
        url = httpx.URL(proxy_url)
        self.base, self.identity, self.tunnel = base, identity, tunnel
        self.host, self.port = url.host, url.port or 80
        self.name = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        self._origin = httpcore.Origin(b"http", self.host.encode("ascii"), self.port)
        self._user_agent = user_agent.encode("latin-1", "replace")

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        dial = (timeout, local_address, socket_options)
        if not self.tunnel:  # httpcore forwards through the proxy: (host, port) is the proxy
            return self._dial(*dial)
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        held: list[httpcore.HTTP11Connection] = []  # the connection to the proxy in use
        try:
            return self._handshake(target, dial, held)
        except (httpcore.NetworkError, httpcore.RemoteProtocolError) as err:
            for connection in held:
                connection.close()
            raise ProxyFailure(f"proxy {self.name} dropped the connection during CONNECT to "
                               f"{target}: {describe(err)}") from err
        except BaseException:  # refused, timed out: the socket must not leak
            for connection in held:
                connection.close()
            raise

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:  # pragma: no cover - not used
        raise httpcore.ConnectError("unix sockets are not supported")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore's retries only
        self.base.sleep(seconds)

    # -- the tunnel ----------------------------------------------------------------------

    def _dial(self, timeout: float | None, local_address: str | None,
              socket_options: Iterable[Any] | None) -> httpcore.NetworkStream:
        try:
            return self.base.dial(self.host, self.port, timeout, local_address,
                                  socket_options, pinned=False)
        except httpcore.TimeoutException:
            raise
        except httpcore.ConnectError as err:
            raise ProxyFailure(f"proxy {self.name} unreachable: {describe(err)}") from err

    def _handshake(self, target: str, dial: tuple[Any, ...],
                   held: list[httpcore.HTTP11Connection]) -> httpcore.NetworkStream:
        """CONNECT until 200, answering the proxy's challenges; the tunnel's stream.

        ``held`` has the connection to the proxy in use, for the caller to close on failure.
        """
        identity = self.identity
        connection = self._connection(dial, held)
        # Basic only (no domain known): send it at once, as curl and httpx do.
        authorization = identity.basic() if identity and not identity.ntlm_user else None
        sent, ntlm = ("basic" if authorization else None), None
        for _ in range(MAX_LEGS):
            response = connection.handle_request(self._request(target, authorization))
            if 200 <= response.status < 300:
                stream: httpcore.NetworkStream = response.extensions["network_stream"]
                return stream
            challenges = [v.decode("latin-1") for k, v in response.headers
                          if k.lower() == b"proxy-authenticate"]
            _drain(response)
            answer = self._refusal(response, target)
            if response.status != 407:
                raise ProxyFailure(answer)
            offers = list(dict.fromkeys(c.split(" ", 1)[0].strip() for c in challenges))
            if identity is None:
                raise ProxyFailure(f"proxy {self.name} requires a logon "
                                   f"({_offers(answer, offers)}): give --proxy-user")
            if sent is None and "ntlm" in (o.lower() for o in offers) and identity.ntlm_user:
                ntlm = _Ntlm(identity.ntlm_user, identity.password, self.host, self.name)
                authorization, sent = ntlm.step(), "negotiate"
            elif sent is None and "basic" in (o.lower() for o in offers):
                authorization, sent = identity.basic(), "basic"
            elif sent == "negotiate" and ntlm is not None and _challenge(challenges):
                if connection.is_closed():  # the answer must go on the challenged socket
                    raise ProxyFailure(f"proxy {self.name} closed the connection during the "
                                       "NTLM handshake")
                authorization, sent = ntlm.step(_challenge(challenges)), "authenticate"
            else:
                hint = _hint(offers) if not identity.ntlm_user else ""
                refused = "refused the credentials" if sent else "offers no logon check_mapi speaks"
                raise ProxyFailure(f"proxy {refused} ({_offers(answer, offers)}){hint}")
            if connection.is_closed():  # allowed before the NTLM challenge: a new socket
                connection = self._connection(dial, held)
        raise ProxyFailure(f"proxy {self.name} kept asking for a logon")

    def _connection(self, dial: tuple[Any, ...],
                    held: list[httpcore.HTTP11Connection]) -> httpcore.HTTP11Connection:
        """HTTP/1.1 on a new socket to the proxy (httpcore's, as its own tunnel does)."""
        connection = httpcore.HTTP11Connection(self._origin, self._dial(*dial))
        held[:] = [connection]
        return connection

    def _request(self, target: str, authorization: bytes | None) -> httpcore.Request:
        headers = [(b"Host", target.encode("ascii")), (b"User-Agent", self._user_agent),
                   (b"Proxy-Connection", b"Keep-Alive")]
        if authorization is not None:
            headers.append((b"Proxy-Authorization", authorization))
        url = httpcore.URL(scheme=b"http", host=self.host.encode("ascii"), port=self.port,
                           target=target.encode("ascii"))
        return httpcore.Request(b"CONNECT", url, headers=headers)

    def _refusal(self, response: httpcore.Response, target: str) -> str:
        """``HTTP 403 Forbidden`` and what the proxy adds, as a message for non-407s."""
        reason = response.extensions.get("reason_phrase", b"").decode("latin-1")
        status = _printable(f"HTTP {response.status} {reason}".strip())
        if response.status == 407:
            return status
        if response.status < 500:
            return f"proxy refused CONNECT to {target} ({status})"
        squid = next((v.decode("latin-1") for k, v in response.headers  # e.g. why it failed
                      if k.lower() == b"x-squid-error"), None)
        detail = f"{status}, {_printable(squid)}" if squid else status
        return f"proxy failed to connect to {target} ({detail})"


def _offers(status: str, offers: list[str]) -> str:
    named = ", ".join(_printable(o) for o in offers if o)
    return f"{status}, offers {named}" if named else f"{status}, offers nothing"


def _hint(offers: list[str]) -> str:
    """What to change when only NTLM would do and the logon name has no domain."""
    schemes = {o.lower() for o in offers}
    return ("; NTLM needs DOMAIN\\user or --proxy-domain"
            if "ntlm" in schemes and "basic" not in schemes else "")


def _challenge(challenges: list[str]) -> bytes | None:
    """The NTLM CHALLENGE token of a 407, if there is one."""
    for value in challenges:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "ntlm" and token.strip():
            try:
                return base64.b64decode(token.strip(), validate=True)
            except ValueError:
                return None
    return None


class _Ntlm:
    """A pyspnego NTLM initiator, imported only now: a Basic run never loads it."""

    def __init__(self, user: str, password: str, host: str, proxy: str) -> None:
        import spnego

        self._proxy = proxy
        self._context = spnego.client(user, password, hostname=host, service="HTTP",
                                      protocol="ntlm")

    def step(self, token: bytes | None = None) -> bytes:
        from spnego.exceptions import SpnegoError

        try:
            out: bytes | None = self._context.step(token)
        except (SpnegoError, ValueError) as err:
            raise ProxyFailure(f"proxy {self._proxy}: NTLM handshake failed "
                               f"({_printable(str(err))})") from err
        return b"NTLM " + base64.b64encode(out or b"")


def _drain(response: httpcore.Response) -> None:
    """Read a refusal to its end (and drop it), so that its connection can carry the next
    leg; close it in any case."""
    try:
        size = 0
        for chunk in response.iter_stream():
            size += len(chunk)
            if size > MAX_ANSWER:
                break
    finally:
        response.close()


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)[:120].strip()


# -- which way a request goes ---------------------------------------------------------------


def http_transport(verify: Any, limits: httpx.Limits, backend: httpcore.NetworkBackend,
                   proxy: httpx.Proxy | None = None) -> httpx.HTTPTransport:
    """httpx's transport with its pool's network backend replaced by ``backend``."""
    transport = httpx.HTTPTransport(verify=verify, proxy=proxy, trust_env=False, limits=limits)
    # httpx has no public way to choose httpcore's network backend; httpcore's pools
    # take it as ``network_backend`` and keep it here (ConnectionPool and HTTPProxy).
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpx/httpcore changed: cannot bound requests by the deadline")
    pool._network_backend = backend
    return transport


class Routes(httpx.BaseTransport):
    """Direct, through the tunnel, or forwarded: one httpx transport (and pool) per way."""

    def __init__(self, settings: ConnectionSettings, verify: Any, limits: httpx.Limits,
                 base: DeadlineBackend) -> None:
        self._settings = settings
        self._direct = http_transport(verify, limits, base)
        self._tunnel: httpx.HTTPTransport | None = None
        self._forward: httpx.HTTPTransport | None = None
        self._secrets: tuple[bytes, ...] = ()
        self._name = ""
        if not settings.proxy:
            return
        identity = Identity.of(settings)
        tunnel = ProxyBackend(base, settings.proxy, identity, settings.user_agent, tunnel=True)
        self._name = tunnel.name
        self._tunnel = http_transport(verify, limits, tunnel)
        if identity is None or identity.ntlm_user is None:  # NTLM: http through the tunnel
            auth = (identity.user, identity.password) if identity else None
            self._forward = http_transport(
                verify, limits,
                ProxyBackend(base, settings.proxy, identity, settings.user_agent, tunnel=False),
                proxy=httpx.Proxy(settings.proxy, auth=auth))
            if identity is not None:  # the password itself unless short: it would maim
                self._secrets = (identity.basic()[6:],  # answers that happen to contain it
                                 *([identity.password.encode()]
                                   if len(identity.password) >= MIN_SCRUBBED else []))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """The answer, its body decoded and capped here (``bodies``) whichever the way."""
        return bounded(self._routed(request), request.url.host)

    def _routed(self, request: httpx.Request) -> httpx.Response:
        if not self._settings.proxied(request.url.host):
            return self._direct.handle_request(request)
        if request.url.scheme == "http" and self._forward is not None:
            return self._forwarded(self._forward, request)
        assert self._tunnel is not None  # proxied() is True only with a proxy
        return self._tunnel.handle_request(request)

    def close(self) -> None:
        for transport in (self._direct, self._tunnel, self._forward):
            if transport is not None:
                transport.close()

    def _forwarded(self, forward: httpx.HTTPTransport,
                   request: httpx.Request) -> httpx.Response:
        response = forward.handle_request(request)
        if response.status_code == 407:
            offers = list(dict.fromkeys(v.split(" ", 1)[0].strip()
                                        for v in response.headers.get_list("proxy-authenticate")))
            response.close()
            status = _printable(f"HTTP 407 {response.reason_phrase}")
            hint = _hint(offers)
            message = (f"proxy refused the credentials ({_offers(status, offers)}){hint}"
                       if self._secrets else
                       f"proxy {self._name} requires a logon ({_offers(status, offers)}): "
                       "give --proxy-user")
            raise httpx.ProxyError(message) from ProxyFailure(message)
        if not self._secrets:
            return response
        headers = [(k, _scrub(v, self._secrets)) for k, v in response.headers.raw]
        return httpx.Response(response.status_code, headers=headers,
                              stream=_Scrubbed(response.stream, self._secrets),
                              extensions=response.extensions)


def _scrub(data: bytes, secrets: tuple[bytes, ...]) -> bytes:
    for secret in secrets:
        data = data.replace(secret, b"***")
    return data


class _Scrubbed(httpx.SyncByteStream):
    """A forwarded answer without the proxy secret, should the proxy echo the request:
    the last bytes are held back until the next chunk shows no secret straddles them."""

    def __init__(self, inner: Any, secrets: tuple[bytes, ...]) -> None:
        self._inner, self._secrets = inner, secrets
        self._keep = max(len(s) for s in secrets) - 1

    def __iter__(self) -> Iterator[bytes]:
        pending = b""
        for chunk in self._inner:
            pending = _scrub(pending + chunk, self._secrets)
            if len(pending) > self._keep:
                cut = len(pending) - self._keep
                yield pending[:cut]
                pending = pending[cut:]
        if pending:
            yield pending

    def close(self) -> None:
        self._inner.close()
