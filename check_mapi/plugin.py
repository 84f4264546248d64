"""ProbeResult -> Nagios state, status line, perfdata and long output (via nagiosplugin).

nagiosplugin evaluates the metrics against the threshold ranges and formats perfdata;
the output itself is rendered here, so that the first line always carries the perfdata
(``MAPI OK - ... | availability=1;;;0;1 ...``) and the step trace follows on every problem
(nagiosplugin would show long output only with ``-v`` and then move the perfdata).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import nagiosplugin

from .errors import MapiError, ServiceState, TransportTimeoutError
from .probe import STEPS, ProbeResult
from .report import long_output

_STATES = {ServiceState.OK: nagiosplugin.Ok, ServiceState.WARNING: nagiosplugin.Warn,
           ServiceState.CRITICAL: nagiosplugin.Critical, ServiceState.UNKNOWN: nagiosplugin.Unknown}
_NAMES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Nagios range specs (``10``, ``@1:2``, ``~:5``...), or None for no threshold."""

    connect_warning: str | None = None
    connect_critical: str | None = None
    total_warning: str | None = None
    total_critical: str | None = None
    items_warning: str | None = None
    items_critical: str | None = None
    timeout_state: ServiceState = ServiceState.CRITICAL


class Mapi(nagiosplugin.Resource):  # type: ignore[misc]
    """Turns one ProbeResult into metrics; the name gives the ``MAPI`` prefix."""

    def __init__(self, result: ProbeResult) -> None:
        self.result = result

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        result = self.result
        yield nagiosplugin.Metric("availability", int(result.available), min=0, max=1)
        for step, seconds in result.timings.items():
            yield nagiosplugin.Metric(f"{step}_time", round(seconds, 4), "s", min=0)
        if result.item_count is not None:
            yield nagiosplugin.Metric("inbox_items", result.item_count, min=0)
        yield nagiosplugin.Metric("outcome", result, context="outcome")


class Outcome(nagiosplugin.Context):  # type: ignore[misc]
    """The probe's first error decides the state, else the Autodiscover verdict (drift,
    MAPI over HTTP not offered); no perfdata of its own."""

    def __init__(self, timeout_state: ServiceState) -> None:
        super().__init__("outcome")
        self.timeout_state = timeout_state

    def evaluate(self, metric: Any, resource: Any) -> nagiosplugin.Result:
        result: ProbeResult = metric.value
        if result.error is not None:
            return nagiosplugin.Result(_STATES[self.state_of(result.error)],
                                       failure_text(result), metric)
        verdict = result.verdict
        if verdict is not None and verdict.state is not ServiceState.OK:
            return nagiosplugin.Result(_STATES[verdict.state], ok_text(result), metric)
        return nagiosplugin.Result(nagiosplugin.Ok, None, metric)

    def state_of(self, error: MapiError) -> ServiceState:
        return self.timeout_state if isinstance(error, TransportTimeoutError) else error.state

    def performance(self, metric: Any, resource: Any) -> None:
        return None


def failure_text(result: ProbeResult) -> str:
    """``<mailbox>: <step> failed: <reason>`` for the status line."""
    return f"{result.settings.mailbox}: {result.failed_step} failed: {result.error}"


def ok_text(result: ProbeResult) -> str:
    """``<mailbox> logged on in ...``, or ``<mailbox>: <what Autodiscover showed>[; logged
    on in ...]`` when the comparison with the settings has something to say."""
    seconds = result.timings.get("connect", 0.0) + result.timings.get("logon", 0.0)
    logged_on = (f"logged on in {seconds:.2f} s, Inbox {result.item_count} "
                 f"item{'' if result.item_count == 1 else 's'}")
    verdict = result.verdict
    if verdict is None or verdict.text is None:
        return f"{result.settings.mailbox} {logged_on}"
    return f"{result.settings.mailbox}: {verdict.text}" + (
        f"; {logged_on}" if result.logged_on else "")


class MapiSummary(nagiosplugin.Summary):  # type: ignore[misc]
    def __init__(self, result: ProbeResult) -> None:
        self.result = result

    def ok(self, results: Any) -> str:
        return ok_text(self.result)

    def problem(self, results: Any) -> str:
        worst = results.first_significant
        if worst.metric is not None and worst.metric.name == "outcome":
            return str(worst.hint)
        unit = " s" if worst.metric.uom == "s" else ""
        return (f"{ok_text(self.result)}; {worst.metric.name} {worst.metric.value}{unit} "
                f"{worst.hint}")


def build_check(result: ProbeResult, thresholds: Thresholds) -> nagiosplugin.Check:
    contexts = [nagiosplugin.ScalarContext("connect_time", thresholds.connect_warning,
                                           thresholds.connect_critical),
                nagiosplugin.ScalarContext("total_time", thresholds.total_warning,
                                           thresholds.total_critical),
                nagiosplugin.ScalarContext("inbox_items", thresholds.items_warning,
                                           thresholds.items_critical),
                nagiosplugin.ScalarContext("availability"),
                *(nagiosplugin.ScalarContext(f"{step}_time") for step in
                  ("autodiscover", *STEPS) if step != "connect"),
                Outcome(thresholds.timeout_state)]
    return nagiosplugin.Check(Mapi(result), *contexts, MapiSummary(result), name="MAPI")


def render(result: ProbeResult, thresholds: Thresholds, verbose: int,
           show_subjects: bool) -> tuple[str, int]:
    """The plugin's whole output and its exit code."""
    check = build_check(result, thresholds)
    check()
    state = int(check.exitcode)
    summary = clean(check.summary_str)
    line = f"MAPI {_NAMES[state]} - {summary}"
    perfdata = " ".join(check.perfdata)
    lines = [f"{line} | {perfdata}" if perfdata else line]
    if state != 0 or verbose > 0:
        lines.extend(clean(x) for x in long_output(result, verbose, show_subjects))
    return "\n".join(lines) + "\n", state


def clean(text: str) -> str:
    """``|`` separates perfdata in the plugin API: it must not appear in any text."""
    return text.replace("|", "/")
