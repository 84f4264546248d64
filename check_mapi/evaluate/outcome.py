"""A ProbeResult and the run's thresholds -> one ``Evaluation``.

The state is the worst of: the probe's first error (a timeout takes ``--timeout-state``),
the Autodiscover verdict (drift, MAPI over HTTP not offered), and each metric against its
ranges (``ranges.Range``: the Monitoring Plugins syntax and semantics). Perfdata
and threshold options come from ``check_mapi.metrics``; nothing here names a metric.
"""

from __future__ import annotations

from .. import metrics
from ..errors import (
    ConfigError,
    HttpStatusError,
    MapiCallError,
    MapiError,
    ResponseCodeError,
    RopError,
    ServiceState,
    TransportTimeoutError,
)
from ..evaluation import Evaluation, PerfValue, number_text
from ..probe.result import ProbeResult
from ..settings import MailboxSettings, Ranges, RunSettings
from ..wire import describe_error
from .certificate import days_left
from .ranges import Range
from .trace import item_lines, long_output

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
    except ConfigError as err:
        raise ConfigError(f"{'/'.join(options)}: {err}") from err


def evaluate(result: ProbeResult, run: RunSettings, limits: Thresholds) -> Evaluation:
    """The state, summary, perfdata and long output of one probe."""
    perfdata, violations = _measure(result, limits)
    state, summary = _verdict(result, run.timeout_state)
    if result.error is None and result.settings_warning:  # never a failed logon
        state, summary = max(state, ServiceState.WARNING), f"{summary}; {result.settings_warning}"
    brief = _brief(result) if result.error is not None else ""
    if result.error is None and violations:
        worst = max(violations, key=lambda v: v[0])  # the first of the worst state
        if worst[0] >= state:
            state, summary, brief = worst[0], f"{summary}; {worst[1]}", worst[1]
    if not brief and state is not ServiceState.OK:
        brief = summary.removeprefix(f"{result.mailbox.address}: ")
    show = state is not ServiceState.OK or run.verbose > 0 or result.error is not None
    if show:
        long = tuple(long_output(result, run, run.show_subjects))
    else:  # --show-subjects alone: the items, without the step trace
        long = tuple(item_lines(result)) if run.show_subjects else ()
    return Evaluation(state, summary, perfdata, long, result.mailbox.address, brief)


def _brief(result: ProbeResult) -> str:
    """``<step>: <the reason in a few words>`` for the list of a many-mailbox run."""
    error = result.error
    if isinstance(error, TransportTimeoutError):
        words = "timed out"
    elif isinstance(error, (RopError, MapiCallError)):
        words = describe_error(error.code).partition(" (")[0]
    elif isinstance(error, HttpStatusError):
        words = f"HTTP {error.status}"
    elif isinstance(error, ResponseCodeError):
        words = f"X-ResponseCode {error.code}"
    else:
        text = str(error)
        words = text if len(text) <= 60 else text[:57].rstrip() + "..."
    return f"{result.failed_step}: {words}"


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
    """Perfdata in label order (as graphs and the tests know it) and range violations.

    The labels are the same on every outcome of a mode (the options decide them): a value
    that could not be measured is ``U``, so that graphing templates keep their shape.
    """
    values = _values(result)
    perfdata, violations = [], []
    for metric in metrics.METRICS:
        if not _reported(metric.name, result.mailbox):
            continue
        value = values.get(metric.name)
        warning, critical = limits.get(metric.name, (None, None))
        perfdata.append(PerfValue(metric.label, value, metric.unit, range_text(warning),
                                  range_text(critical), metric.minimum, metric.maximum))
        for state, limit in ((ServiceState.CRITICAL, critical), (ServiceState.WARNING,
                                                                 warning)):
            if value is not None and limit is not None and not limit.match(value):
                unit = f" {metric.unit}" if metric.unit else ""
                where = "inside" if limit.invert else "outside"
                violations.append((state, f"{metric.label} {number_text(value)}{unit} "
                                          f"{where} range {range_text(limit, full=True)}"))
                break
    perfdata.sort(key=lambda p: p.label)
    return tuple(perfdata), violations


def _reported(name: str, mailbox: MailboxSettings) -> bool:
    """Whether this mode reports the metric (``U`` when a run could not measure it)."""
    if name == "token":
        return mailbox.auth.oauth
    if name == "settings":
        return mailbox.exo is not None
    if name == "autodiscover":
        return not mailbox.skips_autodiscover
    if name == "cert":  # never measurable when the only URL is plain http
        return not (mailbox.skips_autodiscover and (mailbox.url or "").lower().startswith(
            "http://"))
    return True


def range_text(limit: Range | None, full: bool = False) -> str:
    """A range in the Monitoring Plugins syntax, numbers without exponent; "" for none.
    ``full`` writes a start of 0 too (``0:2``: clearer in a sentence)."""
    if limit is None:
        return ""
    text = "@" if limit.invert else ""
    if limit.start == float("-inf"):
        text += "~:"
    elif full or limit.start != 0:
        text += f"{number_text(limit.start)}:"
    if limit.end != float("inf"):
        text += number_text(limit.end)
    return text


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
    count = result.item_count
    logged_on = f"logged on in {seconds:.2f} s" + (
        "" if count is None else f", Inbox {count} item{'' if count == 1 else 's'}")
    verdict = result.verdict
    if verdict is None or verdict.text is None:
        return f"{result.mailbox.address} {logged_on}"
    return f"{result.mailbox.address}: {verdict.text}" + (
        f"; {logged_on}" if result.logged_on else "")
