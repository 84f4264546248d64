"""The configuration format, its one-line errors, the example and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from check_mapi import metrics
from check_mapi.emulator import example_config, fault_steps, load, loads
from check_mapi.errors import ConfigError
from check_mapi.metrics import Metric

MINIMAL = '[[mailbox]]\nsmtp = "a@contoso.test"\n'


def test_example_config_loads_and_describes_every_feature() -> None:
    config = loads(example_config())
    assert [m.smtp for m in config.mailboxes] == [
        "probe@contoso.com", "legacy@contoso.com", "internal@contoso.com", "moved@contoso.com",
        "broken@contoso.com"]
    probe = config.mailboxes[0]
    assert probe.guid == uuid.UUID("416c6368-656d-794a-6f45-57615272456e")
    assert probe.mailbox_id == "416c6368-656d-794a-6f45-57615272456e@contoso.com"
    assert len(probe.inbox) == 3
    assert probe.inbox[2].sender_name is None  # the FlaggedPropertyRow item
    assert probe.inbox[1].subject == "Lunch? 🍕 ランチ"
    assert probe.inbox[0].received == datetime(2026, 1, 15, 8, 30, tzinfo=timezone.utc)
    assert probe.faults[0].step == "inbox" and probe.faults[0].latency_ms == 150
    assert config.mailboxes[1].mapi_http_enabled is False
    assert config.mailboxes[2].block_external is True
    assert config.mailboxes[3].redirect_addr == "probe@contoso.com"
    assert config.mailboxes[4].faults[0].rop_error == 0x80040111
    assert config.auth.methods == ("negotiate", "ntlm", "basic", "bearer")
    assert config.organization_mapi_http_enabled is True
    assert config.identity is not None and config.identity.tenant == "contoso.onmicrosoft.com"
    for line in example_config().splitlines():  # every setting is explained
        assert len(line) <= 100


def test_defaults() -> None:
    config = loads(MINIMAL)
    mailbox = config.mailboxes[0]
    assert mailbox.username == "a" and mailbox.display_name == "a"
    assert mailbox.guid == uuid.uuid5(uuid.NAMESPACE_URL, "mailto:a@contoso.test")
    assert mailbox.legacy_dn == ("/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)"
                                 f"/cn=Recipients/cn={mailbox.guid.hex}-a")
    assert mailbox.dn_prefix == "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)"
    assert mailbox.mapi_http_enabled is None
    assert config.server.pending_period_ms == 30000
    assert config.by_identity("CONTOSO\\A") is mailbox
    assert config.by_mailbox_id("{" + str(mailbox.guid).upper() + "}") is mailbox


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("false", False), ('"null"', None), ('"$null"', None)])
def test_mailbox_mapi_http_enabled_is_three_valued(value: str, expected: bool | None) -> None:
    config = loads(MINIMAL + f"mapi_http_enabled = {value}\n")
    assert config.mailboxes[0].mapi_http_enabled is expected


def test_generated_items() -> None:
    items = loads(MINIMAL + "generate_items = 3\n").mailboxes[0].inbox
    assert [i.subject for i in items] == ["Generated message 0", "Generated message 1",
                                          "Generated message 2"]


@pytest.mark.parametrize(("text", "message"), [
    ("", "mailbox: at least one [[mailbox]] is needed"),
    ("[[mailbox]]\n", "mailbox[0].smtp: missing"),
    ('[[mailbox]]\nsmtp = "nobody"\n', "mailbox[0].smtp: 'nobody' is not an SMTP address"),
    (MINIMAL + "pasword = 'x'\n", "mailbox[0].pasword: unknown key"),
    (MINIMAL + "password = 1\n", "mailbox[0].password: expected a string, got int"),
    (MINIMAL + "mapi_http_enabled = 'yes'\n",
     'mailbox[0].mapi_http_enabled: expected true, false or "null"'),
    (MINIMAL + "[[mailbox.fault]]\nstep = 'login'\n",
     "mailbox[0].fault[0].step: 'login' is not one of autodiscover, connect, logon, inbox, "
     "disconnect, ping"),
    (MINIMAL + "[[mailbox.fault]]\nstep = 'connect'\nerror_code = 'ecOops'\n",
     "mailbox[0].fault[0].error_code: unknown error code name 'ecOops' (use a name like "
     "ecLoginFailure or a number)"),
    (MINIMAL + "[[mailbox.fault]]\nstep = 'connect'\nhttp_status = 999\n",
     "mailbox[0].fault[0].http_status: 999 is not an HTTP status"),
    (MINIMAL + "[[mailbox.fault]]\nstep = 'connect'\nlatency_ms = -1\n",
     "mailbox[0].fault[0].latency_ms: must be at least 0"),
    (MINIMAL + "[[mailbox.inbox]]\nreceived = 'yesterday'\n",
     "mailbox[0].inbox[0].received: 'yesterday' is not an ISO 8601 date-time"),
    (MINIMAL + "[[mailbox.inbox]]\nread = 1\n",
     "mailbox[0].inbox[0].read: expected true or false, got int"),
    (MINIMAL + "mailbox_guid = 'x'\n", "mailbox[0].mailbox_guid: 'x' is not a GUID"),
    (MINIMAL + "legacy_dn = 'cn=x'\n", "mailbox[0].legacy_dn: must be ASCII and start with /o="),
    (MINIMAL + MINIMAL, "mailbox[1].smtp: 'a@contoso.test' is used twice"),
    ("[server]\npending_period_ms = 0\n" + MINIMAL, "server.pending_period_ms: must be at least 1"),
    ("[server]\nexternal_url = 'mail'\n" + MINIMAL,
     "server.external_url: 'mail' is not an http(s) URL"),
    ("[auth]\nmethods = ['kerberos']\n" + MINIMAL,
     "auth.methods: 'kerberos' is not one of negotiate, ntlm, basic, bearer"),
    ("[organisation]\n" + MINIMAL, "organisation: unknown key"),
    ("[[mailbox]\n", "not valid TOML: "),
])
def test_errors_are_one_line_and_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads(text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_fault_steps_are_read_from_the_metrics_table(monkeypatch: pytest.MonkeyPatch) -> None:
    token_fault = MINIMAL + "[[mailbox.fault]]\nstep = 'token'\n"
    assert fault_steps() == ("autodiscover", "connect", "logon", "inbox", "disconnect", "ping",
                             "adminapi")
    with pytest.raises(ConfigError, match=r"'token' is not one of .*disconnect, ping, adminapi$"):
        loads(token_fault)
    token = Metric("token", "token_time", "s", True, True, ("--token-warning",),
                   ("--token-critical",), True, 0, None, "token")
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, token))
    assert fault_steps() == ("autodiscover", "connect", "logon", "inbox", "disconnect", "token",
                             "ping", "adminapi")
    assert [f.step for f in loads(token_fault).mailboxes[0].faults] == ["token"]
    with pytest.raises(ConfigError) as caught:
        loads(MINIMAL + "[[mailbox.fault]]\nstep = 'login'\n")
    assert str(caught.value) == ("mailbox[0].fault[0].step: 'login' is not one of autodiscover, "
                                 "connect, logon, inbox, disconnect, token, ping, adminapi")
    # A row without fault=True (total, inbox_items) is no fault step; ping always is.
    for step in ("total", "inbox_items"):
        with pytest.raises(ConfigError, match=f"{step!r} is not one of"):
            loads(MINIMAL + f"[[mailbox.fault]]\nstep = '{step}'\n")
    ping = loads(MINIMAL + "[[mailbox.fault]]\nstep = 'ping'\n")
    assert ping.mailboxes[0].faults[0].step == "ping"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^cannot read .*missing\.toml"):
        load(tmp_path / "missing.toml")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_mapi.emulator", *args],
                          capture_output=True, text=True, timeout=30, check=False)


def test_cli_prints_the_example() -> None:
    done = run_cli("--example-config")
    assert (done.returncode, done.stdout, done.stderr) == (0, example_config(), "")


def test_cli_refuses_a_bad_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[mailbox]]\n")
    done = run_cli("--config", str(bad))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "emulator: mailbox[0].smtp: missing\n"


def test_cli_serves_the_example_until_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "example.toml"
    path.write_text(example_config(), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "check_mapi.emulator", "--listen", "127.0.0.1:0", "--config",
         str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("check_mapi emulator listening on http://127.0.0.1:")
        url = first.split()[-1]
        with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=5) as answer:
            assert json.load(answer)["open_sessions"] == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        out, err = process.stdout.read(), process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert err == ""
    assert out.splitlines()[0] == f"Autodiscover: {url}/autodiscover/autodiscover.xml"
    assert f"probe@contoso.com: {url}/mapi/emsmdb/?MailboxId=416c6368-" in out
