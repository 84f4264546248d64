"""A refused server certificate is CRITICAL with a reason an operator can act on: expired,
for other names, or not trusted (unknown issuer, self-signed), naming the certificate."""

from __future__ import annotations

import re
import ssl

import pytest

from check_mapi.deadline import Deadline
from check_mapi.errors import TransportError
from check_mapi.settings import ConnectionSettings
from check_mapi.transport.client import Transport, ssl_context
from check_mapi.transport.tls import certificate_problem

from ..conftest import Emulators
from .conftest import DAY, Pki, check, direct, now, toml

TRUSTME = r"OU=Testing CA #[\w-]+,O=trustme v[\d.]+"


def test_expired(start: Emulators, pki: Pki) -> None:
    expired = now().replace(microsecond=0) - 3 * DAY
    emulator = start(toml(), tls=pki.issue(expires=expired))
    outcome = direct(emulator, "--ca-file", str(pki.ca_pem))
    assert outcome.code == 2
    assert outcome.status == ("MAPI CRITICAL - probe@contoso.com: connect failed: TLS "
                              f"certificate of 127.0.0.1 expired on {expired:%Y-%m-%d %H:%M} "
                              "UTC")


def test_not_yet_valid(start: Emulators, pki: Pki) -> None:
    begins = now().replace(microsecond=0) + 2 * DAY
    emulator = start(toml(), tls=pki.issue(not_before=begins, expires=begins + 90 * DAY))
    outcome = direct(emulator, "--ca-file", str(pki.ca_pem))
    assert outcome.code == 2
    assert outcome.status.endswith("connect failed: TLS certificate of 127.0.0.1 is not "
                                   f"valid yet (from {begins:%Y-%m-%d %H:%M} UTC)")


def test_other_names(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue("mail.contoso.com", "autodiscover.contoso.com",
                                           "10.1.2.3"))
    outcome = direct(emulator, "--ca-file", str(pki.ca_pem))
    assert outcome.code == 2
    assert outcome.status == (
        "MAPI CRITICAL - probe@contoso.com: connect failed: TLS certificate of 127.0.0.1 is "
        "for other names (SAN: mail.contoso.com, autodiscover.contoso.com, 10.1.2.3)")


def test_other_names_for_a_host_name(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue("127.0.0.1", "mail.contoso.com"))
    url = f"https://localhost:{emulator.url.rsplit(':', 1)[1]}/mapi/emsmdb/?MailboxId=x"
    outcome = check("--url", url, "--legacy-dn", "/o=x", "--ca-file", str(pki.ca_pem))
    assert outcome.status.endswith("connect failed: TLS certificate of localhost is for "
                                   "other names (SAN: 127.0.0.1, mail.contoso.com)")


def test_unknown_issuer(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue())
    outcome = direct(emulator)  # certifi's CAs do not know the test CA
    assert outcome.code == 2
    assert re.fullmatch(
        r"MAPI CRITICAL - probe@contoso\.com: connect failed: TLS certificate of 127\.0\.0\.1 "
        rf"is not trusted \(issuer {TRUSTME} is unknown; --ca-file to trust it\)",
        outcome.status), outcome.status


def test_unknown_root_behind_an_intermediate(start: Emulators, pki: Pki) -> None:
    """The server sends its intermediate too: the CA nobody vouched for is the root."""
    from cryptography import x509

    intermediate = pki.ca.create_child_ca()
    emulator = start(toml(), tls=pki.issue(ca=intermediate))
    outcome = direct(emulator)
    root = x509.load_pem_x509_certificate(pki.ca.cert_pem.bytes()).subject
    middle = x509.load_pem_x509_certificate(intermediate.cert_pem.bytes()).subject
    assert root != middle
    assert outcome.status.endswith(f"is not trusted (issuer {root.rfc4514_string()} is "
                                   "unknown; --ca-file to trust it)")


def test_self_signed(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.self_signed())
    outcome = direct(emulator)
    assert outcome.code == 2
    assert re.fullmatch(
        r"MAPI CRITICAL - probe@contoso\.com: connect failed: TLS certificate of 127\.0\.0\.1 "
        rf"is not trusted \(self-signed {TRUSTME}; --ca-file to trust it\)", outcome.status)


def test_the_long_output_names_the_step(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue(expires=now() - DAY))
    outcome = direct(emulator, "--ca-file", str(pki.ca_pem))
    assert any(line.startswith("connect: FAILED after ") and
               "TLS certificate of 127.0.0.1 expired on " in line for line in outcome.long)
    assert not any(line.startswith("certificate of ") for line in outcome.long)  # no TLS


def test_autodiscover(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue("autodiscover.contoso.com"))
    outcome = check("--autodiscover-url", emulator.autodiscover_url, "--ca-file",
                    str(pki.ca_pem))
    assert outcome.code == 2
    assert outcome.status == (
        "MAPI CRITICAL - probe@contoso.com: autodiscover failed: TLS certificate of 127.0.0.1 "
        "is for other names (SAN: autodiscover.contoso.com)")


def test_insecure_accepts_them(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue("mail.contoso.com", expires=now() - DAY))
    outcome = direct(emulator, "--insecure")
    assert outcome.code == 0, outcome.output


def test_without_the_chain(start: Emulators, pki: Pki) -> None:
    """A context not built by ssl_context() keeps no chain: the reason, without names."""
    emulator = start(toml(), tls=pki.issue("mail.contoso.com", expires=now() - DAY))
    for verify, reason in ((True, "is not trusted (issuer is unknown; --ca-file to trust "
                                  "it)"),
                           (pki.context(), "is for other names")):
        with Transport(ConnectionSettings(), verify) as transport, pytest.raises(
                TransportError) as caught:
            transport.request("GET", f"{emulator.url}/_emulator/stats", [], b"",
                              Deadline.after(5), max_bytes=1000)
        assert str(caught.value) == f"TLS certificate of 127.0.0.1 {reason}"


def test_the_chain_is_kept(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue(expires=now() - DAY))
    verify = ssl_context(ConnectionSettings(ca_file=str(pki.ca_pem)))
    with Transport(ConnectionSettings(), verify) as transport, pytest.raises(
            TransportError, match=r"^TLS certificate of 127\.0\.0\.1 expired on "):
        transport.request("GET", f"{emulator.url}/_emulator/stats", [], b"",
                          Deadline.after(5), max_bytes=1000)


def verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    err.verify_code, err.verify_message = code, message
    return err


@pytest.mark.parametrize(("code", "message", "reason"), [
    (10, "certificate has expired", "expired"),
    (9, "certificate is not yet valid", "is not valid yet"),
    (62, "Hostname mismatch, certificate is not valid for 'x'.", "is for other names"),
    (18, "self-signed certificate", "is not trusted (self-signed; --ca-file to trust it)"),
    (19, "self-signed certificate in certificate chain",
     "is not trusted (its root CA is not a trusted one; --ca-file to trust it)"),
    (20, "unable to get local issuer certificate",
     "is not trusted (issuer is unknown; --ca-file to trust it)"),
    (23, "certificate revoked", "was refused: certificate revoked"),
])
def test_reasons_without_a_chain(code: int, message: str, reason: str) -> None:
    cause = verify_error(code, message)
    wrapper = OSError("wrapped")
    wrapper.__cause__ = cause
    assert certificate_problem(wrapper, "mail.contoso.com") == (
        f"TLS certificate of mail.contoso.com {reason}")


def test_other_errors_are_no_certificate_problem() -> None:
    assert certificate_problem(ssl.SSLError(1, "[SSL] handshake failure"), "x") is None
    looped = OSError("a")
    looped.__context__ = OSError("b")
    looped.__context__.__context__ = looped
    assert certificate_problem(looped, "x") is None
