"""The perfdata contract: the same labels on every outcome of a mode (``U`` where nothing
was measured), numbers as the plugin guidelines write them, labels quoted when they must
be, and Checkmk levels that mean what the Nagios ranges mean."""

from __future__ import annotations

import time

import pytest

from check_mapi.errors import ServiceState
from check_mapi.evaluation import Evaluation, PerfValue, number_text
from check_mapi.output import checkmk, nagios
from check_mapi.plugin.main import run

from ..conftest import Emulators
from ..plugin_output import Outcome
from .many_helpers import PASSWORD, address, many_toml

FAULTS = {1: 'step = "connect"\nhttp_status = 503',
          2: 'step = "autodiscover"\nhttp_status = 500',
          3: 'step = "inbox"\nlatency_ms = 60000',
          4: 'step = "logon"\nrop_error = "ecLoginFailure"'}


def labels(outcome: Outcome) -> list[str]:
    return list(outcome.perfdata)


def test_every_outcome_of_a_mode_has_the_same_labels(start: Emulators) -> None:
    emulator = start(many_toml(5, FAULTS) + '[[mailbox]]\nsmtp = "legacy@contoso.com"\n'
                     f'password = "{PASSWORD}"\nmapi_http_enabled = false\n')
    env = {"CHECK_MAPI_PASSWORD": PASSWORD}
    common = ["--autodiscover-url", emulator.autodiscover_url, "--auth", "basic", "-t", "3"]
    outcomes = {
        "ok": Outcome(*run(["-m", address(0), *common], env=env)),
        "connect": Outcome(*run(["-m", address(1), *common], env=env)),
        "autodiscover": Outcome(*run(["-m", address(2), *common], env=env)),
        "timeout": Outcome(*run(["-m", address(3), *common], env=env,
                                started=time.monotonic())),
        "logon": Outcome(*run(["-m", address(4), *common], env=env)),
        "restriction": Outcome(*run(["-m", "legacy@contoso.com", *common, "--expect-protocol",
                                     "outlook-anywhere"], env=env)),
    }
    assert [o.code for o in outcomes.values()] == [0, 2, 2, 2, 2, 0]
    expected = ["autodiscover_time", "availability", "cert_days", "connect_time",
                "disconnect_time", "inbox_items", "inbox_time", "logon_time", "total_time"]
    assert {name: labels(o) for name, o in outcomes.items()} == dict.fromkeys(outcomes,
                                                                               expected)
    assert outcomes["autodiscover"].perfdata["connect_time"] == "U;;;0"
    assert outcomes["connect"].perfdata["logon_time"] == "U;;;0"
    assert outcomes["restriction"].perfdata["inbox_items"] == "U;;;0"
    assert outcomes["ok"].perfdata["cert_days"] == "U"  # plain http: nothing to measure
    # --url over plain http can never meet a certificate, and skips Autodiscover
    box = emulator.config.by_smtp(address(0))
    assert box is not None
    direct = Outcome(*run(["-m", address(0), "--url", emulator.mapi_url(address(0)),
                           "--legacy-dn", box.legacy_dn, "--auth", "basic"], env=env))
    assert labels(direct) == [label for label in expected
                              if label not in ("autodiscover_time", "cert_days")]


def test_tiny_thresholds_have_no_exponent(start: Emulators) -> None:
    emulator = start(many_toml(1, {}))
    outcome = Outcome(*run(["-m", address(0), "--autodiscover-url", emulator.autodiscover_url,
                            "--auth", "basic", "-w", "0.00001", "--logon-critical",
                            "~:0.0000002"], env={"CHECK_MAPI_PASSWORD": PASSWORD}))
    assert outcome.code == 2
    assert outcome.perfdata["connect_time"].split(";")[1:] == ["0.00001", "", "0"]
    assert outcome.perfdata["logon_time"].split(";")[1:] == ["", "~:0.0000002", "0"]
    assert "e-0" not in outcome.output
    assert "logon_time" in outcome.status and "outside range ~:0.0000002" in outcome.status


@pytest.mark.parametrize(("value", "text"), [
    (1e-05, "0.00001"), (0.0037, "0.0037"), (2.0, "2"), (2, "2"), (-3.25, "-3.25"),
    (123456789.0, "123456789"), (1e20, "100000000000000000000"), (-0.0, "0"),
    (float("nan"), "U"), (float("inf"), "U"),
])
def test_number_text(value: float, text: str) -> None:
    assert number_text(value) == text


@pytest.mark.parametrize(("label", "text"), [
    ("connect_time", "connect_time=1s;2;5;0"),
    ("probe@contoso.com::connect_time", "probe@contoso.com::connect_time=1s;2;5;0"),
    ("o'brien@contoso.com::x", "'o''brien@contoso.com::x'=1s;2;5;0"),
    ("a b=c", "'a b_c'=1s;2;5;0"),
])
def test_labels_are_quoted_when_they_must_be(label: str, text: str) -> None:
    assert nagios.perf(PerfValue(label, 1, "s", "2", "5", 0)) == text


def test_unmeasured_is_u_without_unit() -> None:
    assert nagios.perf(PerfValue("inbox_time", None, "s", "", "", 0)) == "inbox_time=U;;;0"
    assert nagios.perf(PerfValue("cert_days", None, "", "30:", "7:")) == "cert_days=U;30:;7:"


@pytest.mark.parametrize(("nagios_range", "levels"), [
    ("", ""), ("2", "2"), ("0:2", "0:2"), ("30:", "30:"), ("10:20", "10:20"),
    ("~:10", "10"), ("@1:2", ""),
])
def test_checkmk_levels_mean_the_nagios_range(nagios_range: str, levels: str) -> None:
    assert checkmk.levels(nagios_range) == levels


def test_checkmk_service_names_and_text() -> None:
    evaluation = Evaluation(ServiceState.CRITICAL, "a|b\nc", (
        PerfValue("connect_time", 0.5, "s", "@1:2", "5", 0),
        PerfValue("inbox_time", None, "s", "", "", 0)), ("DOMAIN\\name", "x|y"),
        "we\"ird (box)=1!@contoso.com")
    assert checkmk.line(evaluation) == (
        '2 "MAPI we_ird _box__1_@contoso.com" mapi_connect_time=0.5;;5;0 '
        "a/b c\\nDOMAIN\u2216name\\nx/y")
