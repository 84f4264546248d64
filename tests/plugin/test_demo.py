"""``check_mapi --demo``: every mailbox it lists shows what the README says it shows.

The README's demo block (``$ check_mapi --demo ...`` lines, each followed by its first
output line) is run as written, so the documented commands and their first lines cannot
drift; the demo's list of mailboxes must be exactly the ones the README shows.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from check_mapi.emulator import example_config, loads
from check_mapi.errors import ConfigError
from check_mapi.plugin.demo import DEMO_MAILBOX, demo_options, logon_of
from check_mapi.plugin.main import run

from ..plugin_output import Outcome

README = Path(__file__).resolve().parents[2] / "README.md"
STATES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
ELAPSED = re.compile(r"\d+\.\d\d s\b")  # "logged on in 0.01 s": the one varying part


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHECK_MAPI_PASSWORD", "CHECK_MAPI_TOKEN", "NAGIOS_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)


def demo(*argv: str) -> Outcome:
    code, output = run(["--demo", *argv])
    return Outcome(int(code), output)


def readme_examples() -> list[tuple[list[str], str]]:
    """(argv after ``check_mapi``, documented first line) of the README's demo block."""
    lines = README.read_text(encoding="utf-8").splitlines()
    found = []
    for n, line in enumerate(lines):
        if line.startswith("$ check_mapi --demo"):
            found.append((shlex.split(line)[2:], lines[n + 1]))
    return found


def listed_mailboxes() -> list[str]:
    outcome = demo("-m", "nosuch@x")
    assert outcome.code == 3
    head, sep, names = outcome.first_line.partition("; it has ")
    assert (head, sep) == ("MAPI UNKNOWN - --demo: the emulator has no mailbox nosuch@x",
                           "; it has ")
    return names.split(", ")


def test_the_readme_documents_a_command_for_every_listed_mailbox() -> None:
    examples = readme_examples()
    assert len(examples) == 8
    single = {argv[2] for argv, _ in examples if argv[:2] == ["--demo", "-m"]
              and argv.count("-m") == 1}
    assert listed_mailboxes() == [DEMO_MAILBOX, "legacy@contoso.com", "internal@contoso.com",
                                  "moved@contoso.com", "broken@contoso.com"]
    assert single | {DEMO_MAILBOX} == set(listed_mailboxes())
    assert any(argv.count("-m") > 1 for argv, _ in examples)  # the many-mailbox mode


@pytest.mark.parametrize(("argv", "documented"), readme_examples(),
                         ids=[" ".join(argv[1:]) for argv, _ in readme_examples()])
def test_each_readme_demo_command_prints_its_documented_first_line(
        argv: list[str], documented: str) -> None:
    outcome = demo(*argv[1:])  # argv[0] is --demo
    status, sep, rest = documented.partition(" | ")
    assert (sep, rest) == (" | ", "..."), documented
    assert outcome.code == STATES[status.split()[1]], outcome.output
    assert ELAPSED.sub("N s", outcome.status) == ELAPSED.sub("N s", status)
    mailboxes = argv.count("-m")
    perfdata = (rf" \| mailboxes={mailboxes};;;0 " if mailboxes > 1 else
                r" \| autodiscover_time=\S+ availability=[01];;;0;1 ")
    assert re.search(perfdata, outcome.first_line), outcome.first_line


def test_broken_shows_the_failing_step_in_the_trace() -> None:
    outcome = demo("-m", "broken@contoso.com", "-v")
    assert outcome.code == 2
    trace = [line.split(" ")[0] for line in outcome.long if not line.startswith(" ")]
    assert trace[1:6] == ["autodiscover:", "connect:", "logon:", "inbox:", "disconnect:"]
    assert re.fullmatch(r"logon: FAILED after \d+\.\d{3} s \(HTTP 200, X-ResponseCode 0\): "
                        r"RopLogon returned ecLoginFailure \(0x80040111\)", outcome.long[4])
    assert outcome.long[5] == "inbox: not run"
    assert outcome.long[6].startswith("disconnect: OK in ")  # the session is not left open


def test_internal_logs_on_through_the_internal_url() -> None:
    outcome = demo("-m", "internal@contoso.com", "-v")
    assert outcome.code == 0
    assert re.fullmatch(r"mailbox internal@contoso\.com at http://127\.0\.0\.1:\d+/mapi/emsmdb/"
                        r"\?MailboxId=\S+@contoso\.com \(auth basic, vantage internal: "
                        r"InternalUrl\)", outcome.long[0])


def test_moved_follows_the_redirect_and_logs_on_as_the_target_user() -> None:
    outcome = demo("-m", "moved@contoso.com", "-v")
    assert outcome.code == 0, outcome.output
    assert outcome.perfdata["inbox_items"] == "3;;;0"
    assert re.fullmatch(r"  POST http://127\.0\.0\.1:\d+/autodiscover/autodiscover\.xml: "
                        r"HTTP 200: redirectAddr to probe@contoso\.com", outcome.long[2])
    assert outcome.long[4] == "  settings are those of probe@contoso.com"
    assert outcome.long[5].startswith("connect: OK in ")
    assert outcome.long[5].endswith(", display name 'Probe Mailbox (Überwachung)'")


def test_the_plain_demo_as_a_subprocess() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECK_MAPI_")}
    proc = subprocess.run([sys.executable, "-m", "check_mapi", "--demo"], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert re.match(r"MAPI OK - probe@contoso\.com logged on in \d+\.\d\d s, Inbox 3 items \| "
                    r"autodiscover_time=\S+ availability=1;;;0;1 ", proc.stdout)


# -- demo_options itself ------------------------------------------------------------------------

def test_one_mailbox_gets_its_password_file() -> None:
    with demo_options([]) as running:
        options = running.options
        url = running.emulator.autodiscover_url
        password_file = options[options.index("--password-file") + 1]
        assert options == ["-m", DEMO_MAILBOX, "--autodiscover-url", url, "--password-file",
                           password_file, "--auth", "basic"]
        assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
        assert Path(password_file).read_text(encoding="utf-8") == "Probe-Passw0rd!\n"
    assert not Path(password_file).exists()  # the temporary directory is gone


def test_a_redirected_address_logs_on_as_the_user_it_leads_to() -> None:
    config = loads(example_config())
    moved = logon_of(config, "MOVED@contoso.com")
    assert (moved.address, moved.user, moved.password) == (
        "moved@contoso.com", "probe@contoso.com", "Probe-Passw0rd!")
    assert logon_of(config, "broken@contoso.com").user is None
    with demo_options(["moved@contoso.com"]) as running:
        assert running.options[4:6] == ["--username", "probe@contoso.com"]
        assert running.account == "probe@contoso.com"


def test_several_mailboxes_get_a_mailbox_file_with_a_password_file_each() -> None:
    wanted = ["probe@contoso.com", "moved@contoso.com", "broken@contoso.com"]
    with demo_options(wanted) as running:
        options = running.options
        mailbox_file = Path(options[1])
        assert options == ["--mailbox-file", str(mailbox_file), "--autodiscover-url",
                           running.emulator.autodiscover_url, "--auth", "basic"]
        lines = [shlex.split(line) for line in mailbox_file.read_text(encoding="utf-8")
                 .splitlines() if not line.startswith("#")]
        assert [words[0] for words in lines] == wanted
        overrides = [dict(word.split("=", 1) for word in words[1:]) for words in lines]
        assert [sorted(o) for o in overrides] == [
            ["password-file"], ["password-file", "username"], ["password-file"]]
        assert overrides[1]["username"] == "probe@contoso.com"
        files = [Path(o["password-file"]) for o in overrides]
        assert len(set(files)) == 3
        assert [f.read_text(encoding="utf-8") for f in files] == [
            "Probe-Passw0rd!\n", "Probe-Passw0rd!\n", "Broken-Passw0rd!\n"]
        for path in (mailbox_file, *files):
            assert path.parent == mailbox_file.parent
            assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(("mailboxes", "oauth", "message"), [
    (["probe@contoso.com", "broken@contoso.com"], True,
     "--demo --auth oauth takes one mailbox (-m); several mailboxes are demonstrated with "
     "Basic"),
    (["probe@contoso.com", "Probe@contoso.com"], False,
     "--demo: mailbox Probe@contoso.com is given twice"),
    (["probe@contoso.com", "nosuch@x"], False,
     "--demo: the emulator has no mailbox nosuch@x; it has probe@contoso.com, "
     "legacy@contoso.com, internal@contoso.com, moved@contoso.com, broken@contoso.com"),
])
def test_refused(mailboxes: list[str], oauth: bool, message: str) -> None:
    with pytest.raises(ConfigError) as caught, demo_options(mailboxes, oauth=oauth):
        pass
    assert str(caught.value) == message
