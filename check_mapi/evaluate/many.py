"""Many mailboxes, one service: the evaluations of each mailbox -> one ``Evaluation``.

The state is the worst mailbox's. The status line counts and names the mailboxes that are
not OK, the worst first (``2 of 25 mailboxes failed: a@x (logon: ecLoginFailure), ...``),
or, when all are OK, the connect times. The long output has one line per mailbox, the
worst first, each followed (indented) by its own long output when it has one.

Perfdata: a fixed set for the whole run on the status line (``mailboxes``,
``mailboxes_ok``, ``mailboxes_warning``, ``mailboxes_critical``, ``mailboxes_unknown``,
``connect_time_median``, ``connect_time_max``), and each mailbox's own perfdata after the
long output, labelled ``<mailbox>::<label>`` (``probe@contoso.com::connect_time``): the
address first, so that a graph per mailbox is a prefix match and a graph per metric a
suffix match; ``::`` cannot occur in an SMTP address.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from ..errors import ServiceState
from ..evaluation import Evaluation, PerfValue

LISTED = 5  # mailboxes named on the status line per state; the rest are counted
SEPARATOR = "::"
_WORDS = {ServiceState.CRITICAL: "failed", ServiceState.UNKNOWN: "could not be checked",
          ServiceState.WARNING: "WARNING"}


def summarize(evaluations: Sequence[Evaluation]) -> Evaluation:
    """One Evaluation for the service that watches all of ``evaluations``."""
    state = max((e.state for e in evaluations), default=ServiceState.UNKNOWN)
    ranked = sorted(evaluations, key=lambda e: -e.state)  # stable: the given order within
    long: list[str] = []
    for evaluation in ranked:
        long.append(f"[{evaluation.state.name}] {evaluation.summary}")
        long += [f"  {line}" for line in evaluation.long]
    more = tuple(p._replace(label=f"{e.subject}{SEPARATOR}{p.label}")
                 for e in evaluations for p in e.perfdata)
    return Evaluation(state, _summary(evaluations), _aggregate(evaluations), tuple(long),
                      None, more_perfdata=more)


def _summary(evaluations: Sequence[Evaluation]) -> str:
    total = len(evaluations)
    parts: list[str] = []
    for state in (ServiceState.CRITICAL, ServiceState.UNKNOWN, ServiceState.WARNING):
        hit = [e for e in evaluations if e.state is state]
        if not hit:
            continue
        named = ", ".join(f"{e.subject} ({e.brief})" for e in hit[:LISTED])
        more = f" and {len(hit) - LISTED} more" if len(hit) > LISTED else ""
        parts.append(f"{len(hit)} {_WORDS[state]}: {named}{more}" if parts else
                     f"{len(hit)} of {total} mailboxes {_WORDS[state]}: {named}{more}")
    if parts:
        return "; ".join(parts)
    connect = _connect_times(evaluations)
    if not connect:
        return f"{total} of {total} mailboxes OK"
    worst = max(connect, key=lambda pair: pair[1])
    return (f"{total} of {total} mailboxes OK, connect median "
            f"{statistics.median(t for _, t in connect):.2f} s, slowest "
            f"{worst[1]:.2f} s ({worst[0]})")


def _connect_times(evaluations: Sequence[Evaluation]) -> list[tuple[str, float]]:
    times = []
    for evaluation in evaluations:
        for value in evaluation.perfdata:
            if value.label == "connect_time" and value.value is not None:
                times.append((evaluation.subject or "", float(value.value)))
    return times


def _aggregate(evaluations: Sequence[Evaluation]) -> tuple[PerfValue, ...]:
    """The run's own perfdata: the same labels on every outcome."""
    total = len(evaluations)
    counts = [PerfValue("mailboxes", total, "", "", "", 0)]
    for state in ServiceState:
        count = sum(1 for e in evaluations if e.state is state)
        counts.append(PerfValue(f"mailboxes_{state.name.lower()}", count, "", "", "", 0,
                                total))
    connect = [t for _, t in _connect_times(evaluations)]
    median = round(statistics.median(connect), 4) if connect else None
    worst = round(max(connect), 4) if connect else None
    return (*counts, PerfValue("connect_time_max", worst, "s", "", "", 0),
            PerfValue("connect_time_median", median, "s", "", "", 0))

