"""What a run concluded, before it is rendered: one ``Evaluation`` for every outcome.

A probe's result is evaluated against the thresholds (``check_mapi.evaluate``); argument
errors, unreadable secrets and the last-resort guard build one directly with ``problem``.
Renderers (``check_mapi.output``) turn it into text; they are the only writers of a status
line. Pure: the standard library only, so that the cheap paths (argument errors) stay cheap.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .errors import ServiceState
from .values import Value


class PerfValue(NamedTuple):
    """One perfdata item; ``value`` None is "U" (could not be measured)."""

    label: str
    value: float | int | None
    unit: str = ""
    warning: str = ""  # a normalised range, "" for none
    critical: str = ""
    minimum: float | None = None
    maximum: float | None = None


class Evaluation(Value):
    """The state, its one-line reason, the perfdata with their ranges, the long output."""

    state: ServiceState
    summary: str
    perfdata: tuple[PerfValue, ...] = ()
    long: tuple[str, ...] = ()  # the lines to show under the status line
    subject: str | None = None  # the mailbox, when there is one
    brief: str = ""  # the reason in a few words, for a list of many mailboxes
    more_perfdata: tuple[PerfValue, ...] = ()  # after the long output ("long perfdata")


def problem(state: ServiceState, reason: str, long: tuple[str, ...] = ()) -> Evaluation:
    """An outcome without a probe: bad arguments, unreadable secrets, a bug."""
    return Evaluation(state, reason, (), long)


def number_text(value: float) -> str:
    """A number as the plugin guidelines want it in perfdata: ``.`` and digits, never an
    exponent (``1e-05`` breaks PNP4Nagios and others), no trailing ``.0`` noise."""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "U"
    text = repr(value)
    if "e" in text:  # 1e-05: Decimal writes it out (imported only then)
        from decimal import Decimal

        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
