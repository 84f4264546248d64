"""--ip, --resolve, -4 and -6: where the plugin connects, while the name still goes into TLS
(SNI and verification) and the Host header. No real DNS: every name here is pinned, and the
lookups of ``resolve()`` are replaced."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import httpcore
import pytest
import trustme

from check_mapi.emulator import Emulator
from check_mapi.transport.network import resolve

from ..conftest import Emulators, Tls
from .test_proxy import BASIC_ONLY, OK, mapi_url, probe

NAME = "mail.contoso.example"


@pytest.fixture(scope="module")
def named_tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A certificate for NAME. tests/conftest.py's ``tls`` fixture keeps only PEM files of
    its CA (not the CA object with its key), so it cannot issue for another name: this is a
    second trustme CA, for this module."""
    ca = trustme.CA()
    cert = ca.issue_cert(NAME)
    folder = tmp_path_factory.mktemp("named-tls")
    paths = Tls(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(paths.ca_pem))
    cert.cert_chain_pems[0].write_to_path(str(paths.cert_pem))
    cert.private_key_pem.write_to_path(str(paths.key_pem))
    return paths


@pytest.fixture
def emulator(start: Emulators, named_tls: Tls) -> Emulator:
    return start(BASIC_ONLY, tls=named_tls)


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any lookup of a name (not an address: socket.create_connection converts those with
    getaddrinfo too) fails the test."""
    asked: list[str] = []
    original = socket.getaddrinfo

    def refuse(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode("ascii") if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name)
        except ValueError:
            asked.append(name)
            raise AssertionError(f"a DNS lookup of {host}") from None
        return original(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield asked
    assert asked == []


def named_url(emulator: Emulator, name: str = NAME) -> str:
    return mapi_url(emulator).replace("127.0.0.1", name)


@pytest.mark.parametrize("pin", [["--resolve", f"{NAME}:127.0.0.1"], ["--ip", "127.0.0.1"],
                                 ["--resolve", f"{NAME.upper()}.:127.0.0.1", "-4"],
                                 ["--ip", "192.0.2.1", "--resolve", f"{NAME}:127.0.0.1"]])
def test_pinned_address_and_the_name_in_tls(pin: list[str], emulator: Emulator,
                                            named_tls: Tls) -> None:
    """The certificate is for NAME only: verification passes only if TLS got the name; the
    host's own --resolve wins over --ip."""
    outcome = probe(named_url(emulator), "--auth", "basic", *pin, "-vv", tls=named_tls)
    assert outcome.code == 0, outcome.output
    assert OK.match(outcome.first_line)
    assert f"127.0.0.1:{emulator.url.rsplit(':', 1)[1]}" in outcome.output  # the -vv line


def test_a_pinned_name_is_still_verified(emulator: Emulator, named_tls: Tls) -> None:
    outcome = probe(named_url(emulator, "other.contoso.example"), "--auth", "basic",
                    "--resolve", "other.contoso.example:127.0.0.1", tls=named_tls)
    assert outcome.code == 2
    assert "other.contoso.example" in outcome.status
    assert "certificate" in outcome.status


def test_the_wrong_family(emulator: Emulator, named_tls: Tls) -> None:
    outcome = probe(named_url(emulator), "--auth", "basic", "--resolve", f"{NAME}:127.0.0.1",
                    "-6", tls=named_tls)
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - probe@contoso.com: connect failed: cannot "
                              f"connect to {NAME}: no IPv6 address for {NAME}")


@pytest.mark.parametrize(("argv", "message"), [
    (["--resolve", "mail.contoso.example"], "--resolve 'mail.contoso.example' is not "
                                            "HOST:ADDRESS"),
    (["--resolve", "mail.contoso.example:mail2"], "--resolve 'mail2' is not an IP address"),
    (["--ip", "10.0.0.300"], "--ip '10.0.0.300' is not an IP address"),
])
def test_bad_pins(argv: list[str], message: str) -> None:
    outcome = probe(f"https://{NAME}/mapi/emsmdb/?MailboxId=x@contoso.com", *argv)
    assert outcome.code == 3
    assert outcome.status == f"MAPI UNKNOWN - {message}"


# -- resolve() itself ---------------------------------------------------------------------------

ANSWERS = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::5", 443, 0, 0)),
           (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.5", 443)),
           (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::5", 443, 0, 0))]


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch, no_dns: list[str]) -> list[str]:
    """getaddrinfo answers ANSWERS (both families) for dual.example, IPv6 only for v6.example."""
    asked: list[str] = []

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        return ANSWERS if host == "dual.example" else ANSWERS[:1]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


def test_family_filters_the_lookup(answers: list[str]) -> None:
    assert resolve("dual.example", 443, 1.0) == ["2001:db8::5", "192.0.2.5"]
    assert resolve("dual.example", 443, 1.0, family=4) == ["192.0.2.5"]
    assert resolve("dual.example", 443, 1.0, family=6) == ["2001:db8::5"]
    with pytest.raises(httpcore.ConnectError, match=r"^no IPv4 address for v6\.example$"):
        resolve("v6.example", 443, 1.0, family=4)
    with pytest.raises(httpcore.ConnectError, match=r"^no IPv6 address for 192\.0\.2\.9$"):
        resolve("192.0.2.9", 443, 1.0, family=6)
    assert resolve("[2001:db8::7]", 443, 1.0, family=6) == ["2001:db8::7"]
    assert answers == ["dual.example"] * 3 + ["v6.example"]  # literals are not looked up


def test_pins_replace_the_lookup(answers: list[str]) -> None:
    pins = (("*", "192.0.2.1"), ("dual.example", "2001:db8::9"))
    assert resolve("Dual.Example.", 443, 1.0, pins) == ["2001:db8::9"]
    assert resolve("other.example", 443, 1.0, pins) == ["192.0.2.1"]
    with pytest.raises(httpcore.ConnectError, match=r"^no IPv4 address for dual\.example$"):
        resolve("dual.example", 443, 1.0, pins, family=4)
    assert answers == []  # every host was pinned
