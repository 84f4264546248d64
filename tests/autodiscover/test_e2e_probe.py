"""The plugin with Autodiscover, in-process against the emulator: the status line and
perfdata, failures of the autodiscover step, discovery without a pinned URL, the cache,
and the options."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from check_mapi.autodiscover import discovery as autodiscover
from check_mapi.autodiscover.discovery import Candidate
from check_mapi.emulator import Emulator

from ..plugin_output import Outcome
from .conftest import PASSWORD, cli, config, mailbox_toml

SMTP = "probe@contoso.com"
TIME = r"\d+\.\d+"
Start = Callable[..., Emulator]
OK_LINE = re.compile(
    rf"MAPI OK - {re.escape(SMTP)} logged on in \d+\.\d\d s, Inbox 1 item \| "
    rf"autodiscover_time={TIME}s;;;0 availability=1;;;0;1 cert_days=U connect_time={TIME}s;;;0 "
    rf"disconnect_time={TIME}s;;;0 inbox_items=1;;;0 inbox_time={TIME}s;;;0 "
    rf"logon_time={TIME}s;;;0 total_time={TIME}s;;;0")
PROBE = mailbox_toml(SMTP, display_name="Probe") + '[[mailbox.inbox]]\nsubject = "Hi"\n'


def fault(**keys: object) -> str:
    return "[[mailbox.fault]]\nstep = \"autodiscover\"\n" + "".join(
        f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in keys.items())


def probe(emulator: Emulator, *argv: str) -> Outcome:
    return cli("-m", SMTP, "--autodiscover-url", emulator.autodiscover_url, *argv)


def test_ok_line_and_perfdata(start: Start) -> None:
    emulator = start(config(PROBE))
    outcome = probe(emulator)
    assert outcome.code == 0
    assert OK_LINE.fullmatch(outcome.first_line), outcome.first_line
    assert outcome.output.count("\n") == 1
    assert emulator.stats().requests == {"autodiscover": 1, "Connect": 1, "Execute": 2,
                                         "Disconnect": 1}
    assert emulator.stats().tcp_connections == 1  # Autodiscover and MAPI share the connection


def test_verbose_trace(start: Start) -> None:
    emulator = start(config(PROBE))
    outcome = probe(emulator, "-v")
    mailbox = emulator.config.by_smtp(SMTP)
    assert mailbox is not None
    assert outcome.long[:3] == [
        f"mailbox {SMTP} at {emulator.mapi_url(SMTP)} (auth basic, vantage external: "
        "ExternalUrl)",
        outcome.long[1],
        f"  POST {emulator.autodiscover_url}: HTTP 200: settings, MAPI over HTTP (internal and "
        "external)"]
    assert re.fullmatch(rf"autodiscover: OK in {TIME} s from {re.escape(emulator.autodiscover_url)}"
                        r": MAPI over HTTP \(internal and external\)", outcome.long[1])
    assert f"LegacyDN {mailbox.legacy_dn}" in outcome.long
    assert PASSWORD not in outcome.output


@pytest.mark.parametrize(("fault_toml", "reason"), [
    (fault(http_status=503, retry_after=30), "HTTP 503 Service Unavailable"),
    (fault(malformed_xml=True), "HTTP 200: malformed Autodiscover XML: no element found at "
                                "line 2, column 122"),
    (fault(redirect_loop=True), "Autodiscover redirect loop: probe@contoso.com at {url} was "
                                "already asked"),
])
def test_autodiscover_failures_are_critical(start: Start, fault_toml: str, reason: str) -> None:
    emulator = start(config(PROBE + fault_toml))
    outcome = probe(emulator)
    reason = reason.format(url=emulator.autodiscover_url)
    assert outcome.code == 2
    assert outcome.status == f"MAPI CRITICAL - {SMTP}: autodiscover failed: {reason}"
    assert outcome.perfdata["availability"] == "0;;;0;1"
    # the same labels as a success (plain http met no certificate: cert_days U either way)
    assert outcome.perfdata == {
        "autodiscover_time": outcome.perfdata["autodiscover_time"], "availability": "0;;;0;1",
        "cert_days": "U", "connect_time": "U;;;0", "disconnect_time": "U;;;0",
        "inbox_items": "U;;;0", "inbox_time": "U;;;0", "logon_time": "U;;;0",
        "total_time": outcome.perfdata["total_time"]}
    assert re.fullmatch(rf"{TIME}s;;;0", outcome.perfdata["autodiscover_time"])
    assert re.fullmatch(rf"{TIME}s;;;0", outcome.perfdata["total_time"])
    assert re.fullmatch(rf"autodiscover: FAILED after {TIME} s: {re.escape(reason)}",
                        outcome.long[1])
    assert outcome.long[2].startswith(f"  POST {emulator.autodiscover_url}: HTTP ")
    assert "connect: not run" in outcome.long


def test_unknown_address(start: Start) -> None:
    emulator = start(config(PROBE, mailbox_toml("other@contoso.com")))
    outcome = cli("-m", "nobody@contoso.com", "-u", "other@contoso.com", "--autodiscover-url",
                  emulator.autodiscover_url)
    assert outcome.status == ("MAPI CRITICAL - nobody@contoso.com: autodiscover failed: "
                              "Autodiscover error 500: The e-mail address cannot be found.")


def test_timeout_names_the_step(start: Start) -> None:
    emulator = start(config(PROBE + fault(latency_ms=5000)))
    outcome = probe(emulator, "-t", "1.5")
    assert outcome.code == 2
    assert outcome.status.startswith(f"MAPI CRITICAL - {SMTP}: autodiscover failed: timed out")
    assert probe(emulator, "-t", "1.5", "--timeout-state", "unknown").code == 3


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_discovery_without_a_pinned_url(start: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default candidate list, replaced by loopback URLs: no DNS name is resolved."""
    emulator = start(config(PROBE))
    dead = f"http://127.0.0.1:{closed_port()}/autodiscover/autodiscover.xml"
    asked: list[str] = []

    def candidates(domain: str) -> list[Candidate]:
        asked.append(domain)
        return [Candidate("pox", dead), Candidate("pox", emulator.autodiscover_url)]

    monkeypatch.setattr(autodiscover, "candidate_urls", candidates)
    outcome = cli("-m", SMTP, "-v")
    assert outcome.code == 0, outcome.output
    assert asked == ["contoso.com"]
    assert outcome.long[2].startswith(f"  POST {dead}: cannot connect to 127.0.0.1: ")
    assert outcome.long[3] == (f"  POST {emulator.autodiscover_url}: HTTP 200: settings, MAPI "
                               "over HTTP (internal and external)")


def test_no_candidate_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = [f"http://127.0.0.1:{closed_port()}/autodiscover/autodiscover.xml" for _ in range(2)]
    monkeypatch.setattr(autodiscover, "candidate_urls",
                        lambda domain: [Candidate("pox", url) for url in dead])
    outcome = cli("-m", SMTP)
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: autodiscover failed: no Autodiscover "
                              "answer for contoso.com (2 candidates tried)")
    assert [line.split(": ", 1)[0] for line in outcome.long[2:4]] == [
        f"  POST {url}" for url in dead]


def test_url_and_legacy_dn_skip_autodiscover(start: Start) -> None:
    emulator = start(config(PROBE))
    mailbox = emulator.config.by_smtp(SMTP)
    assert mailbox is not None
    outcome = cli("-m", SMTP, "--url", emulator.mapi_url(SMTP), "--legacy-dn",
                  mailbox.legacy_dn, "--org-mapihttp", "false", "-v")
    assert outcome.code == 0
    assert "autodiscover_time" not in outcome.perfdata
    assert outcome.long[1] == ("configuration not compared: --url and --legacy-dn skip "
                               "Autodiscover")
    assert "autodiscover" not in emulator.stats().requests


def test_missing_legacy_dn_in_answer(scripted: Callable[..., object]) -> None:
    body = (b'<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
            b'responseschema/2006"><Response><Account><Action>settings</Action>'
            b'<Protocol Type="mapiHttp" Version="1"><MailStore><InternalUrl>https://127.0.0.1:9/'
            b"mapi/emsmdb/</InternalUrl></MailStore></Protocol></Account></Response>"
            b"</Autodiscover>")
    server = scripted(lambda m, p: (200, [("Content-Type", "text/xml")], body))
    outcome = cli("-m", SMTP, "--autodiscover-url", f"{server.url}/autodiscover/autodiscover.xml")  # type: ignore[attr-defined]
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: autodiscover failed: Autodiscover's "
                              "answer has no LegacyDN")


# -- the cache --------------------------------------------------------------------------


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("autodiscover-*.json"))


def test_cache_skips_the_round_trip(start: Start, tmp_path: Path) -> None:
    emulator = start(config(PROBE))
    state = tmp_path / "state"
    first = probe(emulator, "--autodiscover-cache", "300", "--state-dir", str(state))
    assert OK_LINE.fullmatch(first.first_line)
    (path,) = cache_files(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["url"] == emulator.autodiscover_url
    second = probe(emulator, "--autodiscover-cache", "300", "--state-dir", str(state), "-v")
    assert second.code == 0
    assert second.perfdata["autodiscover_time"] == "U;;;0"  # no round trip to time
    assert re.fullmatch(rf"autodiscover: from the cache \(\d+ s old\), "
                        rf"{re.escape(emulator.autodiscover_url)}: MAPI over HTTP \(internal and "
                        r"external\)", second.long[1])
    assert emulator.stats().requests["autodiscover"] == 1
    assert re.fullmatch(rf"{TIME}s;;;0", probe(emulator, "--state-dir", str(
        state)).perfdata["autodiscover_time"])  # the cache is off: asked again


def test_cache_is_dropped_after_a_failure(start: Start, tmp_path: Path) -> None:
    emulator = start(config(PROBE + '[[mailbox.fault]]\nstep = "connect"\nhttp_status = 503\n'
                                    "times = 2\n"))
    argv = ("--autodiscover-cache", "300", "--state-dir", str(tmp_path))
    assert probe(emulator, *argv).code == 2  # discovered, saved, then Connect failed
    assert len(cache_files(tmp_path)) == 1
    assert probe(emulator, *argv).code == 2  # from the cache, Connect failed: forgotten
    assert cache_files(tmp_path) == []
    assert probe(emulator, *argv).code == 0
    assert emulator.stats().requests["autodiscover"] == 2


def test_loose_state_dir_is_not_used(start: Start, tmp_path: Path) -> None:
    emulator = start(config(PROBE))
    tmp_path.chmod(0o777)
    outcome = probe(emulator, "--autodiscover-cache", "300", "--state-dir", str(tmp_path), "-v")
    assert outcome.code == 0
    assert f"autodiscover cache: directory {tmp_path} is accessible by group or others; not " \
           "written" in outcome.long
    assert cache_files(tmp_path) == []
    os.chmod(tmp_path, 0o700)


@pytest.mark.parametrize(("argv", "message"), [
    (["-m", SMTP, "--url", "https://x/mapi/emsmdb/"],
     "missing --legacy-dn: --url and --legacy-dn go together (they skip Autodiscover)"),
    (["-m", SMTP, "--legacy-dn", "/o=x"],
     "missing --url: --url and --legacy-dn go together (they skip Autodiscover)"),
    (["-m", SMTP, "--url", "https://x/mapi/emsmdb/", "--legacy-dn", "/o=x",
      "--autodiscover-url", "https://x/autodiscover/autodiscover.xml"],
     "--autodiscover-url and --url/--legacy-dn exclude each other (--url and --legacy-dn skip "
     "Autodiscover)"),
    (["-m", "probe"], "-m/--mailbox 'probe' is not an SMTP address, which Autodiscover needs"),
    (["-m", SMTP, "--autodiscover-url", "ftp://x/"], "--autodiscover-url 'ftp://x/' is not an "
                                                    "http(s) URL"),
    (["-m", SMTP, "--autodiscover-cache=-1"], "--autodiscover-cache -1 is not between 0 and "
                                                 "86400 seconds"),
    (["-m", SMTP, "--expect-protocol", "any", "--org-mapihttp", "true"],
     "--expect-protocol and the MAPI over HTTP settings exclude each other: the settings "
     "already say what to expect"),
])
def test_option_errors_are_unknown(argv: list[str], message: str) -> None:
    outcome = cli(*argv)
    assert (outcome.code, outcome.output) == (3, f"MAPI UNKNOWN - {message}\n")


def test_redirect_addr_end_to_end(start: Start) -> None:
    """A mailbox whose Autodiscover answer sends the client to another address (hybrid)."""
    emulator = start(config(PROBE, mailbox_toml("moved@contoso.com", redirect_addr=SMTP)))
    outcome = cli("-m", "moved@contoso.com", "-u", SMTP, "--autodiscover-url",
                  emulator.autodiscover_url, "-v")
    assert outcome.code == 0, outcome.output
    assert outcome.status.startswith("MAPI OK - moved@contoso.com logged on in ")
    assert outcome.long[2:5] == [
        f"  POST {emulator.autodiscover_url}: HTTP 200: redirectAddr to {SMTP}",
        f"  POST {emulator.autodiscover_url}: HTTP 200: settings, MAPI over HTTP (internal and "
        "external)",
        f"  settings are those of {SMTP}"]


def test_pending_forever_at_autodiscover_never_answers(start: Start) -> None:
    """POX has no PENDING keep-alive: the fault is an answer that never comes."""
    emulator = start(config(PROBE + fault(pending_forever=True)))
    outcome = probe(emulator, "-t", "1")
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: autodiscover failed: timed out: the "
                              "check's time budget ran out")
    assert emulator.stats().faults_applied == 1
