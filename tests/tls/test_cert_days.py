"""``cert_days``: days until the first server certificate met expires (the MAPI endpoint's
and Autodiscover's), with ranges like ``--cert-warning 30:``; the certificates in the long
output; ``cryptography`` loaded only when a certificate must be read."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from ..conftest import Emulators
from ..plugin_output import Outcome
from ..test_layering import loaded
from .conftest import DAY, PASSWORD, Pki, check, direct, mapi_url, now, toml

HALF = 12.5 * DAY


def expiring(days: float) -> datetime:
    """A moment ``days`` from now, plus a minute so that the rounded value is ``days``."""
    return now() + days * DAY + DAY / 1440


def test_verified(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue(expires=expiring(12.5)))
    outcome = direct(emulator, "--ca-file", str(pki.ca_pem))
    assert outcome.code == 0, outcome.output
    assert outcome.perfdata["cert_days"] == "12.5"
    assert outcome.long == []


def test_insecure_reads_the_certificate(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue("mail.contoso.com", expires=expiring(3.25)))
    outcome = direct(emulator, "--insecure")
    assert outcome.perfdata["cert_days"] == "3.25"


def test_expired_under_insecure_is_negative(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue(expires=expiring(-2)))
    outcome = direct(emulator, "--insecure", "--cert-critical", "7:")
    assert outcome.code == 2
    assert outcome.status.endswith("Inbox 1 item; cert_days -2 outside range 7:")


def test_plain_http_has_none(start: Emulators) -> None:
    """The only URL is a plain-http --url: this mode never has a certificate, no label."""
    emulator = start(toml())
    outcome = direct(emulator, "--cert-warning", "30:")
    assert outcome.code == 0
    assert "cert_days" not in outcome.perfdata


@pytest.mark.parametrize(("option", "code", "state"), [
    ("--cert-warning", 1, "WARNING"), ("--cert-critical", 2, "CRITICAL")])
def test_thresholds(start: Emulators, pki: Pki, option: str, code: int, state: str) -> None:
    emulator = start(toml(), tls=pki.issue(expires=expiring(12.5)))
    outcome = direct(emulator, "--ca-file", str(pki.ca_pem), option, "30:")
    assert outcome.code == code
    assert re.fullmatch(rf"MAPI {state} - probe@contoso\.com logged on in \d+\.\d\d s, Inbox 1 "
                        r"item; cert_days 12\.5 outside range 30:", outcome.status)
    assert outcome.perfdata["cert_days"] == ("12.5;30:" if code == 1 else "12.5;;30:")
    assert direct(emulator, "--ca-file", str(pki.ca_pem), option, "10:").code == 0


def two_servers(start: Emulators, pki: Pki, autodiscover_days: float, mapi_days: float
                ) -> tuple[str, str]:
    """Autodiscover on one emulator, sending the probe to the MAPI endpoint of another."""
    mapi = start(toml(), tls=pki.issue(expires=expiring(mapi_days)))
    urls = f'internal_url = "{mapi.url}"\nexternal_url = "{mapi.url}"'
    autodiscover = start(toml(urls), tls=pki.issue(expires=expiring(autodiscover_days)))
    return autodiscover.autodiscover_url, mapi_url(mapi)


@pytest.mark.parametrize(("autodiscover_days", "mapi_days"), [(10, 20), (20, 10)])
def test_the_first_to_expire(start: Emulators, pki: Pki, autodiscover_days: float,
                             mapi_days: float) -> None:
    url, _ = two_servers(start, pki, autodiscover_days, mapi_days)
    outcome = check("--autodiscover-url", url, "--ca-file", str(pki.ca_pem), "-v")
    assert outcome.code == 0, outcome.output
    assert outcome.perfdata["cert_days"] == "10"
    lines = [line for line in outcome.long if line.startswith("certificate of ")]
    assert [line.split(":")[0] for line in lines] == [
        "certificate of 127.0.0.1 (MAPI endpoint)", "certificate of 127.0.0.1 (Autodiscover)"]
    assert f"({mapi_days:.1f} days left)" in lines[0]
    assert f"({autodiscover_days:.1f} days left)" in lines[1]


def test_autodiscover_over_tls_and_mapi_over_http(start: Emulators, pki: Pki) -> None:
    mapi = start(toml())
    urls = f'internal_url = "{mapi.url}"\nexternal_url = "{mapi.url}"'
    autodiscover = start(toml(urls), tls=pki.issue(expires=expiring(40)))
    outcome = check("--autodiscover-url", autodiscover.autodiscover_url, "--ca-file",
                    str(pki.ca_pem))
    assert outcome.code == 0, outcome.output
    assert outcome.perfdata["cert_days"] == "40"


def test_long_output(start: Emulators, pki: Pki) -> None:
    """One certificate for Autodiscover and the endpoint: listed once, with both roles."""
    from cryptography import x509

    tls = pki.issue("127.0.0.1", "mail.contoso.com", "::1", expires=expiring(12.5))
    emulator = start(toml(), tls=tls)
    cert = x509.load_pem_x509_certificate(tls.cert_pem.read_bytes())
    expiry = cert.not_valid_after_utc
    for extra in (("--ca-file", str(pki.ca_pem), "-v"), ("--insecure", "-vv")):
        outcome = check("--autodiscover-url", emulator.autodiscover_url, *extra)
        lines = [line for line in outcome.long if line.startswith("certificate of ")]
        insecure = ", not verified (--insecure)" if "--insecure" in extra else ""
        assert lines == [f"certificate of 127.0.0.1 (MAPI endpoint, Autodiscover): valid "
                         f"until {expiry:%Y-%m-%d %H:%M} UTC (12.5 days left){insecure}"]
        details = outcome.long[outcome.long.index(lines[0]) + 1]
        assert details == (f"  subject {cert.subject.rfc4514_string()}; issuer "
                           f"{cert.issuer.rfc4514_string()}; SAN 127.0.0.1, "
                           "mail.contoso.com, ::1")
    assert any(line.startswith("connection 127.0.0.1:") for line in outcome.long)  # -vv


def test_long_output_on_a_problem(start: Emulators, pki: Pki) -> None:
    emulator = start(toml(), tls=pki.issue(expires=expiring(5)))
    outcome = direct(emulator, "--ca-file", str(pki.ca_pem), "--cert-warning", "30:")
    assert outcome.code == 1
    assert any(line.startswith("certificate of 127.0.0.1 (MAPI endpoint): valid until ")
               for line in outcome.long)


def test_cryptography_only_when_a_certificate_is_read(start: Emulators, pki: Pki,
                                                      tmp_path: Path) -> None:
    """A plain-http run and a verified run without long output never import it."""
    plain = start(toml())
    secure = start(toml(), tls=pki.issue())
    env = {"CHECK_MAPI_PASSWORD": PASSWORD}
    base = ["--auth", "basic", "-m", "probe@contoso.com", "--autodiscover-url"]
    runs = [([plain.autodiscover_url], False),
            ([secure.autodiscover_url, "--ca-file", str(pki.ca_pem)], False),
            ([secure.autodiscover_url, "--ca-file", str(pki.ca_pem), "-v"], True),
            ([secure.autodiscover_url, "--insecure"], True)]
    for argv, reads in runs:
        report = loaded(tmp_path, *base, *argv, env=env)
        assert str(report["output"]).startswith("MAPI OK - "), report["output"]
        modules = report["modules"]
        assert isinstance(modules, list)
        assert ("cryptography" in modules) is reads, argv
        days = Outcome(0, str(report["output"])).perfdata["cert_days"]
        if argv[0] == secure.autodiscover_url:  # issued for 365 days (rounded to 2 decimals)
            assert re.fullmatch(r"36[45](\.\d\d?)?", days) and 364.9 < float(days) <= 365, days
        else:  # Autodiscover over plain http met no certificate: the label, unmeasured
            assert days == "U"
