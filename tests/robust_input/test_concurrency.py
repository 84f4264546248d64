"""50 check_mapi processes at once against one emulator, sharing one state directory: the
Autodiscover cache (Basic, ``--autodiscover-cache``) and the OAuth token store (``--auth
oauth`` through the emulator's identity provider; the stored access token expired, so that
the first run refreshes it under the store's lock while the others wait and then use it)
are read and written concurrently. Every run must give its mailbox's own result, every
file stay private and whole, no temporary file stay behind, and no session stay open."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from check_mapi.emulator import Emulator

from ..auth.test_oauth_e2e import oauth_login
from ..conftest import Emulators, Tls

PLUGIN = Path(sys.executable).parent / "check_mapi"
PASSWORD = "C0ncurrent-Sentinel-pw!"
TENANT = "contoso.onmicrosoft.com"
OAUTH = "probe@contoso.com"  # the only mailbox the oauth runs use (oauth_login's)
TIME = r"\d+\.\d\d"
# Each run's -t. Unloaded, the 50 runs end within ~20 s; the budget is far above that so
# that a busy CI host (2 CPUs, 50 interpreters, the emulator in this process) slows the
# test down rather than making a waiting run's token-lock share run out.
BUDGET = 120

ITEM = '[[mailbox.inbox]]\nsubject = "Hello"\nreceived = 2026-01-15T08:30:00Z\n'
CONFIG = f'''
[server]
pending_period_ms = 100
[auth]
methods = ["basic", "bearer"]
[identity]
tenant = "{TENANT}"
access_token_seconds = 3600
device_code_interval = 1
[[mailbox]]
smtp = "{OAUTH}"
username = "probe"
password = "{PASSWORD}"
{ITEM}
[[mailbox]]
smtp = "one@contoso.com"
username = "one"
password = "{PASSWORD}"
{ITEM}{ITEM}
[[mailbox]]
smtp = "slow@contoso.com"
username = "slow"
password = "{PASSWORD}"
[[mailbox.fault]]
step = "connect"
latency_ms = 400
[[mailbox]]
smtp = "busy@contoso.com"
username = "busy"
password = "{PASSWORD}"
[[mailbox.fault]]
step = "connect"
http_status = 503
[[mailbox]]
smtp = "denied@contoso.com"
username = "denied"
password = "{PASSWORD}"
[[mailbox.fault]]
step = "logon"
rop_error = "ecLoginFailure"
'''

# The first line each mailbox must give, whichever process runs first.
EXPECTED = {
    "one@contoso.com": (0, rf"MAPI OK - one@contoso\.com logged on in {TIME} s, Inbox 2 items"),
    "slow@contoso.com": (0, rf"MAPI OK - slow@contoso\.com logged on in {TIME} s, Inbox 0 "
                            "items"),
    "busy@contoso.com": (2, r"MAPI CRITICAL - busy@contoso\.com: connect failed: HTTP 503 "
                            "Service Unavailable"),
    "denied@contoso.com": (2, r"MAPI CRITICAL - denied@contoso\.com: logon failed: RopLogon "
                              r"returned ecLoginFailure \(0x80040111\)"),
    OAUTH: (0, rf"MAPI OK - probe@contoso\.com logged on in {TIME} s, Inbox 1 item"),
}
BASIC = [box for box in EXPECTED if box != OAUTH]


def argv(emulator: Emulator, tls: Tls, state: Path, mailbox: str) -> list[str]:
    common = ["-m", mailbox, "--state-dir", str(state), "--ca-file", str(tls.ca_pem),
              "--autodiscover-url", emulator.autodiscover_url, "-t", str(BUDGET)]
    if mailbox == OAUTH:
        host = emulator.url.removeprefix("https://")
        return [str(PLUGIN), "--auth", "oauth", "--authority-host", host, "--tenant", TENANT,
                *common]
    return [str(PLUGIN), "--auth", "basic", "--autodiscover-cache", "300", *common]


def expire_access_token(state: Path) -> None:
    """What the one-time login stored, with its access token past expiry (the file keeps its
    mode: rewritten in place)."""
    store = next((state / "tokens").glob("*.json"))
    with store.open("r+", encoding="utf-8") as handle:
        record = json.load(handle)
        record["expires_on"] = 0.0
        handle.seek(0)
        handle.truncate()
        json.dump(record, handle)


def run_all(emulator: Emulator, tls: Tls, state: Path, mailboxes: list[str]
            ) -> list[tuple[str, int, str, str]]:
    """Start every process before waiting for any; (mailbox, exit code, stdout, stderr)."""
    env = {**os.environ, "CHECK_MAPI_PASSWORD": PASSWORD}
    procs = [(box, subprocess.Popen(argv(emulator, tls, state, box), env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)) for box in mailboxes]
    done = []
    for box, proc in procs:
        out, err = proc.communicate(timeout=BUDGET + 30)
        done.append((box, proc.returncode, out, err))
    return done


def unreadable_or_public(state: Path) -> list[str]:
    """Every entry under the state directory that is not private (0700 directories, 0600
    files), a leftover temporary file (statefile.py writes ``.<name>.*.tmp`` and renames
    it), or a ``.json`` that does not parse as a JSON object."""
    bad = []
    for path in [state, *state.rglob("*")]:
        mode = path.stat().st_mode
        want = 0o700 if stat.S_ISDIR(mode) else 0o600
        if stat.S_IMODE(mode) != want or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            bad.append(f"{path}: mode {oct(mode)}")
        if path.name.startswith(".") or path.name.endswith(".tmp"):
            bad.append(f"{path}: left behind")
        elif path.suffix == ".json" and not isinstance(
                json.loads(path.read_text(encoding="utf-8")), dict):
            bad.append(f"{path}: not a JSON object")
    return bad


def wrong_results(results: list[tuple[str, int, str, str]]
                  ) -> list[tuple[str, int, str, str]]:
    """The runs whose exit code or status line is not their mailbox's, or that wrote to
    stderr."""
    wrong = []
    for box, code, out, err in results:
        want_code, want_line = EXPECTED[box]
        status = (out.splitlines() or [""])[0].partition(" | ")[0]
        if code != want_code or not re.fullmatch(want_line, status) or err:
            wrong.append((box, code, out, err))
    return wrong


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    return folder


def test_fifty_processes_share_one_state_directory(start: Emulators, tls: Tls,
                                                   state: Path) -> None:
    emulator = start(CONFIG, tls=tls)
    login = oauth_login(emulator, tls, state)
    assert login.code == 0, login.output
    expire_access_token(state)
    mailboxes = [OAUTH if n % 5 == 4 else BASIC[n % 4] for n in range(50)]
    started = time.monotonic()
    results = run_all(emulator, tls, state, mailboxes)
    took = time.monotonic() - started
    wrong = wrong_results(results)
    assert wrong == [], (len(wrong), took, emulator.stats(), wrong[:2])
    assert took < BUDGET + 5  # every process kept its budget
    assert unreadable_or_public(state) == []
    assert len(list(state.glob("autodiscover-*.json"))) >= 2  # one@ and slow@ at least
    assert len(list((state / "tokens").glob("*.json"))) == 1
    stats = emulator.stats()
    assert stats.open_sessions == 0
    assert stats.sessions_created == stats.sessions_disconnected == 40  # busy@ gets none
    assert stats.http_statuses.get("503") == 10
    assert stats.identity_requests["token:refresh_token"] >= 1  # at least the first run
    assert set(stats.identity_errors) <= {"70016"}  # the login's authorization_pending
    assert stats.errors == 0

    # What the concurrent runs wrote is usable: a later run of each kind takes its
    # Autodiscover answer from the cache (oauth runs have none) and its token from the store.
    again = run_all(emulator, tls, state, ["one@contoso.com", OAUTH])
    assert [(box, code, err) for box, code, _, err in again] == [
        ("one@contoso.com", 0, ""), (OAUTH, 0, "")], again
    after = emulator.stats()
    assert after.requests["autodiscover"] == stats.requests["autodiscover"] + 1
    assert after.identity_requests == stats.identity_requests
    assert after.open_sessions == 0
    assert unreadable_or_public(state) == []
