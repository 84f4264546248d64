"""Many mailboxes in one process: a pool of probes within one ``-t``.

``--parallel`` worker threads take the mailboxes in order. Each probe has its own client,
connection, auth flow and ``ProbeResult``; they share what is shared by design: the TLS
context, the state directory (token store and Autodiscover cache, whose files are
per-mailbox and locked), and the Budget, so that the whole run ends within ``-t``. The
transport bounds every socket operation by that budget in whichever thread it runs, and a
session that was connected is disconnected within the Disconnect slice.

A mailbox whose turn comes after the step deadline is reported as timed out without a
request. The main thread waits no longer than the final deadline: a probe still running
then (which the transport should have prevented) is reported as timed out at the step it
was in, and its daemon thread cannot delay the exit.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..deadline import Budget
from ..errors import MapiError, ServiceState, TransportTimeoutError
from ..probe.driver import run_probe
from ..probe.result import ProbeResult
from ..settings import RunSettings
from ..transport.client import Verify
from ..transport.errors import BUDGET_SPENT

NOT_STARTED = "timed out: the check's time budget ran out before this mailbox's turn"
JOIN_GRACE = 0.05  # after the final deadline


class ProbeBugError(MapiError):
    """A bug while probing one mailbox: that mailbox is UNKNOWN, the others go on."""

    state = ServiceState.UNKNOWN


def probe_all(run: RunSettings, results: Sequence[ProbeResult], budget: Budget,
              verify: Verify) -> None:
    """Probe every result's mailbox, ``run.parallel`` at a time; fills ``results``."""
    queue = list(reversed(range(len(results))))  # pop() takes them in the given order
    done: set[int] = set()
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                index = queue.pop()
            _probe(run, results[index], budget, verify)
            with lock:
                done.add(index)

    threads = [threading.Thread(target=worker, name=f"check_mapi-probe-{n}", daemon=True)
               for n in range(min(run.parallel, len(results)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(budget.disconnect.remaining() + JOIN_GRACE)
    with lock:
        queue.clear()  # a worker still running takes no further mailbox
        for index, result in enumerate(results):
            if index not in done:
                result.fail(result.running or _first_step(result),
                            TransportTimeoutError(BUDGET_SPENT))


def _probe(run: RunSettings, result: ProbeResult, budget: Budget, verify: Verify) -> None:
    if budget.steps.expired:
        result.fail(_first_step(result), TransportTimeoutError(NOT_STARTED))
        return
    try:
        run_probe(run, result.mailbox, budget, verify, result)
    except Exception as err:  # noqa: BLE001 - the last-resort guard of one mailbox
        result.fail(result.running or _first_step(result),
                    ProbeBugError(f"internal error: {err or 'no details'}"))


def _first_step(result: ProbeResult) -> str:
    return "connect" if result.mailbox.skips_autodiscover else "autodiscover"
