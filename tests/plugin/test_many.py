"""Many mailboxes in one run: 50 mailboxes against the emulator with injected failures, the
time budget over the whole run, the summary, long output and perfdata, Checkmk lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from check_mapi.emulator import Emulator
from check_mapi.plugin.main import run

from ..checkmk_grammar import parse_output
from ..conftest import Emulators
from ..plugin_output import Outcome
from .many_helpers import PASSWORD, address, many_toml

PLUGIN = Path(sys.executable).parent / "check_mapi"
FAULTS = {7: 'step = "logon"\nrop_error = "ecLoginFailure"',
          13: 'step = "connect"\nhttp_status = 503\nretry_after = 30',
          21: 'step = "inbox"\nlatency_ms = 60000',  # outlives the run's -t
          34: 'step = "autodiscover"\nhttp_status = 500'}
MAILBOX_LABELS = {"autodiscover_time", "availability", "cert_days", "connect_time",
                  "disconnect_time", "inbox_items", "inbox_time", "logon_time", "total_time"}


def private(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def fifty(start: Emulators) -> Emulator:
    return start(many_toml(50, FAULTS, {42: 7}))


def options(emulator: Emulator, tmp_path: Path, mailboxes: str) -> list[str]:
    listing = private(tmp_path / "mailboxes", mailboxes)
    secret = private(tmp_path / "password", PASSWORD + "\n")
    return ["--mailbox-file", str(listing), "--password-file", str(secret),
            "--autodiscover-url", emulator.autodiscover_url, "--auth", "basic"]


def test_fifty_mailboxes_with_failures(fifty: Emulator, tmp_path: Path) -> None:
    listing = "# all of them\n" + "".join(f"{address(n)}\n" for n in range(50))
    argv = [str(PLUGIN), *options(fifty, tmp_path, listing), "-t", "4", "--items-warning", "5"]
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    took = time.monotonic() - began
    assert done.stderr == ""
    outcome = Outcome(done.returncode, done.stdout)
    assert outcome.code == 2
    assert outcome.status == (
        "MAPI CRITICAL - 4 of 50 mailboxes failed: m07@contoso.com (logon: ecLoginFailure), "
        "m13@contoso.com (connect: HTTP 503), m21@contoso.com (inbox: timed out), "
        "m34@contoso.com (autodiscover: HTTP 500 Internal Server Error); 1 WARNING: "
        "m42@contoso.com (inbox_items 7 outside range 0:5)")
    perf = outcome.perfdata
    assert list(perf) == ["mailboxes", "mailboxes_ok", "mailboxes_warning",
                          "mailboxes_critical", "mailboxes_unknown", "connect_time_max",
                          "connect_time_median"]
    assert (perf["mailboxes"], perf["mailboxes_ok"], perf["mailboxes_warning"],
            perf["mailboxes_critical"], perf["mailboxes_unknown"]) == (
        "50;;;0", "45;;;0;50", "1;;;0;50", "4;;;0;50", "0;;;0;50")
    assert re.fullmatch(r"\d+\.\d+s;;;0", perf["connect_time_max"])
    # the long output: every mailbox, the worst first, in the file's order within a state
    heads = [line for line in outcome.long if line.startswith("[")]
    assert heads[:5] == [
        "[CRITICAL] m07@contoso.com: logon failed: RopLogon returned ecLoginFailure "
        "(0x80040111)",
        "[CRITICAL] m13@contoso.com: connect failed: HTTP 503 Service Unavailable, "
        "Retry-After 30",
        "[CRITICAL] m21@contoso.com: inbox failed: timed out: the check's time budget ran out",
        "[CRITICAL] m34@contoso.com: autodiscover failed: HTTP 500 Internal Server Error",
        "[WARNING] m42@contoso.com logged on in " + heads[4].split(" logged on in ")[1]]
    assert re.fullmatch(r"\d+\.\d\d s, Inbox 7 items; inbox_items 7 outside range 0:5",
                        heads[4].split(" logged on in ")[1])
    ok = [n for n in range(50) if n not in (7, 13, 21, 34, 42)]
    assert [h.split()[1] for h in heads[5:]] == [address(n) for n in ok]
    assert all(h.startswith("[OK] ") for h in heads[5:])
    # each mailbox's own perfdata, on the last line: the same labels for every mailbox
    last = outcome.long[-1]
    assert last.startswith("| ")
    values = dict(item.split("=", 1) for item in last[2:].split())
    labels: dict[str, set[str]] = {}
    for key in values:
        mailbox, _, label = key.partition("::")
        labels.setdefault(mailbox, set()).add(label)
    assert list(labels) == [address(n) for n in range(50)]
    assert all(found == MAILBOX_LABELS for found in labels.values())
    assert values["m07@contoso.com::availability"] == "0;;;0;1"
    assert values["m07@contoso.com::inbox_time"] == "U;;;0"
    assert values["m00@contoso.com::availability"] == "1;;;0;1"
    assert values["m42@contoso.com::inbox_items"] == "7;5;;0"
    assert PASSWORD not in done.stdout
    # -t bounds the whole run, and the stalled session was disconnected
    assert took < 4.5
    assert fifty.stats().open_sessions == 0


def test_mailboxes_not_reached_in_time_are_timed_out(start: Emulators, tmp_path: Path
                                                     ) -> None:
    emulator = start(many_toml(6, {0: 'step = "inbox"\nlatency_ms = 60000'}))
    listing = "".join(f"{address(n)}\n" for n in range(6))
    outcome = Outcome(*run([*options(emulator, tmp_path, listing), "-t", "2",
                            "--parallel", "1"], started=time.monotonic()))
    assert outcome.code == 2
    assert outcome.status == (
        "MAPI CRITICAL - 6 of 6 mailboxes failed: m00@contoso.com (inbox: timed out), "
        "m01@contoso.com (autodiscover: timed out), m02@contoso.com (autodiscover: timed "
        "out), m03@contoso.com (autodiscover: timed out), m04@contoso.com (autodiscover: "
        "timed out) and 1 more")
    assert ("[CRITICAL] m05@contoso.com: autodiscover failed: timed out: the check's time "
            "budget ran out before this mailbox's turn") in outcome.long
    assert outcome.perfdata["connect_time_median"] == outcome.perfdata["connect_time_max"]
    assert emulator.stats().open_sessions == 0


def test_repeated_mailbox_options_probe_every_mailbox(start: Emulators, tmp_path: Path
                                                      ) -> None:
    """A repeated -m once probed only the last mailbox, with exit 0: never again."""
    emulator = start(many_toml(3, {1: 'step = "logon"\nrop_error = "ecLoginFailure"'}))
    secret = private(tmp_path / "password", PASSWORD)
    outcome = Outcome(*run(["-m", address(0), "-m", address(1), "-m", address(2),
                            "--password-file", str(secret), "--autodiscover-url",
                            emulator.autodiscover_url, "--auth", "basic"]))
    assert outcome.code == 2
    assert outcome.status == ("MAPI CRITICAL - 1 of 3 mailboxes failed: m01@contoso.com "
                              "(logon: ecLoginFailure)")


def test_all_ok_names_the_median_and_the_slowest(start: Emulators, tmp_path: Path) -> None:
    emulator = start(many_toml(3, {2: 'step = "connect"\nlatency_ms = 300'}))
    listing = "".join(f"{address(n)}\n" for n in range(3))
    outcome = Outcome(*run(options(emulator, tmp_path, listing)))
    assert outcome.code == 0
    match = re.fullmatch(r"MAPI OK - 3 of 3 mailboxes OK, connect median (\d+\.\d\d) s, "
                         r"slowest (\d+\.\d\d) s \(m02@contoso\.com\)", outcome.status)
    assert match, outcome.status
    assert float(match[2]) >= 0.3 > float(match[1])
    assert outcome.perfdata["mailboxes_ok"] == "3;;;0;3"
    assert outcome.long[:3] == [line for line in outcome.long if line.startswith("[OK] ")]


def test_mailbox_file_overrides(start: Emulators, tmp_path: Path) -> None:
    """Per-line credentials, an endpoint that skips Autodiscover, and expectations."""
    emulator = start(many_toml(3, {}).replace(f'password = "{PASSWORD}"\n',
                                              'password = "Other-Pa55"\n', 1))
    other = private(tmp_path / "other", "Other-Pa55\n")
    legacy_dn = emulator.config.by_smtp(address(2)).legacy_dn  # type: ignore[union-attr]
    listing = (f"{address(0)} password-file={other}  # its own password\n"
               f"{address(1)} username=m01\n"
               f"{address(2)} url={emulator.mapi_url(address(2))} legacy-dn='{legacy_dn}'\n")
    outcome = Outcome(*run([*options(emulator, tmp_path, listing), "-v"]))
    assert outcome.code == 0, outcome.output
    assert outcome.status.startswith("MAPI OK - 3 of 3 mailboxes OK, connect median ")
    values = dict(item.split("=", 1) for item in outcome.long[-1][2:].split())
    assert "m02@contoso.com::autodiscover_time" not in values  # --url skips Autodiscover
    assert values["m01@contoso.com::autodiscover_time"].endswith("s;;;0")


@pytest.mark.parametrize(("text", "reason"), [
    ("a@contoso.com colour=blue\n", "--mailbox-file {file}:1: 'colour=blue' is not key=value "
     "with a key of: username, password-file, token-file, auth, url, legacy-dn, "
     "autodiscover-url, vantage, org-mapihttp, topology, mailbox-mapihttp, block-external, "
     "mapi-enabled, platform, expect-protocol"),
    ("# x\na@contoso.com vantage=sideways\n", "--mailbox-file {file}:2: vantage='sideways' is "
     "not one of internal, external, auto"),
    ("a@contoso.com legacy-dn='/o=x\n", "--mailbox-file {file}:1: No closing quotation"),
    ("a@contoso.com auth=basic auth=ntlm\n", "--mailbox-file {file}:1: auth given twice"),
    ("a@contoso.com\nA@contoso.com\n", "mailbox A@contoso.com is listed twice ({file}:1 and "
     "{file}:2)"),
    ("# nobody\n\n", "missing -m/--mailbox: {file} lists no mailbox"),
])
def test_mailbox_file_errors_are_unknown(tmp_path: Path, text: str, reason: str) -> None:
    listing = tmp_path / "mailboxes"
    listing.write_text(text, encoding="utf-8")
    code, output = run(["--mailbox-file", str(listing)], env={"CHECK_MAPI_PASSWORD": "x"})
    assert (code, output) == (3, f"MAPI UNKNOWN - {reason.format(file=listing)}\n")


def test_mailbox_file_must_be_a_small_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes it: reading it would hang
    big = tmp_path / "big"
    big.write_bytes(b"a@contoso.com\n" * 80_000)
    latin = tmp_path / "latin"
    latin.write_bytes(b"m\xfcller@contoso.com\n")
    env = {"CHECK_MAPI_PASSWORD": "x"}
    for path, reason in ((fifo, f"--mailbox-file {fifo} is a FIFO, not a regular file"),
                         (tmp_path, f"--mailbox-file {tmp_path} is a directory, not a regular "
                                    "file"),
                         (big, f"--mailbox-file {big} is larger than 1 MiB"),
                         (latin, f"--mailbox-file {latin} is not UTF-8 text (byte 1)"),
                         (tmp_path / "none", f"cannot read --mailbox-file {tmp_path / 'none'}"
                                             ": No such file or directory")):
        assert run(["--mailbox-file", str(path)], env=env) == (3, f"MAPI UNKNOWN - {reason}\n")


def test_a_bad_override_names_its_line(start: Emulators, tmp_path: Path) -> None:
    emulator = start(many_toml(1, {}))
    listing = f"{address(0)}\n{address(1)} password-file={tmp_path / 'nothing'}\n"
    code, output = run(options(emulator, tmp_path, listing))
    assert (code, output.splitlines()[0]) == (
        3, f"MAPI UNKNOWN - {tmp_path / 'mailboxes'}:2 (m01@contoso.com): cannot read "
           f"password file {tmp_path / 'nothing'}: No such file or directory")


SPECIAL = "o'brien+ops=1@contoso.com"  # legal in an SMTP local part, not in a service name


def test_checkmk_lines_for_every_state(start: Emulators, tmp_path: Path) -> None:
    """OK, WARNING, CRITICAL and UNKNOWN lines, a mailbox with characters Checkmk refuses in
    service names, and a DOMAIN\\user in the text: every line parses by the grammar."""
    toml = many_toml(4, {1: 'step = "logon"\nrop_error = "ecLoginFailure"',
                         3: 'step = "inbox"\nlatency_ms = 60000'}, {2: 9})
    toml += (f'[[mailbox]]\nsmtp = "{SPECIAL}"\nusername = "obrien"\npassword = "wrong"\n')
    emulator = start(toml)
    listing = "".join(f"{address(n)}\n" for n in range(4))
    listing += f"\"{SPECIAL}\" username='CONTOSO\\obrien'\n"
    code, output = run([*options(emulator, tmp_path, listing), "--output", "checkmk",
                        "--items-warning", "5", "--timeout-state", "unknown", "-t", "3"])
    checks = parse_output(output)
    assert code == 3
    assert list(checks) == [f"MAPI {address(n)}" for n in range(4)] + [
        "MAPI o_brien+ops_1@contoso.com"]
    states = [check.state for check in checks.values()]
    assert states == ["0", "2", "1", "3", "2"]
    bad = checks["MAPI o_brien+ops_1@contoso.com"]
    assert "CONTOSO\u2216obrien" in output and "CONTOSO\\obrien" not in output
    assert bad.metrics["mapi_availability"].value == "0"
    assert "mapi_inbox_time" not in bad.metrics  # not measured: left out, Checkmk has no U
    warn = checks[f"MAPI {address(2)}"]
    assert warn.metrics["mapi_inbox_items"].value == "9"
    assert warn.metrics["mapi_inbox_items"].warn == "5"
    assert warn.summary.endswith("Inbox 9 items; inbox_items 9 outside range 0:5")
    assert checks[f"MAPI {address(3)}"].summary == (
        f"{address(3)}: inbox failed: timed out: the check's time budget ran out")
    assert checks[f"MAPI {address(1)}"].details  # the step trace after \n
    assert PASSWORD not in output


def test_checkmk_argument_error_is_one_unknown_line() -> None:
    code, output = run(["--output", "checkmk", "--rows", "0", "-m", "a@contoso.com"],
                       env={"CHECK_MAPI_PASSWORD": "x"})
    assert (code, output) == (3, '3 "MAPI check_mapi" - --rows 0: give 1 to 100\n')
    assert parse_output(output)["MAPI check_mapi"].state == "3"
