"""Autodiscover discovery: where to ask, in Outlook's order, and following redirects.

Candidates for a domain ([MS-OXDSCLI] 3.1.5; mapi-http.md 5.1): the root domain, the
``autodiscover.`` host, the DNS SRV record ``_autodiscover._tcp.<domain>`` and the
unauthenticated HTTP GET whose redirect names the real URL. ``--autodiscover-url`` pins
one URL; an Autodiscover v2 URL (``.../autodiscover/autodiscover.json``, Exchange Online)
is asked for the POX URL first (mapi-http.md 5.7). ``redirectAddr`` and ``redirectUrl``
answers (5.5) are followed up to ``MAX_HOPS`` times, with loop detection; a redirect to
plain http or to an unrelated domain is refused, since the POX request carries the
credentials.

A parsed Autodiscover document (settings, redirect or error) ends the search; a candidate
that answers anything else (no connection, HTTP error, not Autodiscover) is noted in
``attempts`` and the next one is asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote, urljoin, urlsplit

from ..auth import AuthReport, offered_schemes, refusal, report_of
from ..auth.basic import is_loopback
from ..deadline import Deadline
from ..errors import TransportError, TransportTimeoutError
from ..transport.client import Auth, HttpReply, Transport, url_problem
from ..values import Value
from .pox import (
    MAX_RESPONSE,
    AutodiscoverError,
    PoxAnswer,
    one_line,
    parse_pox,
    parse_v2,
    pox_headers,
    pox_request,
)
from .record import Attempt

MAX_HOPS = 10  # Outlook's limit is about 10 (mapi-http.md 5.5)
POX_PATH = "/autodiscover/autodiscover.xml"
V2_MARK = "/autodiscover.json"
# Microsoft's own Autodiscover hosts: hybrid mailboxes are sent there from any domain.
MICROSOFT_SUFFIXES = ("outlook.com", "office365.com")
HYBRID_SUFFIX = "onmicrosoft.com"  # redirectAddr target of a mailbox moved to Exchange Online
CANDIDATE_SHARE = 1 / 3  # of the remaining budget, for each candidate but the last
REDIRECT_STATUSES = (301, 302, 303, 307, 308)

SrvLookup = Callable[[str, float], list[tuple[str, int]]]


class Candidate(Value):
    """One place to ask: ``pox`` (POST there), ``srv`` (a DNS name to look up first) or
    ``redirect`` (an unauthenticated GET whose redirect names the POX URL)."""

    kind: str
    target: str


def candidate_urls(domain: str) -> list[Candidate]:
    """Where Outlook looks for Autodiscover, in its order ([MS-OXDSCLI] 3.1.5)."""
    return [Candidate("pox", f"https://{domain}{POX_PATH}"),
            Candidate("pox", f"https://autodiscover.{domain}{POX_PATH}"),
            Candidate("srv", f"_autodiscover._tcp.{domain}"),
            Candidate("redirect", f"http://autodiscover.{domain}{POX_PATH}")]


def dns_srv_lookup(name: str, lifetime: float) -> list[tuple[str, int]]:
    """SRV targets, best first (RFC 2782 priority, then weight); [] when there is none.

    dnspython is imported only here, when the SRV candidate is tried.
    """
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "SRV", lifetime=max(lifetime, 0.1))
    except dns.exception.DNSException:  # NXDOMAIN, no answer, no servers, timeout, bad name
        return []
    records = sorted(answer, key=lambda r: (r.priority, -r.weight))
    return [(str(r.target).rstrip("."), int(r.port)) for r in records
            if str(r.target) not in (".", "")]


def srv_url(host: str, port: int) -> str:
    return f"https://{host}{'' if port == 443 else f':{port}'}{POX_PATH}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def related(host: str, domains: set[str]) -> bool:
    """``host`` is one of ``domains``, below one, or a parent of one (at least two labels)."""
    host = host.lower().rstrip(".")
    for domain in domains:
        short, long = sorted((host, domain), key=len)
        if short == long or (long.endswith("." + short) and short.count(".") >= 1):
            return True
    return False


def endpoint_problem(url: str, answered_by: str, addresses: Iterable[str]) -> str | None:
    """Why the MAPI requests, which carry the credentials, may not go to ``url``, a
    MailStore URL from the answer of ``answered_by`` (None: they may). The rule of
    redirects: https, to a host of the mailbox's domains or Microsoft's; besides, the host
    that answered may name itself on its own scheme (a plain-http --autodiscover-url the
    administrator pinned), and loopback may name loopback (a lab, the emulator)."""
    parts, source = urlsplit(url), urlsplit(answered_by)
    host, asked = (parts.hostname or "").lower(), (source.hostname or "").lower()
    if is_loopback(host) and is_loopback(asked):
        return None
    same = host == asked and parts.scheme.lower() == source.scheme.lower()
    if parts.scheme.lower() != "https" and not same:
        return "not https (the MAPI requests carry the credentials)"
    domains = {domain_of(a) for a in addresses}
    if not (same or related(host, domains | set(MICROSOFT_SUFFIXES))):
        return (f"{host} is unrelated to {', '.join(sorted(domains))} (the MAPI requests "
                "carry the credentials; give --url and --legacy-dn to use it anyway)")
    return None


class Discovery(Value):
    """The settings answer: where it came from, for which address, after which steps."""

    url: str
    address: str
    answer: PoxAnswer
    attempts: tuple[Attempt, ...]


class Discoverer:
    """Asks Autodiscover for ``address`` over ``transport``; ``attempts`` logs each request.

    Raises AutodiscoverError (or TransportTimeoutError when the whole budget ran out).
    """

    def __init__(self, transport: Transport, deadline: Deadline, auth: Auth | None,
                 srv_lookup: SrvLookup | None = None,
                 candidates: Callable[[str], list[Candidate]] | None = None) -> None:
        self._transport = transport
        self._deadline = deadline
        self._auth = auth
        self._srv_lookup = srv_lookup or dns_srv_lookup
        self._candidates = candidates or candidate_urls
        self.attempts: list[Attempt] = []
        self._hops = 0
        self._seen: set[tuple[str, str]] = set()
        self._domains: set[str] = set()
        self._hosts: set[str] = set()

    @property
    def auth_report(self) -> AuthReport | None:
        return report_of(self._auth)

    def discover(self, address: str, pinned: str | None = None) -> Discovery:
        self._domains.add(domain_of(address))
        url: str | None = pinned
        while True:
            self._visit(url or "(candidates)", address)
            if url is None:
                url, answer = self._first_answer(address)
            elif url.lower().split("?")[0].rstrip("/").endswith(V2_MARK) or (
                    f"{V2_MARK}/" in url.lower()):
                url = self._v2(url, address)
                answer = self._pox(url, address, self._deadline)
            else:
                answer = self._pox(url, address, self._deadline)
            if answer.error_code is not None:
                raise AutodiscoverError(f"Autodiscover error {answer.error_code}"
                                        + (f": {answer.error_message}"
                                           if answer.error_message else ""))
            action = (answer.action or "settings").lower()
            if action == "redirectaddr":
                address = self._redirect_addr(answer.redirect, address)
                url = pinned  # ask the pinned URL again, else discover for the new domain
            elif action == "redirecturl":
                url = self._redirect_url(answer.redirect, url)
            elif action == "settings":
                return Discovery(url, address, answer, tuple(self.attempts))
            else:
                raise AutodiscoverError(f"Autodiscover answered Action {answer.action!r}")

    # -- redirects -------------------------------------------------------------------

    def _visit(self, url: str, address: str) -> None:
        key = (url.lower(), address.lower())
        if key in self._seen:
            raise AutodiscoverError(f"Autodiscover redirect loop: {address} at {url} was "
                                    "already asked")
        self._seen.add(key)

    def _hop(self, what: str) -> None:
        self._hops += 1
        if self._hops > MAX_HOPS:
            raise AutodiscoverError(f"more than {MAX_HOPS} Autodiscover redirects "
                                    f"(the last: {what})")

    def _redirect_addr(self, target: str | None, address: str) -> str:
        if not target or "@" not in target:
            raise AutodiscoverError(f"Autodiscover redirectAddr without an address "
                                    f"({one_line(target) if target else target!r})")
        shown = one_line(target)
        self._hop(f"redirectAddr to {shown}")
        domain = domain_of(target)
        if not (related(domain, self._domains) or related(domain, {HYBRID_SUFFIX})):
            raise AutodiscoverError(f"Autodiscover redirectAddr from {address} to {shown} "
                                    f"refused: {one_line(domain)} is unrelated to "
                                    f"{', '.join(sorted(self._domains))}")
        self._domains.add(domain)
        return target

    def _redirect_url(self, target: str | None, source: str) -> str:
        if not target:
            raise AutodiscoverError("Autodiscover redirectUrl without a URL")
        self._hop(f"redirectUrl to {target}")
        return self.checked_redirect(target, source, "redirectUrl")

    def checked_redirect(self, target: str, source: str, what: str) -> str:
        """Only https, and only to the mailbox's domains, hosts already asked or Microsoft's."""
        problem = url_problem(target if "://" in target else "https://x" + target)
        try:
            url = urljoin(source, target)
            parts = urlsplit(url)
        except ValueError:
            problem = problem or "not a URL"
        if problem:
            raise AutodiscoverError(f"Autodiscover {what} to a malformed URL {target[:200]!r} "
                                    f"refused ({problem})")
        if parts.scheme.lower() != "https":
            raise AutodiscoverError(f"Autodiscover {what} to {url} refused: not https "
                                    "(the request carries the credentials)")
        host = (parts.hostname or "").lower()
        trusted = self._domains | set(MICROSOFT_SUFFIXES)
        if not (host in self._hosts or related(host, trusted)):
            raise AutodiscoverError(f"Autodiscover {what} to {url} refused: {host} is "
                                    f"unrelated to {', '.join(sorted(self._domains))}")
        self._hosts.add(host)
        return url

    # -- requests --------------------------------------------------------------------

    def _send(self, method: str, url: str, address: str, deadline: Deadline) -> HttpReply:
        """One request; every URL asked is a candidate, pinned or a checked redirect, so its
        host may redirect to itself."""
        post = method == "POST"
        self._hosts.add((urlsplit(url).hostname or "").lower())
        try:
            reply = self._transport.request(
                method, url, pox_headers(address) if post else [("Accept", "*/*")],
                pox_request(address) if post else b"", deadline, max_bytes=MAX_RESPONSE,
                auth=self._auth if post else None)
        except TransportTimeoutError as err:
            if self._deadline.expired:
                self.attempts.append(Attempt(method, url, str(err)))
                raise
            raise self._failed(method, url, "no answer within its share of the time "
                                            "budget") from err
        except TransportError as err:
            raise self._failed(method, url, str(err)) from err
        if reply.oversize:
            raise self._failed(method, url, f"HTTP {reply.status}: response larger than "
                                            f"{MAX_RESPONSE // 1024} KiB refused")
        return reply

    def _failed(self, method: str, url: str, answer: str) -> AutodiscoverError:
        self.attempts.append(Attempt(method, url, answer))
        return AutodiscoverError(answer)

    def _pox(self, url: str, address: str, deadline: Deadline) -> PoxAnswer:
        """POST the POX request; a parsed Autodiscover document, or AutodiscoverError."""
        reply = self._send("POST", url, address, deadline)
        if reply.status != 200:
            raise self._status_error(reply)
        content_type = (reply.header("Content-Type") or "none").split(";")[0].strip()
        if "xml" not in content_type.lower():
            raise self._failed("POST", url, f"HTTP 200 but not an Autodiscover response "
                                            f"(Content-Type {content_type})")
        try:
            answer = parse_pox(reply.body)
        except AutodiscoverError as err:
            raise self._failed("POST", url, f"HTTP 200: {err}") from None
        self.attempts.append(Attempt("POST", url, f"HTTP 200: {_summary(answer)}",
                                     reply.connection))
        return answer

    def _status_error(self, reply: HttpReply) -> AutodiscoverError:
        if reply.status in (401, 403):
            offered = offered_schemes(v for k, v in reply.headers
                                      if k.lower() == "www-authenticate")
            text = refusal(reply.status, reply.reason, offered, report_of(self._auth),
                           reply.header("x-ms-diagnostics"))
            self.attempts.append(Attempt("POST", reply.url, text))
            return _AuthRefusedError(text)
        location = reply.header("Location")
        where = f", redirected to {location}" if location and reply.status in (
            REDIRECT_STATUSES) else ""
        return self._failed("POST", reply.url, f"HTTP {reply.status} {reply.reason}{where}")

    def _v2(self, url: str, address: str) -> str:
        """Autodiscover v2: the POX URL for ``address`` (anonymous GET, JSON answer)."""
        base = url[: url.lower().index(V2_MARK) + len(V2_MARK)]
        asked = f"{base}/v1.0/{quote(address, safe='@')}?Protocol=AutodiscoverV1"
        while True:  # _hop() ends a redirect chain that is too long
            reply = self._send("GET", asked, address, self._deadline)
            location = reply.header("Location")
            if reply.status in REDIRECT_STATUSES and location:
                self._hop(f"HTTP {reply.status} to {location}")
                self.attempts.append(Attempt("GET", asked, f"HTTP {reply.status} to "
                                                           f"{location}"))
                asked = self.checked_redirect(location, asked, "v2 redirect")
                continue
            try:
                pox = parse_v2(reply.body)
            except AutodiscoverError as err:
                raise self._failed("GET", asked, f"HTTP {reply.status}: {err}") from None
            self.attempts.append(Attempt("GET", asked, f"HTTP {reply.status}: POX URL {pox}"))
            return self.checked_redirect(pox, asked, "v2 answer")

    # -- candidates ------------------------------------------------------------------

    def _first_answer(self, address: str) -> tuple[str, PoxAnswer]:
        """Ask each candidate in turn; the first Autodiscover document wins."""
        domain = domain_of(address)
        failures: list[AutodiscoverError] = []
        candidates = self._candidates(domain)
        for index, candidate in enumerate(candidates):
            last = index == len(candidates) - 1
            try:
                for url, deadline in self._expand(candidate, address, last):
                    try:
                        return url, self._pox(url, address, deadline)
                    except AutodiscoverError as err:
                        failures.append(err)
            except AutodiscoverError as err:
                failures.append(err)
        refused = next((f for f in failures if isinstance(f, _AuthRefusedError)), None)
        detail = f"; {refused}" if refused else ""
        count = f"{len(candidates)} candidate{'' if len(candidates) == 1 else 's'}"
        raise AutodiscoverError(f"no Autodiscover answer for {domain} ({count} tried{detail})")

    def _expand(self, candidate: Candidate, address: str,
                last: bool) -> Iterator[tuple[str, Deadline]]:
        """The POX URLs a candidate stands for, each with its deadline."""
        if candidate.kind == "pox":
            yield candidate.target, self._share(last)
        elif candidate.kind == "srv":
            targets = self._srv_lookup(candidate.target,
                                       self._deadline.remaining() * CANDIDATE_SHARE)
            if not targets:
                self.attempts.append(Attempt("SRV", candidate.target, "no SRV record"))
            for host, port in targets:
                # Outlook asks the user here; loopback keeps the credentials on this host
                if not (related(host, self._domains) or is_loopback(host)):
                    self.attempts.append(Attempt(
                        "SRV", candidate.target, f"{host} port {port} refused: unrelated to "
                        f"{', '.join(sorted(self._domains))} (the request carries the "
                        "credentials; pin it with --autodiscover-url to trust it)"))
                    continue
                self.attempts.append(Attempt("SRV", candidate.target, f"{host} port {port}"))
                yield srv_url(host, port), self._share(last)
        elif candidate.kind == "redirect":
            yield self._http_redirect(candidate.target, address, self._share(last)), \
                self._share(last)

    def _http_redirect(self, url: str, address: str, deadline: Deadline) -> str:
        """The unauthenticated GET: its redirect must lead to https on a related host."""
        reply = self._send("GET", url, address, deadline)
        location = reply.header("Location")
        if reply.status not in REDIRECT_STATUSES or not location:
            raise self._failed("GET", url, f"HTTP {reply.status} {reply.reason}, no redirect")
        self._hop(f"HTTP {reply.status} to {location}")
        try:
            target = self.checked_redirect(location, url, "HTTP redirect")
        except AutodiscoverError as err:
            raise self._failed("GET", url, f"HTTP {reply.status}: {err}") from None
        self.attempts.append(Attempt("GET", url, f"HTTP {reply.status} to {location}"))
        return target

    def _share(self, last: bool) -> Deadline:
        return self._deadline if last else self._deadline.share(CANDIDATE_SHARE)


class _AuthRefusedError(AutodiscoverError):
    """A candidate refused the credentials: the likely reason when nothing answered."""


def _summary(answer: PoxAnswer) -> str:
    action = (answer.action or "settings").lower()
    if answer.error_code is not None:
        return f"Autodiscover error {answer.error_code}"
    if action in ("redirectaddr", "redirecturl"):
        kind = "redirectAddr" if action == "redirectaddr" else "redirectUrl"
        return f"{kind} to {one_line(answer.redirect or '')}"
    return f"settings, {answer.offer.text}"
