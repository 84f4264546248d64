"""What the transport cannot see: a name lookup that never answers (bounded by the deadline
through a helper thread), and the SIGALRM backstop, which only a bug can reach and which
still ends in the normal output, naming the step that was running."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from check_mapi.deadline import Budget
from check_mapi.plugin.main import run
from check_mapi.probe.result import ProbeResult
from check_mapi.settings import MailboxSettings, RunSettings
from check_mapi.transport.client import Verify

from ..plugin_output import Outcome
from .conftest import LEGACY_DN, PASSWORD, SMTP


def test_a_name_lookup_that_never_answers_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def silent_dns(*args: object, **kwargs: object) -> object:
        release.wait(30)  # a resolver that does not answer
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", silent_dns)
    monkeypatch.setenv("CHECK_MAPI_PASSWORD", PASSWORD)
    began = time.monotonic()
    try:
        outcome = Outcome(*run(["-m", SMTP, "--url", "https://mail.contoso.example/mapi/emsmdb/",
                                "--legacy-dn", LEGACY_DN, "-t", "1"]))
    finally:
        release.set()
    assert time.monotonic() - began < 1.0
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: connect failed: timed out: the "
                              "check's time budget ran out")
    assert outcome.perfdata["availability"] == "0;;;0;1"


def test_the_backstop_goes_through_the_normal_output(monkeypatch: pytest.MonkeyPatch) -> None:
    def stuck(run: RunSettings, mailbox: MailboxSettings, budget: Budget, verify: Verify,
              result: ProbeResult) -> ProbeResult:
        result.timings["connect"] = 0.01
        result.running = "logon"
        time.sleep(5)  # a bug: outside any network operation, so no deadline applies
        return result

    monkeypatch.setattr("check_mapi.plugin.runner.run_probe", stuck)
    monkeypatch.setenv("CHECK_MAPI_PASSWORD", PASSWORD)
    began = time.monotonic()
    outcome = Outcome(*run(["-m", SMTP, "--url", "https://mail.contoso.example/mapi/emsmdb/",
                            "--legacy-dn", LEGACY_DN, "-t", "1", "--timeout-state",
                            "warning"]))
    assert time.monotonic() - began < 1.1
    assert outcome.code == 1
    assert outcome.first_line == (f"MAPI WARNING - {SMTP}: logon failed: timed out: the "
                                  "check's time budget ran out | availability=0;;;0;1 "
                                  "cert_days=U connect_time=0.01s;;;0 disconnect_time=U;;;0 "
                                  "inbox_items=U;;;0 inbox_time=U;;;0 logon_time=U;;;0 "
                                  "total_time=U;;;0")  # https --url: cert_days, U here
