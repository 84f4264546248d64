"""The plugin against the emulator over real sockets: exact first line, perfdata, exit code."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from check_mapi.emulator import Emulator

from .conftest import (
    LEGACY_DN,
    OK_LINE,
    PASSWORD,
    SMTP,
    TIME,
    TOKEN,
    fault_toml,
    mapi_url,
    probe,
)


def assert_no_leak(emulator: Emulator) -> None:
    stats = emulator.stats()
    assert stats.open_sessions == 0
    assert stats.sessions_created == stats.sessions_disconnected


def test_success(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = probe(emulator, monkeypatch=monkeypatch)
    assert outcome.code == 0
    assert OK_LINE.fullmatch(outcome.first_line), outcome.first_line
    assert outcome.output.count("\n") == 1  # no long output when all is well
    stats = emulator.stats()
    assert stats.requests == {"Connect": 1, "Execute": 2, "Disconnect": 1}
    assert stats.tcp_connections == 1
    assert_no_leak(emulator)


def test_verbose_trace_and_subjects(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = probe(emulator, "-v", monkeypatch=monkeypatch)
    lines = outcome.output.splitlines()
    assert outcome.code == 0
    assert lines[1] == f"mailbox {SMTP} at {mapi_url(emulator)} (auth basic)"
    http = r" \(HTTP 200, X-ResponseCode 0\)"
    assert re.fullmatch(rf"connect: OK in {TIME} s{http}, display name 'Probe Mailbox'", lines[2])
    assert re.fullmatch(rf"logon: OK in {TIME} s{http}", lines[3])
    assert re.fullmatch(rf"inbox: OK in {TIME} s{http}, 2 items", lines[4])
    assert re.fullmatch(rf"disconnect: OK in {TIME} s{http}", lines[5])
    total = re.fullmatch(rf"total: ({TIME}) s in the steps \(total_time\), ({TIME}) s with the "
                         r"plugin's own work between them", lines[6])
    assert total is not None, lines[6]
    assert float(total[1]) <= float(total[2])
    assert lines[7] == f"LegacyDN {LEGACY_DN}"
    assert lines[8].startswith("server Exchange/15.")
    assert re.fullmatch(r"X-ClientInfo \{[0-9A-F-]{36}\}:1, X-RequestId \{[0-9A-F-]{36}\}:1 \.\. 4 "
                        r"\(MAPI Client Access log\)", lines[9])
    assert lines[10] == "newest item delivered 2026-01-15 08:30:00 UTC"
    assert "Hello from the emulator" not in outcome.output  # subjects are private
    shown = probe(emulator, "--show-subjects", "-v", monkeypatch=monkeypatch)
    assert "  2026-01-15 08:30 unread from Jürgen Müller: Hello from the emulator" in shown.output
    assert "  2026-01-14 08:30 from (unknown): Older" in shown.output  # a FlaggedPropertyRow


@pytest.mark.parametrize(("options", "state", "code", "violation"), [
    (["-w", "0"], "WARNING", 1, r"; connect_time \S+ s outside range 0:0"),
    (["-c", "0"], "CRITICAL", 2, r"; connect_time \S+ s outside range 0:0"),
    (["--total-warning", "0"], "WARNING", 1, r"; total_time \S+ s outside range 0:0"),
    (["--total-critical", "0:0"], "CRITICAL", 2, r"; total_time \S+ s outside range 0:0"),
    (["--items-warning", "1"], "WARNING", 1, r"; inbox_items 2 outside range 0:1"),
    (["--items-critical", "@2:5"], "CRITICAL", 2, r"; inbox_items 2 inside range @2:5"),
])
def test_thresholds(emulator: Emulator, monkeypatch: pytest.MonkeyPatch, options: list[str],
                    state: str, code: int, violation: str) -> None:
    outcome = probe(emulator, *options, monkeypatch=monkeypatch)
    assert outcome.code == code
    assert re.fullmatch(rf"MAPI {state} - {re.escape(SMTP)} logged on in \d+\.\d\d s, Inbox 2 "
                        rf"items{violation}", outcome.status), outcome.status
    assert "connect: OK in" in outcome.output  # the trace comes with every problem
    assert outcome.perfdata["availability"] == "1;;;0;1"


def test_threshold_ranges_in_perfdata(emulator: Emulator,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = probe(emulator, "-w", "5", "-c", "10", "--items-warning", "100", "--total-critical",
                    "30", monkeypatch=monkeypatch)
    assert outcome.code == 0
    assert re.fullmatch(rf"{TIME}s;5;10;0", outcome.perfdata["connect_time"])
    assert outcome.perfdata["inbox_items"] == "2;100;;0"
    assert re.fullmatch(rf"{TIME}s;;30;0", outcome.perfdata["total_time"])


FAILURES = [
    (fault_toml(step="connect", http_status=503, retry_after=30),
     "connect failed: HTTP 503 Service Unavailable, Retry-After 30", ["connect"]),
    (fault_toml(step="connect", http_status=500),
     "connect failed: HTTP 500 Internal Server Error", ["connect"]),
    (fault_toml(step="connect", response_code=16),
     "connect failed: X-ResponseCode 16 (Endpoint Disabled)", ["connect"]),
    (fault_toml(step="connect", error_code="ecUnknownUser"),
     "connect failed: Connect ErrorCode ecUnknownUser (0x000003EB)", ["connect"]),
    (fault_toml(step="connect", status_code=0x80040115),
     "connect failed: Connect StatusCode ecRpcFailed (0x80040115)", ["connect"]),
    (fault_toml(step="logon", rop_error="ecLoginFailure"),
     "logon failed: RopLogon returned ecLoginFailure (0x80040111)",
     ["connect", "logon", "disconnect"]),
    (fault_toml(step="logon", wrong_server="/o=Contoso/cn=Servers/cn=EX02"),
     "logon failed: RopLogon: mailbox is on another server (ecWrongServer): "
     "/o=Contoso/cn=Servers/cn=EX02", ["connect", "logon", "disconnect"]),
    (fault_toml(step="logon", error_code="ecRpcFormat"),
     "logon failed: Execute ErrorCode ecRpcFormat (0x000004B6)",
     ["connect", "logon", "disconnect"]),
    (fault_toml(step="inbox", rop_error="ecNotFound"),
     "inbox failed: RopOpenFolder returned ecNotFound (0x8004010F)",
     ["connect", "logon", "inbox", "disconnect"]),
    (fault_toml(step="inbox", response_code=15),
     "inbox failed: X-ResponseCode 15 (Invalid Sequence)",
     ["connect", "logon", "inbox", "disconnect"]),
    (fault_toml(step="disconnect", http_status=502),
     "disconnect failed: HTTP 502 Bad Gateway", ["connect", "logon", "inbox", "disconnect"]),
]


PERF_LABELS = ["availability", "connect_time", "disconnect_time", "inbox_items", "inbox_time",
               "logon_time", "total_time"]  # --url with --legacy-dn over plain http


@pytest.mark.parametrize(("fault", "reason", "steps"), FAILURES,
                         ids=[reason.split(":")[1].strip() for _, reason, _ in FAILURES])
def test_failures(emulator_factory: object, monkeypatch: pytest.MonkeyPatch, fault: str,
                  reason: str, steps: list[str]) -> None:
    emulator = emulator_factory(fault)  # type: ignore[operator]
    outcome = probe(emulator, monkeypatch=monkeypatch)
    assert outcome.code == 2
    assert outcome.status == f"MAPI CRITICAL - {SMTP}: {reason}"
    assert outcome.perfdata["availability"] == "0;;;0;1"
    # the same labels on every outcome: a step that did not run is U (no unit, same fields)
    assert sorted(outcome.perfdata) == PERF_LABELS
    for step in ("connect", "logon", "inbox", "disconnect", "total"):
        value = outcome.perfdata[f"{step}_time"]
        if step in [*steps, "total"]:
            assert re.fullmatch(rf"{TIME}s;;;0", value), (step, value)
        else:
            assert value == "U;;;0", (step, value)
    failed = reason.split(" failed", maxsplit=1)[0]
    # the Inbox was counted only when the failure came after it
    assert outcome.perfdata["inbox_items"] == ("2;;;0" if failed == "disconnect" else "U;;;0")
    assert f"{failed}: FAILED after " in outcome.output
    if failed != "disconnect":
        assert_no_leak(emulator)  # Disconnect went out after the failure


@pytest.mark.parametrize("fault", [fault_toml(step="inbox", truncate_body=True),
                                   fault_toml(step="inbox", drop_connection=True)])
def test_broken_answers(emulator_factory: object, monkeypatch: pytest.MonkeyPatch,
                        fault: str) -> None:
    emulator = emulator_factory(fault)  # type: ignore[operator]
    outcome = probe(emulator, monkeypatch=monkeypatch)
    assert outcome.code == 2
    assert outcome.status.startswith(f"MAPI CRITICAL - {SMTP}: inbox failed: ")
    assert "Traceback" not in outcome.output
    assert re.search(r"disconnect: (OK|FAILED)", outcome.output)


def test_pending_forever_times_out_naming_the_step(emulator_factory: object,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = emulator_factory(fault_toml(step="logon", pending_forever=True))  # type: ignore[operator]
    outcome = probe(emulator, "-t", "2", monkeypatch=monkeypatch)
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: logon failed: timed out: the check's "
                              "time budget ran out")
    unknown = probe(emulator, "-t", "1.5", "--timeout-state", "unknown", monkeypatch=monkeypatch)
    assert unknown.code == 3
    assert unknown.status.startswith(f"MAPI UNKNOWN - {SMTP}: logon failed: timed out")


def test_wrong_password(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = probe(emulator, env={"CHECK_MAPI_PASSWORD": "wrong"}, monkeypatch=monkeypatch)
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: connect failed: HTTP 401 Unauthorized: "
                              "credentials refused (server offers Basic, Bearer)")


def test_bearer_token(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = probe(emulator, env={"CHECK_MAPI_TOKEN": TOKEN}, monkeypatch=monkeypatch)
    assert outcome.code == 0, outcome.output
    assert OK_LINE.fullmatch(outcome.first_line)


def test_connection_refused(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    url = mapi_url(emulator)
    emulator.stop()
    monkeypatch.setenv("CHECK_MAPI_PASSWORD", PASSWORD)
    from check_mapi.plugin.main import run
    code, output = run(["-m", SMTP, "--url", url, "--legacy-dn", LEGACY_DN])
    assert code == 2
    assert output.startswith(f"MAPI CRITICAL - {SMTP}: connect failed: cannot connect to "
                             "127.0.0.1: ")
    assert "Error" not in output.splitlines()[0]


def test_subprocess_demo_and_no_stderr() -> None:
    proc = subprocess.run([sys.executable, "-m", "check_mapi", "--demo"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.stderr == ""
    assert proc.returncode == 0
    # Autodiscover over plain http met no TLS certificate: cert_days is U, yet present
    assert re.fullmatch(rf"MAPI OK - probe@contoso\.com logged on in \d+\.\d\d s, Inbox 3 items "
                        rf"\| autodiscover_time={TIME}s;;;0 availability=1;;;0;1 cert_days=U "
                        rf"connect_time={TIME}s;;;0 disconnect_time={TIME}s;;;0 "
                        rf"inbox_items=3;;;0 inbox_time={TIME}s;;;0 logon_time={TIME}s;;;0 "
                        rf"total_time={TIME}s;;;0", proc.stdout.strip())


def test_vvv_request_summaries(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = probe(emulator, "-vvv", monkeypatch=monkeypatch)
    summaries = [ln for ln in outcome.output.splitlines()
                 if re.match(r"(Connect|Execute|Disconnect) \{", ln)]
    assert [s.split(" ", 1)[0] for s in summaries] == ["Connect", "Execute", "Execute",
                                                        "Disconnect"]
    assert re.fullmatch(
        rf"Connect \{{[0-9A-F-]{{36}}\}}:1: HTTP 200; X-ResponseCode 0; {TIME} s; "
        rf"PROCESSING after {TIME} s; X-ElapsedTime \d+ ms; X-ServerApplication Exchange/\S+; "
        r".*", summaries[0]), summaries[0]


def test_failing_disconnect_does_not_hide_the_first_error(
        emulator_factory: object, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = emulator_factory(fault_toml(step="logon", rop_error="ecLoginFailure")  # type: ignore[operator]
                                + fault_toml(step="disconnect", http_status=502))
    outcome = probe(emulator, monkeypatch=monkeypatch)
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: logon failed: RopLogon returned "
                              "ecLoginFailure (0x80040111)")
    assert "disconnect also failed: HTTP 502 Bad Gateway" in outcome.output
    assert re.search(rf"disconnect: FAILED after {TIME} s \(HTTP 502\)", outcome.output)
