"""cert_days and the certificate lines from hand-built results: no sockets."""

from __future__ import annotations

import ssl
import time

import trustme

from check_mapi.autodiscover.record import Attempt, AutodiscoverRecord
from check_mapi.evaluate.certificate import certificate_lines, days_left
from check_mapi.evaluate.outcome import evaluate, thresholds
from check_mapi.output import nagios
from check_mapi.probe.result import CallTrace, ProbeResult
from check_mapi.settings import AuthSpec, MailboxSettings, RunSettings, Secret
from check_mapi.transport.facts import ConnectionFacts

from ..plugin_output import Outcome
from .conftest import DAY, now

NOW = 1_800_000_000.0


def facts(der: bytes | None = b"", not_after: float | None = None) -> ConnectionFacts:
    return ConnectionFacts("127.0.0.1:50000", "10.0.0.1:443", "TLSv1.3" if der else None,
                           "TLS_AES_256_GCM_SHA384" if der else None, der or None, not_after)


def trace(connection: ConnectionFacts | None) -> CallTrace:
    return CallTrace("Connect", "{X}:1", 200, 0, 0.1, None, 0, None, (), connection)


def probe(mapi: ConnectionFacts | None, *autodiscover: ConnectionFacts | None) -> ProbeResult:
    result = ProbeResult(MailboxSettings("probe@contoso.com", AuthSpec(
        "basic", None, Secret("x", "--password"))), auth_method="basic",
        url="https://mail.contoso.com/mapi/emsmdb/?MailboxId=x@contoso.com")
    result.timings.update({"connect": 0.1, "logon": 0.1, "inbox": 0.1, "disconnect": 0.1,
                           "total": 0.5})
    result.item_count = 1
    result.traces = (trace(mapi),)
    if autodiscover:
        result.autodiscover = AutodiscoverRecord(attempts=tuple(
            Attempt("POST", f"https://autodiscover{i}.contoso.com/autodiscover/"
                    "autodiscover.xml", "HTTP 200: settings", connection)
            for i, connection in enumerate(autodiscover)))
    return result


def render(result: ProbeResult, **ranges: tuple[str | None, str | None]) -> Outcome:
    run = RunSettings(ranges=ranges)
    evaluation = evaluate(result, run, thresholds(run.ranges))
    return Outcome(int(evaluation.state), nagios.render(evaluation))


def der(days: float) -> tuple[bytes, float]:
    """A DER certificate expiring ``days`` from now, and its expiry (epoch seconds)."""
    leaf = trustme.CA().issue_cert("mail.contoso.com", "autodiscover.contoso.com",
                                   not_after=now().replace(microsecond=0) + days * DAY)
    pem = leaf.cert_chain_pems[0].bytes().decode()
    from cryptography import x509

    data = ssl.PEM_cert_to_DER_cert(pem)
    return data, x509.load_der_x509_certificate(data).not_valid_after_utc.timestamp()


def test_the_smaller_of_both() -> None:
    result = probe(facts(b"A", NOW + 20 * 86400), facts(b"B", NOW + 10.5 * 86400))
    assert days_left(result, NOW) == 10.5
    result = probe(facts(b"A", NOW + 2.25 * 86400), facts(b"B", NOW + 10 * 86400))
    assert days_left(result, NOW) == 2.25


def test_none_without_tls() -> None:
    assert days_left(probe(facts(None), facts(None)), NOW) is None
    assert days_left(probe(None), NOW) is None
    outcome = render(probe(facts(None)), cert=("30:", "7:"))  # Autodiscover mode: a label
    assert outcome.code == 0 and outcome.perfdata["cert_days"] == "U;30:;7:"


def test_only_one_over_tls() -> None:
    assert days_left(probe(facts(None), facts(b"B", NOW + 86400)), NOW) == 1.0
    assert days_left(probe(facts(b"A", NOW + 3 * 86400), facts(None)), NOW) == 3.0


def test_unverified_certificates_are_read() -> None:
    data, expiry = der(40)
    days = days_left(probe(facts(data, None)))
    assert days is not None and abs(days - (expiry - time.time()) / 86400) < 0.02
    assert days_left(probe(facts(b"not DER", None))) is None  # unreadable: no value


def test_status_line_and_perfdata() -> None:
    result = probe(facts(b"A", time.time() + 12.5 * 86400 + 60))
    outcome = render(result, cert=("30:", "7:"))
    assert outcome.code == 1
    assert outcome.status == ("MAPI WARNING - probe@contoso.com logged on in 0.20 s, Inbox 1 "
                              "item; cert_days 12.5 outside range 30:")
    assert outcome.perfdata["cert_days"] == "12.5;30:;7:"
    assert render(result, cert=("10:", None)).code == 0


def test_lines() -> None:
    data, expiry = der(12)
    other, _ = der(30)
    assert certificate_lines(probe(facts(data, expiry), facts(data, expiry)), expiry - 86400
                             )[0] == (
        "certificate of mail.contoso.com (MAPI endpoint) and autodiscover0.contoso.com "
        f"(Autodiscover): valid until {time.strftime('%Y-%m-%d %H:%M', time.gmtime(expiry))} "
        "UTC (1.0 days left)")
    lines = certificate_lines(probe(facts(data, None), facts(other, 1.0)), expiry + 86400)
    assert len(lines) == 4
    assert lines[0].endswith("(expired 1.0 days ago), not verified (--insecure)")
    assert lines[1].startswith("  subject ") and lines[1].endswith(
        "; SAN mail.contoso.com, autodiscover.contoso.com")
    assert lines[2].startswith("certificate of autodiscover0.contoso.com (Autodiscover): "
                               "valid until 1970-01-01 00:00 UTC (expired ")
    assert certificate_lines(probe(facts(b"junk", 1.0)), NOW) == [
        "certificate of mail.contoso.com (MAPI endpoint): not readable"]
