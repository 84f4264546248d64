"""Evaluation and rendering from hand-built results: no sockets, no emulator.

The Nagios renderer is the only writer of a status line: whatever text a mailbox name, a
server or an exception brings, the first line is one line, and its only ``|`` is the one
before the perfdata. The metrics table drives options, thresholds, perfdata and the trace.
"""

from __future__ import annotations

from types import MappingProxyType

import pytest

from check_mapi import metrics
from check_mapi.cli.parser import build_parser
from check_mapi.errors import (
    ConfigError,
    HttpStatusError,
    RopError,
    ServiceState,
    TransportTimeoutError,
)
from check_mapi.evaluate.outcome import evaluate, thresholds
from check_mapi.evaluation import Evaluation, PerfValue, problem
from check_mapi.output import nagios
from check_mapi.plugin.main import run
from check_mapi.probe.result import ProbeResult
from check_mapi.settings import AuthSpec, MailboxSettings, RunSettings, Secret

from .plugin_output import Outcome

TIMINGS = {"connect": 0.1, "logon": 0.05, "inbox": 0.2, "disconnect": 0.01, "total": 0.4}


def mailbox(address: str = "probe@contoso.com") -> MailboxSettings:
    return MailboxSettings(address, AuthSpec("basic", None, Secret("x", "--password")))


def result(address: str = "probe@contoso.com", timings: dict[str, float] | None = None
           ) -> ProbeResult:
    probe = ProbeResult(mailbox(address), auth_method="basic")
    probe.timings.update(timings or TIMINGS)
    probe.item_count = 42
    return probe


def render(probe: ProbeResult, **run: object) -> Outcome:
    settings = RunSettings(**run)  # type: ignore[arg-type]
    evaluation = evaluate(probe, settings, thresholds(settings.ranges))
    return Outcome(int(evaluation.state), nagios.render(evaluation))


def test_ok() -> None:
    outcome = render(result())
    assert outcome.code == 0
    assert outcome.first_line == (  # Autodiscover and TLS would have run: U, not absent
        "MAPI OK - probe@contoso.com logged on in 0.15 s, Inbox 42 items | "
        "autodiscover_time=U;;;0 availability=1;;;0;1 cert_days=U connect_time=0.1s;;;0 "
        "disconnect_time=0.01s;;;0 inbox_items=42;;;0 inbox_time=0.2s;;;0 "
        "logon_time=0.05s;;;0 total_time=0.4s;;;0")
    assert outcome.long == []


def test_thresholds_from_the_table() -> None:
    ranges = MappingProxyType({"connect": ("0.05", "1"), "inbox_items": (None, "10")})
    outcome = render(result(), ranges=ranges)
    assert outcome.code == 2
    assert outcome.status == ("MAPI CRITICAL - probe@contoso.com logged on in 0.15 s, Inbox "
                              "42 items; inbox_items 42 outside range 0:10")
    assert outcome.perfdata["connect_time"] == "0.1s;0.05;1;0"
    assert outcome.perfdata["inbox_items"] == "42;;10;0"
    assert outcome.long[0].startswith("mailbox probe@contoso.com (auth basic")


def test_a_bad_range_names_its_option() -> None:
    with pytest.raises(ConfigError, match=r"^--logon-critical: invalid range '5:1'"):
        thresholds(MappingProxyType({"logon": (None, "5:1")}))


@pytest.mark.parametrize(("state", "exit_code"), [("ok", 0), ("warning", 1), ("unknown", 3)])
def test_timeout_state(state: str, exit_code: int) -> None:
    probe = result(timings={"connect": 0.1, "logon": 2.7, "total": 2.8})
    probe.fail("logon", TransportTimeoutError("timed out: the check's time budget ran out"))
    outcome = render(probe, timeout_state=ServiceState[state.upper()])
    assert outcome.code == exit_code
    assert outcome.status == (f"MAPI {state.upper()} - probe@contoso.com: logon failed: timed "
                              "out: the check's time budget ran out")
    assert outcome.perfdata == {"autodiscover_time": "U;;;0", "availability": "0;;;0;1",
                                "cert_days": "U", "connect_time": "0.1s;;;0",
                                "disconnect_time": "U;;;0", "inbox_items": "42;;;0",
                                "inbox_time": "U;;;0", "logon_time": "2.7s;;;0",
                                "total_time": "2.8s;;;0"}
    assert "logon: FAILED after 2.700 s: timed out: the check's time budget ran out" in (
        outcome.long)


@pytest.mark.parametrize("text", [
    "Bad|Gateway", "two\nlines", "cr\r\nlf", "tab\there | pipe\vvtab\u2028ls\x85nel"])
def test_server_text_never_breaks_the_status_line(text: str) -> None:
    probe = result(timings={"connect": 0.1, "total": 0.1})
    error = HttpStatusError(f"HTTP 502 {text}", 502)
    error.server_text = f"page says {text}"
    probe.fail("connect", error)
    output = nagios.render(evaluate(probe, RunSettings(), thresholds(RunSettings().ranges)))
    first = output.splitlines()[0]
    assert first.count("|") == 1
    assert first.index(" | ") > first.index("connect failed")
    assert output.startswith(first + "\n")  # one line: no other line break in it
    assert all("|" not in line for line in output.splitlines()[1:])


@pytest.mark.parametrize("address", ["a|b@contoso.com", "a\nb@contoso.com", "a|b\r@x.y"])
def test_mailbox_text_never_breaks_the_status_line(address: str) -> None:
    probe = result(address)
    probe.fail("connect", RopError("RopLogon returned ecLoginFailure | x", 0xFE, 0x80040111))
    first, *rest = nagios.render(evaluate(probe, RunSettings(), {})).split("\n", 1)
    assert first.count("|") == 1
    assert first.startswith("MAPI CRITICAL - a/b" if "|" in address else "MAPI CRITICAL - a b")
    assert rest and "|" not in rest[0]


@pytest.mark.parametrize("argv", [["-m", "a|b"], ["-m", "a\nb|c"],
                                  ["-m", "x@y.z", "-w", "1|2"]])
def test_argument_errors_go_through_the_renderer(argv: list[str]) -> None:
    code, output = run(argv)
    assert code == 3
    assert output.count("\n") == 1 and output.endswith("\n")
    assert "|" not in output
    assert output.startswith("MAPI UNKNOWN - ")


def test_problem_renders_long_lines_apart() -> None:
    evaluation = problem(ServiceState.UNKNOWN, "internal error: boom", ("Traceback:",
                                                                        "  x | y\n  z"))
    assert nagios.render(evaluation) == ("MAPI UNKNOWN - internal error: boom\nTraceback:\n"
                                         "  x / y\n  z\n")


def test_unmeasured_perfdata_is_u() -> None:
    evaluation = Evaluation(ServiceState.CRITICAL, "x", (PerfValue("connect_time", None, "s",
                                                                   "", "", 0),))
    assert nagios.render(evaluation) == "MAPI CRITICAL - x | connect_time=U;;;0\n"


CALENDAR = metrics.Metric("calendar", "calendar_time", "s", True, True,
                          ("--calendar-warning",), ("--calendar-critical",), True, 0, None,
                          "opening the Calendar (a step that does not exist yet)")


def test_a_new_metric_is_one_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """calendar_time: a row; the code that measures it sets timings["calendar"]. Everything
    else (option, range, perfdata, trace line, emulator fault step) follows from the row
    (token_time and cert_days were added this way)."""
    rows = list(metrics.METRICS)
    rows.insert(rows.index(metrics.by_name("inbox")) + 1, CALENDAR)
    monkeypatch.setattr(metrics, "METRICS", tuple(rows))
    args = build_parser().parse_args(["-m", "x@y.z", "--calendar-warning", "0.1"])
    assert args.calendar_warning == "0.1"
    probe = result(timings={**TIMINGS, "calendar": 0.25})
    outcome = render(probe, ranges=MappingProxyType({"calendar": ("0.1", None)}), verbose=1)
    assert outcome.code == 1
    assert outcome.status.endswith("; calendar_time 0.25 s outside range 0:0.1")
    assert outcome.perfdata["calendar_time"] == "0.25s;0.1;;0"
    steps = [line.split(":")[0] for line in outcome.long[1:6]]
    assert steps == ["connect", "logon", "inbox", "calendar", "disconnect"]
    assert "calendar: OK in 0.250 s" in outcome.long
    assert "calendar" in metrics.fault_steps()

    from check_mapi.emulator.faults import fault_steps
    assert "calendar" in fault_steps()


def test_a_step_that_did_not_run_is_u_in_perfdata_but_not_in_the_trace(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The perfdata labels stay the same whatever ran (graphing templates keep their
    shape); the trace lists only the steps that ran. token_time and settings_time belong
    to other modes (--auth oauth, --settings-from exo) and are not labels of this one."""
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, CALENDAR))
    outcome = render(result(), verbose=1)
    assert outcome.code == 0
    assert outcome.perfdata["calendar_time"] == "U;;;0"
    assert "token_time" not in outcome.perfdata and "settings_time" not in outcome.perfdata
    assert not any(line.startswith(("calendar", "token")) for line in outcome.long)
    assert "inbox: OK in 0.200 s, 42 items" in outcome.long
