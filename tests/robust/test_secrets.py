"""Secrets never leak through server text (issue 14). A server that echoes the request's
``Authorization`` header (as sent, URL-encoded, and its credential alone) in the reason
phrase, in headers the output shows (X-DiagInfo, X-MS-Diagnostics, Location,
Retry-After, WWW-Authenticate) and in the body, at each step, for 200/302/401/500 answers,
with Basic and with a bearer token: no form of the secret in any output, at any verbosity.
The plugin runs in-process (``run``) against a relay in front of the emulator."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest

from check_mapi.output.scrub import Scrubber
from check_mapi.plugin.main import run

from ..plugin.conftest import PASSWORD, SMTP, TOKEN
from ..plugin.stall import _Request
from .answers import head
from .hostile import STEPS, Rig, plugin_env

BASIC = base64.b64encode(f"{SMTP}:{PASSWORD}".encode()).decode()
SENTINELS = (PASSWORD, TOKEN, BASIC, quote(PASSWORD, safe=""), quote(TOKEN, safe=""))
STATUSES = ("200 OK", "302 Found", "401 Unauthorized", "500 Server Error")
AUTHS = {"basic": ("--auth", "basic"), "bearer": ("--auth", "bearer")}


def echo(status: str) -> Callable[[_Request], Iterator[bytes]]:
    def answer(request: _Request) -> Iterator[bytes]:
        sent = request.header("Authorization") or "none"
        credential = sent.partition(" ")[2]
        body = (f"<html><body>Denied: {sent} / {quote(sent)} / {credential} / "
                f"Authorization: {sent}</body></html>").encode()
        yield head(request, f"{status.split(maxsplit=1)[0]} Denied {sent}", (
            ("Content-Type", "text/html"), ("Content-Length", str(len(body))),
            ("X-DiagInfo", sent), ("X-MS-Diagnostics", f"4000000;reason=\"{sent}\""),
            ("Location", f"https://evil.example/?a={quote(sent)}&b={credential}"),
            ("Retry-After", sent), ("WWW-Authenticate", f'Basic realm="{sent}"')))
        yield body
    return answer


@pytest.mark.parametrize(("auth", "step"), list(itertools.product(AUTHS, STEPS)))
def test_echoed_authorization_never_reaches_the_output(auth: str, step: str) -> None:
    env = plugin_env({"CHECK_MAPI_TOKEN": TOKEN})
    leaks = []
    for status in STATUSES:
        with Rig(step, echo(status)) as rig:
            for verbosity in ((), ("-v",), ("-vvv",)):
                code, output = run(["-m", SMTP, *AUTHS[auth], "--autodiscover-url",
                                    rig.relay.autodiscover_url, *verbosity], env=env)
                sent = [r.header("Authorization") for r in rig.relay.requests]
                assert any(sent), f"{status}: the relay saw no credentials ({rig.relay.log()})"
                found = [s for s in SENTINELS if s in output]
                if found or code not in (1, 2, 3):
                    leaks.append(f"{status} {' '.join(verbosity)}: exit {code}, {found} in\n"
                                 f"{output}")
                rig.relay.requests.clear()
                rig.relay._accepted = 0  # the next run starts at Autodiscover again
    assert not leaks, "\n".join(leaks)


def test_the_bug_guard_is_scrubbed_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug whose message quotes the credentials (an exception from deep inside)."""
    def boom(*args: object) -> None:
        raise ValueError(f"header value b'Basic {BASIC}\\n' is odd; password {PASSWORD}")

    monkeypatch.setattr("check_mapi.plugin.runner.run_probe", boom)
    for verbosity in ((), ("-vvv",)):
        code, output = run(["-m", SMTP, "--auth", "basic", "--url",
                            "https://127.0.0.1:1/mapi/emsmdb/", "--legacy-dn", "/o=x",
                            *verbosity], env=plugin_env())
        assert code == 3
        assert not [s for s in SENTINELS if s in output], output


@pytest.mark.parametrize(("text", "shown"), [
    ("https://user:s3cret@host.example/x", "https://host.example/x"),
    ("proxy http://a%40b:p%40ss@proxy:3128 refused", "proxy http://proxy:3128 refused"),
    ("--proxy 'http://***@[proxy' is bad", "--proxy 'http://***@[proxy' is bad"),  # masked
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefgh",
     "Authorization: Bearer ***"),
    ("Basic dXNlcjpwYXNzd29yZA== sent", "Basic *** sent"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig x", "token *** x"),
    ("mailbox probe@contoso.com at https://mail.contoso.com/mapi/?MailboxId=a@b",
     "mailbox probe@contoso.com at https://mail.contoso.com/mapi/?MailboxId=a@b"),
    ("server offers Negotiate, NTLM; auth basic", "server offers Negotiate, NTLM; auth basic"),
])
def test_generic_credentials_and_userinfo(text: str, shown: str) -> None:
    assert Scrubber().text(text) == shown


def test_every_form_of_a_secret() -> None:
    secret = "pä ss/wörd\n"
    scrub = Scrubber([secret], [("DOM\\user", secret)])
    basic = base64.b64encode(f"DOM\\user:{secret}".encode()).decode()
    latin = base64.b64encode(f"DOM\\user:{secret.strip()}".encode("latin-1")).decode()
    for form in (secret, secret.strip(), quote(secret, safe=""), quote(secret.strip()),
                 repr(secret)[1:-1], repr(secret.encode())[2:-1], basic, latin,
                 quote(secret.strip(), safe="").replace("%20", "+")):
        assert scrub.text(f"<{form}>") == "<***>", form
    assert Scrubber(["wrong"]).text("wrong password") == "wrong password"  # too short
