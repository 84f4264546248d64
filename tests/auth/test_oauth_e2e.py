"""Exchange Online against the emulator's identity provider, with the real msal: the one-time
device-code login, unattended checks, silent refresh, a revoked refresh token, the password
grant, and a warm run that neither imports msal nor asks the identity provider."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from check_mapi.emulator import Emulator
from check_mapi.plugin.main import run

from ..conftest import Emulators, Tls
from ..plugin_output import Outcome

SMTP = "probe@contoso.com"
PASSWORD = "0auth-S3ntinel-pw!"
TENANT = "contoso.onmicrosoft.com"


def config(access_seconds: int = 3600, extra: str = "") -> str:
    return f'''
[server]
pending_period_ms = 200
[auth]
methods = ["bearer"]
[identity]
tenant = "{TENANT}"
access_token_seconds = {access_seconds}
device_code_interval = 1
[[mailbox]]
smtp = "{SMTP}"
username = "probe"
password = "{PASSWORD}"
display_name = "Probe Mailbox"
{extra}
'''


def common(emulator: Emulator, tls: Tls, state: Path) -> list[str]:
    host = emulator.url.removeprefix("https://")
    return ["-m", SMTP, "--authority-host", host, "--tenant", TENANT, "--ca-file",
            str(tls.ca_pem), "--state-dir", str(state), "--autodiscover-url",
            emulator.autodiscover_url]


def oauth_login(emulator: Emulator, tls: Tls, state: Path) -> Outcome:
    """``--oauth-login`` in-process; a thread plays the user who enters the code."""
    def user() -> None:
        deadline = time.monotonic() + 20
        while not emulator.pending_device_codes() and time.monotonic() < deadline:
            time.sleep(0.05)
        emulator.approve_device_code(emulator.pending_device_codes()[0], SMTP)

    helper = threading.Thread(target=user)
    helper.start()
    outcome = Outcome(*run(["--oauth-login", *common(emulator, tls, state)]))
    helper.join()
    return outcome


def check(emulator: Emulator, tls: Tls, state: Path, *argv: str,
          env: dict[str, str] | None = None) -> Outcome:
    return Outcome(*run(["--auth", "oauth", *common(emulator, tls, state), *argv],
                        env=env or {}))


def token_requests(emulator: Emulator) -> int:
    counts = emulator.stats().identity_requests
    return sum(n for name, n in counts.items() if name.startswith("token"))


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    return folder


def test_login_once_then_unattended_checks(start: Emulators, tls: Tls, state: Path) -> None:
    emulator = start(config(), tls=tls)
    login = oauth_login(emulator, tls, state)
    assert login.code == 0, login.output
    assert login.first_line == f"logged in as {SMTP} ({emulator.authority}, client " \
                               "d3590ed6-52b3-4102-aeff-aad2292ab01c)"
    store = next((state / "tokens").glob("*.json"))
    assert store.stat().st_mode & 0o777 == 0o600
    assert f"token store: {store} (mode 0600)" in login.output
    after_login = token_requests(emulator)
    for _ in range(20):
        outcome = check(emulator, tls, state)
        assert outcome.code == 0, outcome.output
        assert outcome.status.startswith(f"MAPI OK - {SMTP} logged on in ")
        assert outcome.perfdata["token_time"] == "U;;;0"  # the stored token was still valid
    assert token_requests(emulator) == after_login
    assert emulator.stats().open_sessions == 0


def test_expiry_refreshes_silently(start: Emulators, tls: Tls, state: Path) -> None:
    emulator = start(config(access_seconds=30), tls=tls)  # below the 60 s margin
    assert oauth_login(emulator, tls, state).code == 0
    before = emulator.stats().identity_requests.get(
        "token:refresh_token", 0)
    for _ in range(3):
        outcome = check(emulator, tls, state, "-v")
        assert outcome.code == 0, outcome.output
        assert re.fullmatch(r"[\d.]+s;;;0", outcome.perfdata["token_time"])
        assert "(auth oauth, vantage external" in outcome.long[0]
    assert emulator.stats().identity_requests[
        "token:refresh_token"] == before + 3


def test_revoked_refresh_token_says_how_to_log_in_again(start: Emulators, tls: Tls,
                                                        state: Path) -> None:
    emulator = start(config(access_seconds=30), tls=tls)
    assert oauth_login(emulator, tls, state).code == 0
    emulator.revoke_refresh_tokens(SMTP)
    outcome = check(emulator, tls, state)
    assert outcome.code == 2
    assert re.fullmatch(
        rf"MAPI CRITICAL - {re.escape(SMTP)}: token failed: the identity provider refused "
        r"the stored refresh token \(AADSTS50173: [^.]+\): log in again: check_mapi "
        rf"--oauth-login -m {re.escape(SMTP)}", outcome.status)
    assert "token_time" in outcome.perfdata and outcome.perfdata["availability"] == "0;;;0;1"


def test_no_login_yet(start: Emulators, tls: Tls, state: Path) -> None:
    emulator = start(config(), tls=tls)
    outcome = check(emulator, tls, state)
    assert outcome.code == 2
    assert outcome.status.startswith(f"MAPI CRITICAL - {SMTP}: token failed: no OAuth login "
                                     f"for {SMTP} in the token store ")
    assert outcome.status.endswith(f"log in again: check_mapi --oauth-login -m {SMTP}")


def test_password_grant(start: Emulators, tls: Tls, state: Path) -> None:
    emulator = start(config(), tls=tls)
    outcome = Outcome(*run(["--auth", "oauth-password", *common(emulator, tls, state), "-v"],
                           env={"CHECK_MAPI_PASSWORD": PASSWORD}))
    assert outcome.code == 0, outcome.output
    assert outcome.long[1].startswith("auth: the username/password grant is deprecated")
    assert "token_time" in outcome.perfdata
    assert PASSWORD not in outcome.output
    mfa = start(config(extra="mfa_required = true"), tls=tls)
    refused = Outcome(*run(["--auth", "oauth-password", *common(mfa, tls, state)],
                           env={"CHECK_MAPI_PASSWORD": PASSWORD}))
    assert refused.code == 2
    assert refused.status.startswith(f"MAPI CRITICAL - {SMTP}: token failed: the identity "
                                     "provider requires interaction (MFA or Conditional "
                                     "Access: AADSTS50076")


WARM = """
import json, sys
from check_mapi.plugin.main import run
code, output = run(sys.argv[2:])
with open(sys.argv[1], "w") as handle:
    json.dump({"code": int(code), "output": output, "modules": sorted(sys.modules)}, handle)
"""


def test_a_warm_run_needs_neither_msal_nor_the_identity_provider(
        start: Emulators, tls: Tls, state: Path, tmp_path: Path) -> None:
    emulator = start(config(), tls=tls)
    assert oauth_login(emulator, tls, state).code == 0
    before = emulator.stats().identity_requests
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-c", WARM, str(report), "--auth", "oauth",
                           *common(emulator, tls, state), "-vvv"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("CHECK_MAPI")})
    assert proc.stderr == ""
    result = json.loads(report.read_text())
    assert result["code"] == 0, result["output"]
    assert [m for m in result["modules"] if m.split(".")[0] in ("msal", "requests")] == []
    assert emulator.stats().identity_requests == before
    stored = json.loads(next((state / "tokens").glob("*.json")).read_text())
    for secret in (stored["access_token"], PASSWORD):
        assert secret not in result["output"]


def test_concurrent_checks_of_one_identity_refresh_once(start: Emulators, tls: Tls,
                                                       state: Path) -> None:
    """Thirty checks at once find the stored token expired: one refreshes under the store's
    lock, the others wait and use its token; all OK, the store intact."""
    emulator = start(config(), tls=tls)
    assert oauth_login(emulator, tls, state).code == 0
    store = next((state / "tokens").glob("*.json"))
    record = json.loads(store.read_text())
    record["expires_on"] = time.time() - 1
    store.write_text(json.dumps(record))
    before = emulator.stats().identity_requests.get(
        "token:refresh_token", 0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECK_MAPI")}
    processes = [subprocess.Popen([sys.executable, "-m", "check_mapi", "--auth", "oauth",
                                   *common(emulator, tls, state), "-t", "60"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env) for _ in range(30)]
    results = [process.communicate(timeout=90) for process in processes]
    assert [p.returncode for p in processes] == [0] * 30, results
    assert all(out.startswith(f"MAPI OK - {SMTP}") and err == "" for out, err in results)
    assert emulator.stats().identity_requests[
        "token:refresh_token"] == before + 1
    assert json.loads(store.read_text())["expires_on"] > time.time() + 600
    assert store.stat().st_mode & 0o777 == 0o600


def test_an_app_only_token_is_refused_with_the_reason(start: Emulators, tls: Tls) -> None:
    """A certificate app's token (client credentials: roles, no scp) cannot open a mailbox;
    the status line passes on Exchange's reason instead of blaming a password."""
    import msal

    from ..emulator.idp_helpers import APP_ID, PROBE, RoutedSession, credential, idp_config

    emulator = start(idp_config(auth='["bearer"]'), tls=tls)
    app = msal.ConfidentialClientApplication(
        APP_ID, client_credential=credential().msal(), authority=emulator.authority,
        instance_discovery=False, http_client=RoutedSession(emulator, tls))
    token = app.acquire_token_for_client(["https://outlook.office365.com/.default"])
    assert "access_token" in token, token
    box = emulator.config.by_smtp(PROBE)
    assert box is not None
    outcome = Outcome(*run(["-m", PROBE, "--url", emulator.mapi_url(PROBE), "--legacy-dn",
                            box.legacy_dn, "--ca-file", str(tls.ca_pem), "-vvv"],
                           env={"CHECK_MAPI_TOKEN": token["access_token"]}))
    assert outcome.code == 2
    assert re.fullmatch(rf"MAPI CRITICAL - {re.escape(PROBE)}: connect failed: HTTP 401 "
                        r"Unauthorized: credentials refused \(server offers Bearer\); server "
                        r"says: .*app-only.*", outcome.status), outcome.status
    assert token["access_token"] not in outcome.output


def test_the_oauth_demo() -> None:
    """``--demo --auth oauth``: TLS, the device-code login approved by the demo itself, then
    a check that refreshes the token silently and logs on with it."""
    outcome = Outcome(*run(["--demo", "--auth", "oauth", "-v"]))
    assert outcome.code == 0, outcome.output
    assert outcome.status.startswith(f"MAPI OK - {SMTP} logged on in ")
    assert re.fullmatch(r"[\d.]+s;;;0", outcome.perfdata["token_time"])
    assert outcome.long[1].startswith("token: OK in ")
    assert outcome.long[2].startswith("autodiscover: OK in ")
