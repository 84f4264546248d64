"""The probe path of a run: settings -> probe -> evaluation, within ``-t``.

The budget counts from the process's start; the transport enforces it inside every
network operation and keeps a slice for Disconnect. A SIGALRM backstop (main thread only)
fires only if something outside any network operation outlives the budget, which would
be a bug; it too ends in the normal evaluation: the step that was running, timed out.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from ..deadline import Budget
from ..errors import TransportTimeoutError
from ..evaluate.outcome import evaluate, thresholds
from ..evaluation import Evaluation
from ..probe.driver import run_probe
from ..probe.result import ProbeResult
from ..settings import Plan, RunSettings
from ..transport.client import Verify, ssl_context
from ..transport.errors import BUDGET_SPENT, checked_url
from .pool import probe_all

BACKSTOP_GRACE = 0.05  # after the final deadline: the transport should have ended it first


class _BackstopError(Exception):
    """Raised by SIGALRM when even the transport's deadline did not end the probe."""


def execute(plan: Plan, started: float) -> tuple[Evaluation, ...]:
    """Probe every mailbox of ``plan``: one Evaluation each, in the plan's order.

    ConfigError for what only this path can check (UNKNOWN).
    """
    run = plan.run
    limits = thresholds(run.ranges)
    _check_urls(plan)
    verify = ssl_context(run.connection, _tls_expected(plan))  # one for every probe
    budget = Budget(run.timeout, started)
    results = [ProbeResult(mailbox) for mailbox in plan.mailboxes]
    if plan.many:
        probe_all(run, results, budget, verify)
    else:
        _probe_one(run, results[0], budget, verify)
    return tuple(evaluate(result, run, limits) for result in results)


def _tls_expected(plan: Plan) -> bool:
    """Whether any request of the run can go over TLS: Autodiscover's candidates are
    https, and so may be a --url or the proxy's tunnel targets."""
    return any(not m.skips_autodiscover or (m.url or "").lower().startswith("https:")
               for m in plan.mailboxes)


def _check_urls(plan: Plan) -> None:
    proxy = plan.run.connection.proxy
    if proxy:
        checked_url(proxy, "--proxy")
    for mailbox in plan.mailboxes:
        for option, url in (("--url", mailbox.url),
                            ("--autodiscover-url", mailbox.autodiscover_url)):
            if url:
                where = f" of {mailbox.address}" if plan.many else ""
                checked_url(url, f"{option}{where}")


def _probe_one(run: RunSettings, result: ProbeResult, budget: Budget, verify: Verify
               ) -> None:
    """One mailbox in the main thread, with the SIGALRM backstop."""
    try:
        with _backstop(budget):
            run_probe(run, result.mailbox, budget, verify, result)
    except _BackstopError:
        result.fail(result.running or "probe", TransportTimeoutError(BUDGET_SPENT))


@contextlib.contextmanager
def _backstop(budget: Budget) -> Iterator[None]:
    """SIGALRM just after the final deadline, in the main thread only."""
    def expired(signum: int, frame: FrameType | None) -> None:
        raise _BackstopError

    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, budget.disconnect.remaining() + BACKSTOP_GRACE)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
