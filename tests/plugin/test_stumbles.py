"""What a new administrator stumbled over (issue 11): each one, fixed and held."""

from __future__ import annotations

import pytest

from check_mapi.plugin.main import run

from ..conftest import Emulators
from ..plugin_output import Outcome
from .many_helpers import PASSWORD, address, many_toml

ENV = {"CHECK_MAPI_PASSWORD": PASSWORD}


@pytest.fixture
def common(start: Emulators) -> list[str]:
    emulator = start(many_toml(1, {}, {0: 2}))
    return ["-m", address(0), "--autodiscover-url", emulator.autodiscover_url, "--auth",
            "basic"]


def test_show_subjects_needs_no_verbose(common: list[str]) -> None:
    outcome = Outcome(*run([*common, "--show-subjects"], env=ENV))
    assert outcome.code == 0
    assert len(outcome.long) == 3  # the newest item's time, then one line per item
    assert outcome.long[0].startswith("newest item delivered ")
    assert all(line.startswith("  ") and " from " in line for line in outcome.long[1:])
    quiet = Outcome(*run(common, env=ENV))
    assert quiet.long == []


def test_each_verbosity_level_adds_something(common: list[str]) -> None:
    levels = [Outcome(*run([*common, *(["-" + "v" * n] if n else [])], env=ENV)).long
              for n in range(4)]
    assert levels[0] == []
    assert not any(line.startswith("settings: ") for line in levels[1])
    settings = [line for line in levels[2] if line.startswith("settings: ")]
    assert settings[0] == ("settings: timeout 30 s (on timeout CRITICAL), drift WARNING, "
                           "thresholds: none")
    assert settings[1].startswith("settings: TLS trust certifi's CAs, direct (no proxy), rows 5, "
                                  "client application Outlook/16.0.18129.20116, Autodiscover "
                                  "cache off, state dir ")
    assert any(line.startswith("connection 127.0.0.1:") for line in levels[2])
    assert len(levels[3]) == len(levels[2]) + 4  # one line per MAPI/HTTP request


def test_thresholds_in_the_settings_line(common: list[str]) -> None:
    long = Outcome(*run([*common, "-vv", "-w", "2", "--logon-critical", "~:5",
                         "--cert-warning", "30:"], env=ENV)).long
    assert ("settings: timeout 30 s (on timeout CRITICAL), drift WARNING, thresholds: "
            "connect_time warning 2; logon_time critical ~:5; cert_days warning 30:") in long


@pytest.mark.parametrize(("argv", "reason"), [
    (["--proxy", "notaurl"], "--proxy 'notaurl' is not a proxy URL: give http://HOST:PORT"),
    (["--proxy", "user:secret@host"], "--proxy '***@host' is not a proxy URL: give "
                                      "http://HOST:PORT"),
    (["-t", "0"], "--timeout 0: give more than 0 and at most 3600 seconds"),
    (["-t", "-1"], "argument -t/--timeout: expected one argument"),
    (["-t=-1"], "--timeout -1: give more than 0 and at most 3600 seconds"),
    (["--parallel", "0"], "--parallel 0: give 1 to 256"),
    (["-w", "abc"], "-w/--warning: invalid range 'abc' (expected [@][start:][end], e.g. 10, "
                    "5:, ~:10, @1:2)"),
    (["-w", "1e-5"], "-w/--warning: invalid range '1e-5' (expected [@][start:][end], e.g. "
                     "10, 5:, ~:10, @1:2)"),
])
def test_argument_errors_say_what_to_give(argv: list[str], reason: str) -> None:
    assert run(["-m", "probe@contoso.com", *argv], env=ENV) == (3, f"MAPI UNKNOWN - {reason}\n")


def test_a_proxy_without_scheme_but_with_a_port_is_http() -> None:
    code, output = run(["-m", "probe@contoso.com", "--proxy", "127.0.0.1:9", "--url",
                        "https://mail.contoso.com/mapi/emsmdb/", "--legacy-dn", "/o=x",
                        "-t", "3"], env=ENV)
    assert code == 2
    assert output.startswith("MAPI CRITICAL - probe@contoso.com: connect failed: proxy "
                             "127.0.0.1:9 unreachable: ")


def test_help_has_examples_and_every_option_says_what_it_does() -> None:
    from check_mapi.cli.parser import build_parser

    parser = build_parser()
    text = parser.format_help()
    assert ("Examples:\n  the real probe against the built-in emulator:\n"
            "    check_mapi --demo\n") in text
    assert "--mailbox-file FILE" in text and "--output {nagios,checkmk}" in text
    silent = [a.option_strings for a in parser._actions
              if a.option_strings and not a.help and a.dest != "help"]
    assert silent == []
