"""The one table of the probe's steps and metrics; everything else is derived from it.

A row names a step or a measured quantity: its perfdata label and unit, whether it is a
timed step of the probe (and then whether it always appears in the step trace), its
threshold options, and whether the emulator can inject faults at it. The CLI's threshold
options, the threshold ranges, the perfdata, the step trace and the emulator's fault
steps are all read from ``METRICS``; adding ``token_time`` or ``cert_days`` is one row
here plus the code that measures the value.

Perfdata labels are an interface (graphs key on them): never rename one.

Pure: the standard library only. Rows are ``Value`` objects (cheap at import: a
``typing.NamedTuple`` compiles every string annotation, ~2.5 ms at every start, see the
README's Performance section).
"""

from __future__ import annotations

from .values import Value


class Metric(Value):
    """One step or quantity. ``warning``/``critical`` are the option strings of its ranges."""

    name: str  # the step name (``connect``) or the quantity's name (``inbox_items``)
    label: str  # perfdata label
    unit: str  # perfdata unit: "s" or "" (a count)
    step: bool  # a timed step of the probe, with a line in the step trace
    optional: bool  # a step that runs only sometimes: no "not run" line when it did not
    warning: tuple[str, ...]  # threshold option strings, () for none
    critical: tuple[str, ...]
    fault: bool  # the emulator's [[mailbox.fault]] step = "<name>" applies here
    minimum: float | None
    maximum: float | None
    help: str


def _time(name: str, help: str, *, step: bool = True, optional: bool = False,
          fault: bool = True, warning: tuple[str, ...] = (),
          critical: tuple[str, ...] = ()) -> Metric:
    return Metric(name, f"{name}_time", "s", step, optional,
                  warning or (f"--{name}-warning",), critical or (f"--{name}-critical",),
                  fault and step, 0, None, help)


METRICS: tuple[Metric, ...] = (
    Metric("availability", "availability", "", False, False, (), (), False, 0, 1,
           "1: the mailbox opened, or MAPI over HTTP is deliberately not offered here"),
    _time("token", "getting an OAuth access token from the identity provider (Exchange "
          "Online; not run while the stored token is valid)", optional=True, fault=False),
    _time("settings", "reading MAPIEnabled and the organization's settings through the "
          "Exchange Online admin API (--settings-from exo; not run while cached)",
          optional=True, fault=False),
    _time("autodiscover", "the Autodiscover request(s)", optional=True),
    _time("connect", "the Connect request", warning=("-w", "--warning"),
          critical=("-c", "--critical")),
    _time("logon", "the Execute request carrying RopLogon"),
    _time("inbox", "the Execute request that opens and lists the Inbox"),
    _time("disconnect", "the Disconnect request"),
    _time("total", "the whole probe: the steps' own times added up (the plugin's work "
          "between them left out)", step=False),
    Metric("inbox_items", "inbox_items", "", False, False, ("--items-warning",),
           ("--items-critical",), False, 0, None, "the Inbox's item count"),
    Metric("cert", "cert_days", "", False, False, ("--cert-warning",), ("--cert-critical",),
           False, None, None, "days until the first server certificate to expire expires "
           "(Autodiscover's and the MAPI endpoint's); e.g. --cert-warning 30: "),
)


def by_name(name: str) -> Metric:
    """The row called ``name``; KeyError for an unknown one (a bug, not user input)."""
    for metric in METRICS:
        if metric.name == name:
            return metric
    raise KeyError(name)


def steps() -> tuple[Metric, ...]:
    """The timed steps, in the order the probe runs them."""
    return tuple(m for m in METRICS if m.step)


def fault_steps() -> tuple[str, ...]:
    """Steps the emulator can fault (it adds its own ``ping``, which no probe step sends)."""
    return tuple(m.name for m in METRICS if m.fault)


def with_thresholds() -> tuple[Metric, ...]:
    return tuple(m for m in METRICS if m.warning or m.critical)
