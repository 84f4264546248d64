"""A ProbeResult and the run's thresholds -> one ``Evaluation``.

The state is the worst of: the probe's first error (a timeout takes ``--timeout-state``),
the Autodiscover verdict (drift, MAPI over HTTP not offered), and each metric against its
ranges (nagiosplugin's ``Range``: the Monitoring Plugins syntax and semantics). Perfdata
and threshold options come from ``check_mapi.metrics``; nothing here names a metric.
"""

from __future__ import annotations

from nagiosplugin import Range

from .. import metrics
from ..errors import ConfigError, MapiError, ServiceState, TransportTimeoutError
from ..evaluation import Evaluation, PerfValue
from ..probe.result import ProbeResult
from ..settings import Ranges, RunSettings
from .certificate import days_left
from .trace import long_output

Thresholds = dict[str, tuple[Range | None, Range | None]]


def thresholds(ranges: Ranges) -> Thresholds:
    """Parsed ranges by metric name; ConfigError names the option of a bad one."""
    parsed: Thresholds = {}
    for metric in metrics.with_thresholds():
        warning, critical = ranges.get(metric.name, (None, None))
        parsed[metric.name] = (_range(metric.warning, warning), _range(metric.critical,
                                                                        critical))
    return parsed


def _range(options: tuple[str, ...], spec: str | None) -> Range | None:
    if spec is None:
        return None
    try:
        return Range(spec)
    except ValueError as err:
        raise ConfigError(f"{'/'.join(options)}: invalid range {spec!r} ({err})") from err


def evaluate(result: ProbeResult, run: RunSettings, limits: Thresholds) -> Evaluation:
    """The state, summary, perfdata and long output of one probe."""
    perfdata, violations = _measure(result, limits)
    state, summary = _verdict(result, run.timeout_state)
    if result.error is None and result.settings_warning:  # never a failed logon
        state, summary = max(state, ServiceState.WARNING), f"{summary}; {result.settings_warning}"
    if result.error is None and violations:
        worst = max(violations, key=lambda v: v[0])  # the first of the worst state
        if worst[0] >= state:
            state, summary = worst[0], f"{summary}; {worst[1]}"
    show = state is not ServiceState.OK or run.verbose > 0 or result.error is not None
    long = tuple(long_output(result, run.verbose, run.show_subjects)) if show else ()
    return Evaluation(state, summary, perfdata, long, result.mailbox.address)


def _verdict(result: ProbeResult, timeout_state: ServiceState) -> tuple[ServiceState, str]:
    if result.error is not None:
        return _state_of(result.error, timeout_state), failure_text(result)
    verdict = result.verdict
    if verdict is not None and verdict.state is not ServiceState.OK:
        return verdict.state, ok_text(result)
    return ServiceState.OK, ok_text(result)


def _state_of(error: MapiError, timeout_state: ServiceState) -> ServiceState:
    return timeout_state if isinstance(error, TransportTimeoutError) else error.state


def _measure(result: ProbeResult, limits: Thresholds
             ) -> tuple[tuple[PerfValue, ...], list[tuple[ServiceState, str]]]:
    """Perfdata in label order (as graphs and the tests know it) and range violations."""
    values = _values(result)
    perfdata, violations = [], []
    for metric in metrics.METRICS:
        if metric.name not in values:
            continue
        value = values[metric.name]
        warning, critical = limits.get(metric.name, (None, None))
        perfdata.append(PerfValue(metric.label, value, metric.unit,
                                  str(warning) if warning else "",
                                  str(critical) if critical else "",
                                  metric.minimum, metric.maximum))
        for state, limit in ((ServiceState.CRITICAL, critical), (ServiceState.WARNING,
                                                                 warning)):
            if limit is not None and not limit.match(value):
                unit = f" {metric.unit}" if metric.unit else ""
                violations.append((state, f"{metric.label} {value}{unit} {limit.violation}"))
                break
    perfdata.sort(key=lambda p: p.label)
    return tuple(perfdata), violations


def _values(result: ProbeResult) -> dict[str, float | int]:
    """What the probe measured, by metric name (a metric it did not measure is absent)."""
    values: dict[str, float | int] = {"availability": int(result.available)}
    for step, seconds in result.timings.items():
        values[step] = round(seconds, 4)
    if result.item_count is not None:
        values["inbox_items"] = result.item_count
    days = days_left(result)  # None: no TLS, and no cert_days
    if days is not None:
        values["cert"] = days
    return values


def failure_text(result: ProbeResult) -> str:
    """``<mailbox>: <step> failed: <reason>`` for the status line."""
    return f"{result.mailbox.address}: {result.failed_step} failed: {result.error}"


def ok_text(result: ProbeResult) -> str:
    """``<mailbox> logged on in ...``, or ``<mailbox>: <what Autodiscover showed>[; logged
    on in ...]`` when the comparison with the settings has something to say."""
    seconds = result.timings.get("connect", 0.0) + result.timings.get("logon", 0.0)
    logged_on = (f"logged on in {seconds:.2f} s, Inbox {result.item_count} "
                 f"item{'' if result.item_count == 1 else 's'}")
    verdict = result.verdict
    if verdict is None or verdict.text is None:
        return f"{result.mailbox.address} {logged_on}"
    return f"{result.mailbox.address}: {verdict.text}" + (
        f"; {logged_on}" if result.logged_on else "")
