"""Credentials go only where they should: never Basic over plain http to a host that is not
loopback without consent, on every path (MAPI, Autodiscover, ``--auth auto``); and a MailStore
URL or an SRV target from a server is held to the rule of redirects (https, a related host).
Each test's server records whether an ``Authorization`` header arrived."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from check_mapi.autodiscover.discovery import Candidate, Discoverer
from check_mapi.autodiscover.pox import AutodiscoverError
from check_mapi.deadline import Deadline
from check_mapi.settings import ConnectionSettings
from check_mapi.transport.client import Transport

from ..conftest import Emulators
from .conftest import (
    GUID,
    LEGACY_DN,
    MAPI_PATH,
    PASSWORD,
    SMTP,
    Server,
    cli,
    emulator_config,
    response,
)
from .test_server_values import pox, settings

Raw = Callable[..., Server]
Relay = Callable[..., Server]
NAME = "mail.contoso.com"  # resolved to 127.0.0.1 by --resolve: not loopback by its name
REFUSAL = (f"refusing to send Basic credentials over plain http to {NAME}: anyone on the "
           "network could read them (use https, or consent with --allow-basic-over-http)")
XML = [("Content-Type", "text/xml")]


def named(server: Server) -> str:
    """The server's URL under the name NAME (which --resolve maps back to 127.0.0.1)."""
    return server.url.replace("127.0.0.1", NAME)


def test_basic_over_plain_http_to_a_named_host_is_refused(start: Emulators,
                                                          relay: Relay) -> None:
    server = relay(start(emulator_config()).url, lambda r, a: None)
    outcome = cli("-m", SMTP, "--url", named(server) + MAPI_PATH, "--legacy-dn", LEGACY_DN,
                  "--auth", "basic", "--resolve", f"{NAME}:127.0.0.1")
    assert outcome.code == 3
    assert outcome.status == f"MAPI UNKNOWN - {SMTP}: connect failed: {REFUSAL}"
    assert server.requests == []


def test_auto_does_not_fall_back_to_basic_over_plain_http(raw: Raw) -> None:
    server = raw(lambda r: response(401, [("WWW-Authenticate", 'Basic realm="x"')],
                                    reason="Unauthorized"))
    outcome = cli("-m", SMTP, "--url", named(server) + MAPI_PATH, "--legacy-dn", LEGACY_DN,
                  "--auth", "auto", "--resolve", f"{NAME}:127.0.0.1")
    assert outcome.code == 3
    assert outcome.status == f"MAPI UNKNOWN - {SMTP}: connect failed: {REFUSAL}"
    assert [r.authorized for r in server.requests] == [False]  # the anonymous leg only


def test_autodiscover_gets_no_basic_over_plain_http(raw: Raw) -> None:
    server = raw(lambda r: response(200, XML, pox(settings("https://contoso.com/mapi/"))))
    outcome = cli("-m", SMTP, "--autodiscover-url",
                  named(server) + "/autodiscover/autodiscover.xml", "--auth", "basic",
                  "--resolve", f"{NAME}:127.0.0.1")
    assert outcome.code == 3
    assert outcome.status == f"MAPI UNKNOWN - {SMTP}: autodiscover failed: {REFUSAL}"
    assert server.requests == []


def test_consent_sends_basic_over_plain_http(start: Emulators, relay: Relay) -> None:
    server = relay(start(emulator_config()).url, lambda r, a: None)
    outcome = cli("-m", SMTP, "--url", named(server) + MAPI_PATH, "--legacy-dn", LEGACY_DN,
                  "--auth", "basic", "--resolve", f"{NAME}:127.0.0.1",
                  "--allow-basic-over-http")
    assert outcome.code == 0, outcome.output
    assert server.requests and all(r.authorized for r in server.requests)


# -- what Autodiscover names ------------------------------------------------------------------

def mailstore_run(raw: Raw, mailstore: str, *extra: str) -> tuple[str, int]:
    """Autodiscover (pinned on loopback) names ``mailstore``; the status line and exit code."""
    answer = pox(settings(mailstore), user=f"<LegacyDN>{LEGACY_DN}</LegacyDN>")
    autodiscover = raw(lambda r: response(200, XML, answer))
    outcome = cli("-m", SMTP, "--autodiscover-url",
                  f"{autodiscover.url}/autodiscover/autodiscover.xml", "--auth", "basic",
                  "-t", "5", *extra)
    assert "internal error" not in outcome.output
    return outcome.status, outcome.code


@pytest.mark.parametrize(("host", "reason"), [
    (NAME, "not https (the MAPI requests carry the credentials)"),
    ("mail.fabrikam.com", "not https (the MAPI requests carry the credentials)"),
])
def test_a_plain_http_mailstore_elsewhere_gets_no_credentials(raw: Raw, host: str,
                                                               reason: str) -> None:
    target = raw(lambda r: response(500))
    url = f"{target.url.replace('127.0.0.1', host)}{MAPI_PATH}"
    status, code = mailstore_run(raw, url, "--resolve", f"{host}:127.0.0.1",
                                 "--allow-basic-over-http")
    assert (status, code) == (f"MAPI CRITICAL - {SMTP}: autodiscover failed: Autodiscover's "
                              f"ExternalUrl {url} refused: {reason}", 2)
    assert target.requests == []


def test_an_https_mailstore_at_an_unrelated_host_gets_no_credentials(raw: Raw) -> None:
    target = raw(lambda r: response(500), https=True)
    url = f"{target.url.replace('127.0.0.1', 'mail.fabrikam.com')}{MAPI_PATH}"
    status, code = mailstore_run(raw, url, "--resolve", "mail.fabrikam.com:127.0.0.1",
                                 "--insecure")
    assert (status, code) == (
        f"MAPI CRITICAL - {SMTP}: autodiscover failed: Autodiscover's ExternalUrl {url} "
        "refused: mail.fabrikam.com is unrelated to contoso.com (the MAPI requests carry the "
        "credentials; give --url and --legacy-dn to use it anyway)", 2)
    assert target.requests == []


def test_an_https_mailstore_at_a_related_host_gets_the_logon(raw: Raw) -> None:
    """The control: the same answer naming a host of the mailbox's domain is followed."""
    target = raw(lambda r: response(500, reason="Internal Server Error"), https=True)
    url = f"{target.url.replace('127.0.0.1', NAME)}{MAPI_PATH}"
    status, code = mailstore_run(raw, url, "--resolve", f"{NAME}:127.0.0.1", "--insecure")
    assert (status, code) == (f"MAPI CRITICAL - {SMTP}: connect failed: HTTP 500 Internal "
                              "Server Error", 2)
    assert [r.authorized for r in target.requests] == [True]


def srv_discovery(raw: Raw, target_host: str) -> tuple[Server, list[str]]:
    """Discovery through the SRV candidate only, the SRV record naming ``target_host``."""
    answer = pox(settings(f"https://{NAME}{MAPI_PATH}"), user=f"<LegacyDN>{LEGACY_DN}"
                 "</LegacyDN>")
    server = raw(lambda r: response(200, XML, answer), https=True)
    port = int(server.url.rpartition(":")[2])
    connection = ConnectionSettings(resolve=((target_host, "127.0.0.1"),))
    with Transport(connection, False) as transport:
        import httpx

        discoverer = Discoverer(
            transport, Deadline.after(5), httpx.BasicAuth(SMTP, PASSWORD),
            srv_lookup=lambda name, lifetime: [(target_host, port)],
            candidates=lambda domain: [Candidate("srv", f"_autodiscover._tcp.{domain}")])
        with contextlib.suppress(AutodiscoverError):
            discoverer.discover(SMTP)
    return server, [attempt.answer for attempt in discoverer.attempts]


def test_an_unrelated_srv_target_gets_no_credentials(raw: Raw) -> None:
    server, answers = srv_discovery(raw, "autodiscover.hoster.example")
    assert server.requests == []
    assert answers[0].startswith("autodiscover.hoster.example port ")
    assert answers[0].endswith(" refused: unrelated to contoso.com (the request carries the "
                               "credentials; pin it with --autodiscover-url to trust it)")


def test_a_related_srv_target_is_asked(raw: Raw) -> None:
    server, answers = srv_discovery(raw, "autodiscover.contoso.com")
    assert [r.authorized for r in server.requests] == [True]
    assert GUID in answers[-1] or "settings" in answers[-1]
