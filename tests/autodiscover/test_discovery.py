"""Discovery over real loopback sockets: candidate order, SRV, the HTTP redirect step,
redirectAddr/redirectUrl with hop limit and loop detection, refused downgrades and
unrelated domains, Autodiscover errors, oversize answers (v2 JSON: test_v2.py). No DNS
name is resolved: candidates and SRV lookups are injected."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from types import SimpleNamespace

import dns.exception
import dns.name
import dns.resolver
import httpx
import pytest

from check_mapi.autodiscover.discovery import (
    MAX_HOPS,
    Candidate,
    Discoverer,
    candidate_urls,
    dns_srv_lookup,
    related,
    srv_url,
)
from check_mapi.autodiscover.record import Attempt
from check_mapi.emulator import Emulator
from check_mapi.emulator.autodiscover import RESPONSE_NS, error_document
from check_mapi.errors import TransportTimeoutError

from ..conftest import Tls
from .conftest import (
    PASSWORD,
    Reply,
    Scripted,
    closed_port_url,
    config,
    deadline,
    discover,
    failure,
    mailbox_toml,
    transport,
)

SMTP = "probe@contoso.com"
Start = Callable[..., Emulator]
Script = Callable[[Callable[[str, str], Reply]], Scripted]


def test_candidate_urls_in_outlooks_order() -> None:
    assert candidate_urls("contoso.com") == [
        Candidate("pox", "https://contoso.com/autodiscover/autodiscover.xml"),
        Candidate("pox", "https://autodiscover.contoso.com/autodiscover/autodiscover.xml"),
        Candidate("srv", "_autodiscover._tcp.contoso.com"),
        Candidate("redirect", "http://autodiscover.contoso.com/autodiscover/autodiscover.xml"),
    ]


def test_srv_url() -> None:
    assert srv_url("mail.contoso.com", 443) == "https://mail.contoso.com/autodiscover/autodiscover.xml"
    assert srv_url("mail.contoso.com", 8443) == (
        "https://mail.contoso.com:8443/autodiscover/autodiscover.xml")


@pytest.mark.parametrize(("host", "domains", "expected"), [
    ("contoso.com", {"contoso.com"}, True),
    ("autodiscover.contoso.com", {"contoso.com"}, True),
    ("Mail.Contoso.COM.", {"contoso.com"}, True),
    ("contoso.com", {"sub.contoso.com"}, True),
    ("evilcontoso.com", {"contoso.com"}, False),
    ("contoso.com.evil.net", {"contoso.com"}, False),
    ("com", {"contoso.com"}, False),
    ("fabrikam.com", {"contoso.com", "fabrikam.com"}, True),
])
def test_related(host: str, domains: set[str], expected: bool) -> None:
    assert related(host, domains) is expected


@pytest.mark.parametrize("error", [dns.resolver.NXDOMAIN(), dns.resolver.NoAnswer(),
                                   dns.resolver.NoNameservers(), dns.resolver.LifetimeTimeout(
                                       timeout=1.0, errors={}), dns.exception.Timeout(),
                                   dns.name.EmptyLabel()])
def test_dns_srv_lookup_without_a_record(monkeypatch: pytest.MonkeyPatch,
                                         error: Exception) -> None:
    asked: list[tuple[object, ...]] = []

    def resolve(*args: object, **kwargs: object) -> object:
        asked.append((*args, kwargs["lifetime"]))
        raise error

    monkeypatch.setattr(dns.resolver, "resolve", resolve)
    assert dns_srv_lookup("_autodiscover._tcp.contoso.com", 2.5) == []
    assert asked == [("_autodiscover._tcp.contoso.com", "SRV", 2.5)]


def test_dns_srv_lookup_orders_by_priority_then_weight(monkeypatch: pytest.MonkeyPatch) -> None:
    def record(priority: int, weight: int, target: str, port: int) -> SimpleNamespace:
        return SimpleNamespace(priority=priority, weight=weight, target=target, port=port)

    records = [record(10, 5, "b.contoso.com.", 443), record(0, 1, "a.contoso.com.", 8443),
               record(10, 50, "c.contoso.com.", 443), record(20, 0, ".", 0)]
    monkeypatch.setattr(dns.resolver, "resolve", lambda *a, **k: records)
    assert dns_srv_lookup("_autodiscover._tcp.contoso.com", 0.0) == [
        ("a.contoso.com", 8443), ("c.contoso.com", 443), ("b.contoso.com", 443)]


def test_pinned_url(start: Start) -> None:
    emulator = start(config(mailbox_toml(SMTP, display_name="Probe")))
    discoverer, found = discover(pinned=emulator.autodiscover_url)
    mailbox = emulator.config.by_smtp(SMTP)
    assert mailbox is not None
    assert found.url == emulator.autodiscover_url  # type: ignore[attr-defined]
    assert found.address == SMTP  # type: ignore[attr-defined]
    assert found.answer.legacy_dn == mailbox.legacy_dn  # type: ignore[attr-defined]
    assert found.answer.display_name == "Probe"  # type: ignore[attr-defined]
    assert found.answer.mapi_http.mailstore_external == emulator.mapi_url(SMTP)  # type: ignore[attr-defined]
    assert discoverer.attempts == [Attempt("POST", emulator.autodiscover_url, "HTTP 200: settings, "
                                           "MAPI over HTTP (internal and external)")]
    assert emulator.stats().requests == {"autodiscover": 1}


def test_candidates_in_order_first_answer_wins(start: Start, tls: Tls) -> None:
    emulator = start(config(mailbox_toml(SMTP)), tls=tls)
    dead = closed_port_url()

    def no_srv(name: str, lifetime: float) -> list[tuple[str, int]]:
        raise AssertionError("SRV must not be asked after an answer")

    discoverer, found = discover(tls=tls, srv_lookup=no_srv, candidates=lambda domain: [
        Candidate("pox", dead), Candidate("pox", emulator.autodiscover_url),
        Candidate("srv", f"_autodiscover._tcp.{domain}")])
    assert found.url == emulator.autodiscover_url  # type: ignore[attr-defined]
    assert [a.url for a in discoverer.attempts] == [dead, emulator.autodiscover_url]
    assert discoverer.attempts[0].answer.startswith("cannot connect to 127.0.0.1: ")


def test_srv_candidate(start: Start, tls: Tls) -> None:
    emulator = start(config(mailbox_toml(SMTP)), tls=tls)
    port = int(emulator.url.rsplit(":", 1)[1])
    asked: list[str] = []

    def srv(name: str, lifetime: float) -> list[tuple[str, int]]:
        asked.append(name)
        assert 0 < lifetime <= 10
        return [("127.0.0.1", port)]

    discoverer, found = discover(tls=tls, srv_lookup=srv, candidates=lambda domain: [
        Candidate("pox", closed_port_url()), Candidate("srv", f"_autodiscover._tcp.{domain}")])
    assert asked == ["_autodiscover._tcp.contoso.com"]
    assert found.url == f"https://127.0.0.1:{port}/autodiscover/autodiscover.xml"  # type: ignore[attr-defined]
    assert discoverer.attempts[1:] == [
        Attempt("SRV", "_autodiscover._tcp.contoso.com", f"127.0.0.1 port {port}"),
        Attempt("POST", found.url, "HTTP 200: settings, MAPI over HTTP (internal and "  # type: ignore[attr-defined]
                                   "external)")]


def test_no_srv_record_and_nothing_answers() -> None:
    dead = closed_port_url()
    reason, attempts = failure(srv_lookup=lambda name, lifetime: [], candidates=lambda d: [
        Candidate("pox", dead), Candidate("srv", f"_autodiscover._tcp.{d}")])
    assert reason == "no Autodiscover answer for contoso.com (2 candidates tried)"
    assert attempts[1] == Attempt("SRV", "_autodiscover._tcp.contoso.com", "no SRV record")


def test_http_redirect_candidate(start: Start, tls: Tls, scripted: Script) -> None:
    emulator = start(config(mailbox_toml(SMTP)), tls=tls)
    redirector = scripted(lambda method, path: (302, [("Location", emulator.autodiscover_url)],
                                                b""))
    asked = f"{redirector.url}/autodiscover/autodiscover.xml"
    discoverer, found = discover(tls=tls, candidates=lambda d: [Candidate("redirect", asked)])
    assert found.url == emulator.autodiscover_url  # type: ignore[attr-defined]
    assert discoverer.attempts[0] == Attempt("GET", asked,
                                             f"HTTP 302 to {emulator.autodiscover_url}")
    (method, _, headers), = redirector.requests
    assert method == "GET"
    assert "Authorization" not in headers  # the redirect step is unauthenticated


@pytest.mark.parametrize(("status", "location", "reason"), [
    (302, "http://127.0.0.1:9/autodiscover/autodiscover.xml",
     "HTTP 302: Autodiscover HTTP redirect to http://127.0.0.1:9/autodiscover/autodiscover.xml "
     "refused: not https (the request carries the credentials)"),
    (301, "https://autodiscover.fabrikam.com/autodiscover/autodiscover.xml",
     "HTTP 301: Autodiscover HTTP redirect to https://autodiscover.fabrikam.com/autodiscover/"
     "autodiscover.xml refused: autodiscover.fabrikam.com is unrelated to contoso.com"),
    (200, None, "HTTP 200 OK, no redirect"),
])
def test_http_redirect_refusals(scripted: Script, status: int, location: str | None,
                                reason: str) -> None:
    server = scripted(lambda m, p: (status, [("Location", location)] if location else [], b""))
    asked = f"{server.url}/autodiscover/autodiscover.xml"
    message, attempts = failure(candidates=lambda d: [Candidate("redirect", asked)])
    assert message == "no Autodiscover answer for contoso.com (1 candidate tried)"
    assert attempts[-1].answer == reason


REDIRECTS = (mailbox_toml(SMTP) + mailbox_toml("moved@contoso.com", redirect_addr=SMTP)
             + mailbox_toml("hybrid@contoso.com",
                            redirect_addr="probe@contoso.mail.onmicrosoft.com")
             + mailbox_toml("probe@contoso.mail.onmicrosoft.com")
             + mailbox_toml("away@contoso.com", redirect_addr="probe@fabrikam.com")
             + mailbox_toml("ping@contoso.com", redirect_addr="pong@contoso.com")
             + mailbox_toml("pong@contoso.com", redirect_addr="ping@contoso.com")
             + mailbox_toml("plain@contoso.com", redirect_url="http://127.0.0.1:9/autodiscover/"
                                                             "autodiscover.xml")
             + mailbox_toml("far@contoso.com", redirect_url="https://autodiscover.fabrikam.com/"
                                                           "autodiscover/autodiscover.xml")
             + "".join(mailbox_toml(f"m{n}@contoso.com", redirect_addr=f"m{n + 1}@contoso.com")
                       for n in range(MAX_HOPS + 1)) + mailbox_toml(f"m{MAX_HOPS + 1}@contoso.com"))


@pytest.fixture
def redirecting(start: Start) -> Emulator:
    return start(config(REDIRECTS))


@pytest.mark.parametrize(("address", "final"), [
    ("moved@contoso.com", SMTP),
    ("hybrid@contoso.com", "probe@contoso.mail.onmicrosoft.com"),
    ("m1@contoso.com", f"m{MAX_HOPS + 1}@contoso.com"),  # exactly MAX_HOPS redirects
])
def test_redirect_addr(redirecting: Emulator, address: str, final: str) -> None:
    discoverer, found = discover(address, redirecting.autodiscover_url)
    assert found.address == final  # type: ignore[attr-defined]
    assert found.answer.smtp == final  # type: ignore[attr-defined]
    assert discoverer.attempts[0].answer.startswith("HTTP 200: redirectAddr to ")


@pytest.mark.parametrize(("address", "reason"), [
    ("away@contoso.com", "Autodiscover redirectAddr from away@contoso.com to probe@fabrikam.com "
                         "refused: fabrikam.com is unrelated to contoso.com"),
    ("ping@contoso.com", "Autodiscover redirect loop: ping@contoso.com at {url} was already "
                         "asked"),
    ("m0@contoso.com", f"more than {MAX_HOPS} Autodiscover redirects (the last: redirectAddr to "
                       f"m{MAX_HOPS + 1}@contoso.com)"),
    ("plain@contoso.com", "Autodiscover redirectUrl to http://127.0.0.1:9/autodiscover/"
                          "autodiscover.xml refused: not https (the request carries the "
                          "credentials)"),
    ("far@contoso.com", "Autodiscover redirectUrl to https://autodiscover.fabrikam.com/"
                        "autodiscover/autodiscover.xml refused: autodiscover.fabrikam.com is "
                        "unrelated to contoso.com"),
    ("nobody@contoso.com", "Autodiscover error 500: The e-mail address cannot be found."),
])
def test_redirect_refusals(redirecting: Emulator, address: str, reason: str) -> None:
    message, _ = failure(address, redirecting.autodiscover_url)
    assert message == reason.format(url=redirecting.autodiscover_url)


def test_redirect_url_to_another_server(start: Start, tls: Tls) -> None:
    target = start(config(mailbox_toml(SMTP)), tls=tls)
    source = start(config(mailbox_toml(SMTP, redirect_url=target.autodiscover_url)))
    discoverer, found = discover(SMTP, source.autodiscover_url, tls=tls)
    assert found.url == target.autodiscover_url  # type: ignore[attr-defined]
    assert [a.answer for a in discoverer.attempts] == [
        f"HTTP 200: redirectUrl to {target.autodiscover_url}",
        "HTTP 200: settings, MAPI over HTTP (internal and external)"]


def test_redirect_url_to_itself_is_a_loop(start: Start, tls: Tls) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"https://127.0.0.1:{port}/autodiscover/autodiscover.xml"
    start(config(mailbox_toml(SMTP, redirect_url=url)), tls=tls, port=port)
    message, attempts = failure(SMTP, url, tls=tls)
    assert message == f"Autodiscover redirect loop: {SMTP} at {url} was already asked"
    assert len(attempts) == 1


def test_redirect_loop_fault(start: Start) -> None:
    emulator = start(config(mailbox_toml(SMTP) + '[[mailbox.fault]]\nstep = "autodiscover"\n'
                                                 "redirect_loop = true\n"))
    message, _ = failure(SMTP, emulator.autodiscover_url)
    assert message == (f"Autodiscover redirect loop: {SMTP} at {emulator.autodiscover_url} was "
                       "already asked")


@pytest.mark.parametrize(("fault", "reason"), [
    ("http_status = 503", "HTTP 503 Service Unavailable"),
    ("malformed_xml = true", "HTTP 200: malformed Autodiscover XML: no element found at line "
                             "2, column {column}"),
])
def test_emulator_faults(start: Start, fault: str, reason: str) -> None:
    emulator = start(config(mailbox_toml(SMTP) + f'[[mailbox.fault]]\nstep = "autodiscover"\n'
                                                 f"{fault}\n"))
    message, _ = failure(SMTP, emulator.autodiscover_url)
    column = len(f'<Autodiscover xmlns="{RESPONSE_NS}"><Response><User><DisplayName>')
    assert message == reason.format(column=column)


def test_wrong_password(start: Start) -> None:
    emulator = start(config(mailbox_toml("other@contoso.com")))
    message, _ = failure("nobody@contoso.com", emulator.autodiscover_url)
    assert message == "HTTP 401 Unauthorized: credentials refused (server offers Basic)"


XML = [("Content-Type", "text/xml; charset=utf-8")]


def account(inner: str) -> bytes:
    return (f'<Autodiscover xmlns="{RESPONSE_NS}"><Response><Account>{inner}</Account>'
            "</Response></Autodiscover>").encode()
BIG = b"<Autodiscover>" + b" " * (600 * 1024) + b"</Autodiscover>"


@pytest.mark.parametrize(("reply", "reason"), [
    ((200, XML, error_document(600, "Invalid Request", None)),
     "Autodiscover error 600: Invalid Request"),
    ((200, XML, error_document(601, "Provider is not available", None)),
     "Autodiscover error 601: Provider is not available"),
    ((200, XML, BIG), "HTTP 200: response larger than 512 KiB refused"),
    ((200, [*XML, ("Transfer-Encoding", "chunked")], BIG),
     "HTTP 200: response larger than 512 KiB refused"),
    ((200, XML, b'<!DOCTYPE a [<!ENTITY e "x">]><Autodiscover>&e;</Autodiscover>'),
     "HTTP 200: Autodiscover response refused: it declares a DOCTYPE or entities (XML entity "
     "attack?)"),
    ((200, [("Content-Type", "text/html")], b"<html>Sign in</html>"),
     "HTTP 200 but not an Autodiscover response (Content-Type text/html)"),
    ((302, [("Location", "https://login.contoso.com/adfs")], b""),
     "HTTP 302 Found, redirected to https://login.contoso.com/adfs"),
    ((403, [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")], b""),
     "HTTP 403 Forbidden: credentials refused (server offers Negotiate, NTLM)"),
    ((200, XML, account("<Action>bogus</Action>")), "Autodiscover answered Action 'bogus'"),
    ((200, XML, account("<Action>redirectAddr</Action>")),
     "Autodiscover redirectAddr without an address (None)"),
    ((200, XML, account("<Action>redirectAddr</Action><RedirectAddr>x</RedirectAddr>")),
     "Autodiscover redirectAddr without an address ('x')"),
    ((200, XML, account("<Action>redirectUrl</Action>")),
     "Autodiscover redirectUrl without a URL"),
])
def test_bad_answers(scripted: Script, reply: Reply, reason: str) -> None:
    server = scripted(lambda method, path: reply)
    message, _ = failure(SMTP, f"{server.url}/autodiscover/autodiscover.xml")
    assert message == reason
    (method, path, headers), = server.requests
    assert (method, path) == ("POST", "/autodiscover/autodiscover.xml")
    assert (headers["X-MapiHttpCapability"], headers["X-AnchorMailbox"]) == ("1", SMTP)
    assert headers["Authorization"].startswith("Basic ")


def test_slow_candidate_gets_a_share_of_the_budget(start: Start, scripted: Script) -> None:
    emulator = start(config(mailbox_toml(SMTP)))

    def slow(method: str, path: str) -> Reply:
        time.sleep(2.5)
        return 503, [], b""

    server = scripted(slow)
    began = time.monotonic()
    discoverer, found = discover(seconds=3.0, candidates=lambda d: [
        Candidate("pox", f"{server.url}/autodiscover/autodiscover.xml"),
        Candidate("pox", emulator.autodiscover_url)])
    assert found.url == emulator.autodiscover_url  # type: ignore[attr-defined]
    assert discoverer.attempts[0].answer == "no answer within its share of the time budget"
    assert time.monotonic() - began < 2.5


def test_whole_budget_spent_is_a_timeout(start: Start) -> None:
    emulator = start(config(mailbox_toml(SMTP) + '[[mailbox.fault]]\nstep = "autodiscover"\n'
                                                 "latency_ms = 3000\n"))
    with transport() as http, pytest.raises(TransportTimeoutError):
        auth = httpx.BasicAuth(SMTP, PASSWORD)
        Discoverer(http, deadline(0.5), auth).discover(SMTP, emulator.autodiscover_url)
