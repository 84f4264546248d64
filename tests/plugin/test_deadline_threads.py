"""The deadline in worker threads (no SIGALRM there): probes of several mailboxes at once,
each stalled by a server that keeps sending PENDING, all end at their deadline with the
step named, and every session that was connected is disconnected."""

from __future__ import annotations

import threading
import time

from check_mapi.deadline import Budget
from check_mapi.emulator import Emulator, loads
from check_mapi.errors import TransportTimeoutError
from check_mapi.probe.driver import run_probe
from check_mapi.probe.result import ProbeResult
from check_mapi.settings import AuthSpec, MailboxSettings, RunSettings, Secret

from .conftest import BASE, GUID, LEGACY_DN, PASSWORD, SMTP

BUDGET = 1.5
STALL = '[[mailbox.fault]]\nstep = "inbox"\npending_forever = true\n'


def test_probes_in_threads_end_at_their_deadline() -> None:
    with Emulator(loads(BASE + STALL)) as emulator:
        mailbox = MailboxSettings(
            SMTP, AuthSpec("basic", None, Secret(PASSWORD, "test")),
            url=f"{emulator.url}/mapi/emsmdb/?MailboxId={GUID}@contoso.com",
            legacy_dn=LEGACY_DN)
        results: list[ProbeResult] = []
        ended: list[float] = []
        started = time.monotonic()
        budget = Budget(BUDGET, started)

        def probe() -> None:
            results.append(run_probe(RunSettings(timeout=BUDGET), mailbox, budget, True))
            ended.append(time.monotonic() - started)

        threads = [threading.Thread(target=probe) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BUDGET + 5)
        assert len(results) == 4
        assert max(ended) <= BUDGET  # the final deadline is 0.15 s before it
        for result in results:
            assert result.failed_step == "inbox"
            assert isinstance(result.error, TransportTimeoutError)
            assert set(result.timings) == {"connect", "logon", "inbox", "disconnect", "total"}
            assert result.disconnect_error is None
            assert result.timings["inbox"] > BUDGET / 2  # it waited for the deadline
        deadline = time.monotonic() + 1
        while emulator.stats().open_sessions and time.monotonic() < deadline:
            time.sleep(0.02)
        assert emulator.stats().open_sessions == 0
