"""contrib/checkmk/check_mapi_local, the Checkmk local check, run as the agent runs it.

The real script runs in a bare environment (as the agent's: MK_CONFDIR, a short PATH) with
its configuration in a temporary MK_CONFDIR and CHECK_MAPI pointing at this venv's plugin,
against the emulator's example configuration (probe@contoso.com logs on, broken@contoso.com
fails its logon). Every line it prints is parsed with the local-check grammar of the
Checkmk documentation (shared/docs/monitoring.md §4.2), in tests/checkmk_grammar.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from check_mapi.emulator import Emulator
from check_mapi.emulator.example import example_config

from ..checkmk_grammar import Metric, parse_line, parse_output
from ..conftest import Emulators

SCRIPT = Path(__file__).resolve().parents[2] / "contrib" / "checkmk" / "check_mapi_local"
PLUGIN = Path(sys.executable).parent / "check_mapi"
PASSWORDS = {"probe@contoso.com": "Probe-Passw0rd!", "broken@contoso.com": "Broken-Passw0rd!"}


def run_script(confdir: Path, plugin: Path = PLUGIN, **env: str
               ) -> subprocess.CompletedProcess[str]:
    """The script as the agent starts it: a bare environment, stderr kept to assert it is
    empty (the agent discards it)."""
    environment = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(confdir),
                   "MK_CONFDIR": str(confdir), "CHECK_MAPI": str(plugin), **env}
    return subprocess.run([str(SCRIPT)], capture_output=True, text=True, env=environment,
                          timeout=60, check=False)


def private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def configure(confdir: Path, emulator: Emulator, mailboxes: str) -> None:
    """check_mapi.ini and the mailbox file in ``confdir``, as check_mapi.ini.example
    describes them."""
    (confdir / "check_mapi.mailboxes").write_text(mailboxes)
    private(confdir / "check_mapi.ini", f"""# test configuration
[checkmk]
mailbox-file = {confdir / "check_mapi.mailboxes"}
autodiscover-url = {emulator.autodiscover_url}
parallel = 4
timeout = 20
warning = 2
critical = 5
""")


@pytest.fixture
def example(start: Emulators) -> Emulator:
    return start(example_config())


def mailbox_lines(confdir: Path, *addresses: str) -> str:
    lines = ["# two mailboxes, each with its own password file", ""]
    for address in addresses:
        secret = private(confdir / f"{address}.password", PASSWORDS[address] + "\n")
        lines.append(f"{address} password-file={secret}")
    return "\n".join(lines) + "\n"


def test_one_service_per_mailbox(example: Emulator, tmp_path: Path) -> None:
    assert os.access(SCRIPT, os.X_OK)
    configure(tmp_path, example, mailbox_lines(tmp_path, *PASSWORDS))
    result = run_script(tmp_path)
    assert (result.returncode, result.stderr) == (0, ""), result
    checks = parse_output(result.stdout)
    assert sorted(checks) == ["MAPI broken@contoso.com", "MAPI probe@contoso.com"]
    good, bad = checks["MAPI probe@contoso.com"], checks["MAPI broken@contoso.com"]
    assert (good.state, bad.state) == ("0", "2")
    assert re.fullmatch(r"probe@contoso\.com logged on in \d+\.\d\d s, Inbox 3 items",
                        good.summary), good.summary
    assert "ecLoginFailure" in bad.summary, bad.summary
    assert good.metrics["mapi_availability"] == Metric("1", "", "", "0", "1")
    assert bad.metrics["mapi_availability"] == Metric("0", "", "", "0", "1")
    assert good.metrics["mapi_inbox_items"].value == "3"
    connect = good.metrics["mapi_connect_time"]
    assert (connect.warn, connect.crit, connect.min) == ("2", "5", "0"), connect
    assert float(connect.value) < 2
    assert all(name.startswith("mapi_") for check in checks.values() for name in check.metrics)
    for password in PASSWORDS.values():
        assert password not in result.stdout


def test_a_bad_mailbox_file_is_one_unknown_line(example: Emulator, tmp_path: Path) -> None:
    """check_mapi's own configuration error, in the local-check form the script passes on."""
    configure(tmp_path, example, "probe@contoso.com\nprobe@contoso.com\n")
    result = run_script(tmp_path)
    assert (result.returncode, result.stderr) == (0, ""), result
    checks = parse_output(result.stdout)
    assert list(checks) == ["MAPI check_mapi"]
    check = checks["MAPI check_mapi"]
    assert (check.state, check.metrics) == ("3", {})
    assert "listed twice" in check.summary, check.summary


def test_without_a_configuration(tmp_path: Path) -> None:
    result = run_script(tmp_path)
    assert (result.returncode, result.stderr) == (0, ""), result
    assert result.stdout == (f'3 "MAPI check_mapi" - no configuration {tmp_path}/check_mapi.ini'
                             " (copy check_mapi.ini.example there)\n")
    parse_output(result.stdout)


def test_another_configuration_file(example: Emulator, tmp_path: Path) -> None:
    """CHECK_MAPI_INI names the file instead of $MK_CONFDIR/check_mapi.ini."""
    configure(tmp_path, example, mailbox_lines(tmp_path, "probe@contoso.com"))
    (tmp_path / "check_mapi.ini").rename(tmp_path / "other.ini")
    result = run_script(tmp_path, CHECK_MAPI_INI=str(tmp_path / "other.ini"))
    assert (result.returncode, result.stderr) == (0, ""), result
    assert parse_output(result.stdout)["MAPI probe@contoso.com"].state == "0"


def test_without_the_plugin(tmp_path: Path) -> None:
    missing = tmp_path / "bin" / "check_mapi"
    result = run_script(tmp_path, plugin=missing)
    assert (result.returncode, result.stderr) == (0, ""), result
    assert result.stdout == (f'3 "MAPI check_mapi" - check_mapi is not installed at {missing}'
                             " (install it, or set CHECK_MAPI in this script)\n")
    parse_output(result.stdout)


def test_a_plugin_that_prints_nothing(tmp_path: Path) -> None:
    """A broken install (here: a plugin that dies silently) is still one valid line."""
    broken = tmp_path / "check_mapi"
    broken.write_text("#!/bin/sh\nexit 127\n")
    broken.chmod(0o755)
    private(tmp_path / "check_mapi.ini", "[checkmk]\n")
    result = run_script(tmp_path, plugin=broken)
    assert (result.returncode, result.stderr) == (0, ""), result
    assert result.stdout == '3 "MAPI check_mapi" - check_mapi printed nothing (exit code 127)\n'
    parse_output(result.stdout)


@pytest.mark.parametrize("line", [
    '0 "MAPI a@x" mapi_connect_time=0.5;2;5;0|mapi_availability=1;;;0;1 a@x logged on',
    '2 "MAPI b@x" - b@x: logon failed\\nlong line\\nanother',
    'P "MAPI c@x" humidity=37;40:60;30:70 text',
    'cached(1700000000,300) 3 "MAPI check_mapi" - no configuration'])
def test_the_parser_takes_the_documented_forms(line: str) -> None:
    parse_line(line)


@pytest.mark.parametrize("line", [
    '0 "MAPI a@x" mapi_connect_time=1e-05;2;5 text',  # an exponent
    '0 "MAPI a@x" a=1,b=2 text',  # metrics joined by commas, not |
    '4 "MAPI a@x" - text',  # no such state
    '0 MAPI a@x - text',  # a space in an unquoted name
    '0 "MAPI a@x" -',  # no text
    '0 "MAPI a@x" a=1;;;;; text'])  # too many fields
def test_the_parser_refuses_what_breaks_the_grammar(line: str) -> None:
    with pytest.raises(AssertionError):
        parse_line(line)
