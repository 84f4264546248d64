"""Autodiscover v2 (JSON, Exchange Online): the POX URL for the mailbox, anonymous GETs,
redirects only to https."""

from __future__ import annotations

from collections.abc import Callable

from check_mapi.autodiscover.record import Attempt
from check_mapi.emulator import Emulator

from ..conftest import Tls
from .conftest import SMTP, Reply, Scripted, config, discover, failure, mailbox_toml

Start = Callable[..., Emulator]
Script = Callable[[Callable[[str, str], Reply]], Scripted]


def test_v2_json(start: Start, tls: Tls) -> None:
    emulator = start(config(mailbox_toml(SMTP)), tls=tls)
    v2 = f"{emulator.url}/autodiscover/autodiscover.json"
    discoverer, found = discover(SMTP, v2, tls=tls)
    assert found.url == emulator.autodiscover_url  # type: ignore[attr-defined]
    asked = f"{v2}/v1.0/probe@contoso.com?Protocol=AutodiscoverV1"
    assert discoverer.attempts[0] == Attempt("GET", asked, "HTTP 200: POX URL "
                                             f"{emulator.autodiscover_url}")
    assert emulator.stats().requests == {"autodiscover_json": 1, "autodiscover": 1}


def test_v2_answer_with_plain_http_is_refused(start: Start) -> None:
    emulator = start(config(mailbox_toml(SMTP)))
    message, _ = failure(SMTP, f"{emulator.url}/autodiscover/autodiscover.json")
    assert message == (f"Autodiscover v2 answer to {emulator.autodiscover_url} refused: not "
                       "https (the request carries the credentials)")


def test_v2_redirect_and_error(scripted: Script, tls: Tls) -> None:
    def answer(method: str, path: str) -> Reply:
        if "RedirectCount" not in path:
            return 302, [("Location", "/autodiscover/autodiscover.json?Email=probe%40contoso.com"
                                      "&Protocol=AutodiscoverV1&RedirectCount=1")], b""
        return 400, [("Content-Type", "application/json")], (
            b'{"ErrorCode":"InternalServerError","ErrorMessage":"Failed"}')

    server = scripted(answer, tls)  # type: ignore[call-arg]
    message, attempts = failure(SMTP, f"{server.url}/autodiscover/autodiscover.json", tls=tls)
    assert message == "HTTP 400: Autodiscover v2 error InternalServerError: Failed"
    redirected = (f"{server.url}/autodiscover/autodiscover.json?Email=probe%40contoso.com"
                  "&Protocol=AutodiscoverV1&RedirectCount=1")
    assert attempts == [
        Attempt("GET", f"{server.url}/autodiscover/autodiscover.json/v1.0/probe@contoso.com"
                       "?Protocol=AutodiscoverV1", "HTTP 302 to /autodiscover/autodiscover.json"
                                                   "?Email=probe%40contoso.com&Protocol="
                                                   "AutodiscoverV1&RedirectCount=1"),
        Attempt("GET", redirected, message)]
    assert [path.split("?")[0] for _, path, _ in server.requests] == [
        "/autodiscover/autodiscover.json/v1.0/probe@contoso.com",
        "/autodiscover/autodiscover.json"]
    assert all("Authorization" not in headers for *_, headers in server.requests)


def test_v2_redirect_to_plain_http_is_refused(scripted: Script, tls: Tls) -> None:
    server = scripted(lambda m, p: (302, [("Location", "http://127.0.0.1:9/x")], b""), tls)  # type: ignore[call-arg]
    message, _ = failure(SMTP, f"{server.url}/autodiscover/autodiscover.json", tls=tls)
    assert message == ("Autodiscover v2 redirect to http://127.0.0.1:9/x refused: not https "
                       "(the request carries the credentials)")
