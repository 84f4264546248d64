"""URLs that httpx cannot use: from the user UNKNOWN naming the option, from a server
CRITICAL naming the step that brought them (never an "internal error")."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import SMTP, cli

ANSWER = ('<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
          'responseschema/2006"><Response><User><LegacyDN>/o=Contoso/cn=probe</LegacyDN>'
          "</User><Account>{body}</Account></Response></Autodiscover>")
SETTINGS = ("<Action>settings</Action>"
            '<Protocol Type="mapiHttp" Version="1"><MailStore><InternalUrl>{url}'
            "</InternalUrl></MailStore></Protocol>")
REDIRECT = "<Action>redirectUrl</Action><RedirectUrl>{url}</RedirectUrl>"


@pytest.mark.parametrize(("url", "problem"), [
    ("http://[::1", "Invalid port: ':1'"),
    ("https://mail.contoso.com:99999/mapi/emsmdb/", "Port out of range 0-65535"),
    ("ftp://mail.contoso.com/mapi/emsmdb/", "not an http(s) URL"),
])
def test_malformed_mailstore_url_is_critical_at_autodiscover(
        scripted: Callable[..., object], url: str, problem: str) -> None:
    body = ANSWER.format(body=SETTINGS.format(url=url)).encode()
    server = scripted(lambda m, p: (200, [("Content-Type", "text/xml")], body))
    pinned = f"{server.url}/autodiscover/autodiscover.xml"  # type: ignore[attr-defined]
    outcome = cli("-m", SMTP, "--autodiscover-url", pinned, "--vantage", "internal")
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: autodiscover failed: Autodiscover's "
                              f"InternalUrl {url!r} is malformed ({problem})")
    assert outcome.perfdata["availability"] == "0;;;0;1"


@pytest.mark.parametrize(("url", "problem"), [
    ("https://[::1/autodiscover/autodiscover.xml", "Invalid port: ':1'"),
    ("https://contoso.com:70000/autodiscover/autodiscover.xml", "Port out of range 0-65535"),
])
def test_malformed_redirect_url_is_critical_at_autodiscover(
        scripted: Callable[..., object], url: str, problem: str) -> None:
    body = ANSWER.format(body=REDIRECT.format(url=url)).encode()
    server = scripted(lambda m, p: (200, [("Content-Type", "text/xml")], body))
    pinned = f"{server.url}/autodiscover/autodiscover.xml"  # type: ignore[attr-defined]
    outcome = cli("-m", SMTP, "--autodiscover-url", pinned)
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: autodiscover failed: Autodiscover "
                              f"redirectUrl to a malformed URL {url!r} refused ({problem})")


@pytest.mark.parametrize(("option", "url", "message"), [
    ("--url", "http://[::1", "--url 'http://[::1' is not a valid URL (Invalid IPv6 URL)"),
    ("--autodiscover-url", "https://x:0x1/autodiscover/autodiscover.xml",
     "--autodiscover-url 'https://x:0x1/autodiscover/autodiscover.xml' is not a valid URL"),
    ("--proxy", "http://[proxy", "--proxy 'http://[proxy' is not a valid URL (Invalid IPv6 URL)"),
])
def test_malformed_url_from_the_user_is_unknown(option: str, url: str, message: str) -> None:
    argv = ["-m", SMTP, option, url]
    if option == "--url":
        argv += ["--legacy-dn", "/o=Contoso/cn=probe"]
    outcome = cli(*argv)
    assert outcome.code == 3
    assert outcome.status.startswith(f"MAPI UNKNOWN - {message}")
    assert "internal error" not in outcome.output
    assert len(outcome.output.splitlines()) == 1
