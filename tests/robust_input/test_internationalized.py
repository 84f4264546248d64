"""Internationalized mailbox addresses (RFC 6531) work: the address goes in the POX body as
UTF-8 XML; the header hints carry its domain in IDNA form, and are left out when the local
part is not ASCII (no header can carry it)."""

from __future__ import annotations

from collections.abc import Callable

from ..conftest import Emulators
from .conftest import GUID, Server, cli, emulator_config, mailbox, response
from .test_server_values import pox, settings

Relay = Callable[..., Server]
Raw = Callable[..., Server]
UNICODE = "prüfer.jürgen@contoso.com"


def test_a_non_ascii_mailbox_logs_on(start: Emulators, relay: Relay) -> None:
    emulator = start(emulator_config(mailbox(smtp=UNICODE)))
    server = relay(emulator.url, lambda r, a: None)
    outcome = cli("-m", UNICODE, "--autodiscover-url",
                  f"{server.url}/autodiscover/autodiscover.xml", "--auth", "basic")
    assert (outcome.code, outcome.status) == (
        0, f"MAPI OK - {UNICODE} logged on in {outcome.status.split(' in ')[1]}")
    assert outcome.status.endswith("Inbox 2 items")
    [request] = server.requests  # the POX request (the MailStore URL is the emulator's)
    assert UNICODE.encode() in request.body
    assert "x-anchormailbox" not in request.headers and request.authorized


def test_an_idn_domain_is_sent_in_idna_form(raw: Raw) -> None:
    answer = pox(settings(f"https://contoso.com/mapi/emsmdb/?MailboxId={GUID}@contoso.com"))
    server = raw(lambda r: response(404, reason="Not Found") if r.method == "POST" and
                 b"Autodiscover" not in r.body else response(
                     200, [("Content-Type", "text/xml")], answer))
    outcome = cli("-m", "probe@müller.de", "--autodiscover-url",
                  f"{server.url}/autodiscover/autodiscover.xml", "--auth", "basic", "-t", "5")
    assert "internal error" not in outcome.output
    assert server.requests[0].headers["x-anchormailbox"] == "probe@xn--mller-kva.de"
    assert "probe@müller.de".encode() in server.requests[0].body


def test_a_non_ascii_mailbox_with_a_pinned_url(start: Emulators, relay: Relay) -> None:
    emulator = start(emulator_config(mailbox(smtp=UNICODE)))
    server = relay(emulator.url, lambda r, a: None)
    outcome = cli("-m", UNICODE, "--url", f"{server.url}/mapi/emsmdb/?MailboxId={GUID}"
                  "@contoso.com", "--legacy-dn", "/o=Contoso/ou=Exchange Administrative "
                  "Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=probe", "--auth", "basic")
    assert outcome.code == 0, outcome.output
    assert len(server.requests) == 4  # Connect, two Executes, Disconnect
    assert all("x-user-identity" not in r.headers and r.authorized for r in server.requests)
