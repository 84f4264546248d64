"""``--settings-from exo`` end to end: the plugin reads the settings live through the
emulator's admin API (certificate app, real msal), feeds them to the resolver, detects drift
against Autodiscover, caches them, and turns a failure into a WARNING, never a failed logon.
The PFX passphrase never appears in the output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from check_mapi.emulator import Emulator
from check_mapi.plugin.main import run

from ..conftest import Emulators, Tls
from ..emulator.idp_helpers import APP_ID, TENANT, credential
from ..emulator.test_emulator_admin import OTHER_APP
from ..plugin_output import Outcome

SMTP = "probe@contoso.com"
PASSWORD = "Mailbox-S3ntinel-pw!"
SENTINEL = "Pfx-S3ntinel-passphrase"


def config(mapi_enabled: bool) -> str:
    cert = credential().cert_pem
    return f'''
[server]
pending_period_ms = 200
[auth]
methods = ["basic"]
[identity]
tenant = "{TENANT}"
[[identity.app]]
client_id = "{APP_ID}"
certificates = [\'\'\'{cert}\'\'\']
roles = ["Exchange.ManageAsApp"]
[[identity.app]]
client_id = "{OTHER_APP}"
certificates = [\'\'\'{cert}\'\'\']
[[mailbox]]
smtp = "{SMTP}"
username = "probe"
password = "{PASSWORD}"
mapi_enabled = {str(mapi_enabled).lower()}
'''


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    key, cert = tmp_path / "app.key", tmp_path / "app.crt"
    key.write_text(credential().key_pem)
    cert.write_text(credential().cert_pem)
    pfx = tmp_path / "app.pfx"
    key_object = serialization.load_pem_private_key(credential().key_pem.encode(), None)
    assert isinstance(key_object, rsa.RSAPrivateKey)
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(
        b"app", key_object, x509.load_pem_x509_certificate(credential().cert_pem.encode()),
        None, serialization.BestAvailableEncryption(SENTINEL.encode())))
    good, bad = tmp_path / "pass", tmp_path / "bad"
    good.write_text(SENTINEL + "\n")
    bad.write_text(SENTINEL + "-wrong\n")
    return {"state": state, "key": key, "cert": cert, "pfx": pfx, "pass": good, "bad": bad}


def check(emu: Emulator, tls: Tls, files: dict[str, Path], *argv: str,
          app_id: str = APP_ID) -> Outcome:
    host = emu.url.removeprefix("https://")
    return Outcome(*run(["-m", SMTP, "--auth", "basic", "--password", PASSWORD,
                         "--ca-file", str(tls.ca_pem), "--state-dir", str(files["state"]),
                         "--autodiscover-url", emu.autodiscover_url, "--settings-from", "exo",
                         "--tenant", TENANT, "--app-id", app_id, "--authority-host", host,
                         "--admin-url", emu.url, "-v", *argv], env={}))


def test_live_settings_detect_drift_then_come_from_the_cache(
        start: Emulators, tls: Tls, files: dict[str, Path]) -> None:
    emu = start(config(mapi_enabled=False), tls=tls)
    pem = ("--cert-key", str(files["key"]), "--cert-file", str(files["cert"]))
    first = check(emu, tls, files, *pem)
    assert first.code == 1, first.output
    assert first.status.startswith(
        f"MAPI WARNING - {SMTP}: configuration drift: settings resolve to no MAPI connection "
        "(MAPIEnabled=$false) but Autodiscover offers MAPI over HTTP")
    assert re.fullmatch(r"\d+\.\d+s;;;0", first.perfdata["settings_time"])
    lines = first.output.splitlines()
    assert any(line.startswith("settings: OK in ") for line in lines)
    assert ("settings: mailbox MAPIEnabled=$false: read live: Get-CASMailbox (just now)"
            in lines)
    assert any("Exchange Online rules" in line for line in lines)
    second = check(emu, tls, files, *pem)
    assert second.code == 1
    assert second.perfdata["settings_time"] == "U;;;0"  # from the cache: not read, not timed
    assert sorted(second.perfdata) == sorted(first.perfdata)
    assert any(line.startswith("settings: mailbox MAPIEnabled=$false: read live: "
                               "Get-CASMailbox (cached ") for line in second.output.splitlines())


def test_enabled_mailbox_logs_on(start: Emulators, tls: Tls, files: dict[str, Path]) -> None:
    emu = start(config(mapi_enabled=True), tls=tls)
    outcome = check(emu, tls, files, "--cert-pfx", str(files["pfx"]),
                    "--cert-pfx-passphrase-file", str(files["pass"]))
    assert outcome.code == 0, outcome.output
    assert outcome.status.startswith(f"MAPI OK - {SMTP} logged on in")
    assert SENTINEL not in outcome.output and PASSWORD not in outcome.output


@pytest.mark.parametrize("case", ["no-role", "wrong-passphrase"])
def test_a_failure_to_read_is_a_warning_not_a_failed_logon(
        start: Emulators, tls: Tls, files: dict[str, Path], case: str) -> None:
    emu = start(config(mapi_enabled=True), tls=tls)
    if case == "no-role":
        outcome = check(emu, tls, files, "--cert-key", str(files["key"]), "--cert-file",
                        str(files["cert"]), app_id=OTHER_APP)
        reason = "HTTP 403"
    else:
        outcome = check(emu, tls, files, "--cert-pfx", str(files["pfx"]),
                        "--cert-pfx-passphrase-file", str(files["bad"]))
        reason = "wrong passphrase"
    assert outcome.code == 1, outcome.output
    assert outcome.status.startswith(f"MAPI WARNING - {SMTP} logged on in")
    assert "cannot read the Exchange Online settings" in outcome.status
    assert reason in outcome.status
    assert any(line.startswith("settings: FAILED") for line in outcome.output.splitlines())
    assert SENTINEL not in outcome.output and PASSWORD not in outcome.output


@pytest.mark.parametrize(("argv", "message"), [
    (["--settings-from", "exo"], "--settings-from exo needs --tenant and --app-id"),
    (["--settings-from", "exo", "--tenant", TENANT, "--app-id", APP_ID],
     "--settings-from exo needs --cert-key and --cert-file, or --cert-pfx"),
    (["--app-id", APP_ID], "--app-id and the certificate options need --settings-from exo"),
])
def test_option_errors(argv: list[str], message: str) -> None:
    code, output = run(["-m", SMTP, "--password", "x", *argv], env={})
    assert (code, output) == (3, f"MAPI UNKNOWN - {message}\n")
