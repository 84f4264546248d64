"""Checkmk local-check lines: one service per mailbox (Checkmk docs, "Local checks").

    <state> "MAPI <mailbox>" <metric>=<value>;<warn>;<crit>;<min>;<max>|... <text>\\n<long>

The state is the plugin's own (0-3), never ``P``: the thresholds are evaluated here, the
levels are sent along only so that Checkmk draws them in its graphs. Metric names carry a
``mapi_`` prefix (Checkmk's own metric definitions would otherwise restyle ``total_time``
and friends); values are in base units without a unit, a value that could not be measured
is left out (Checkmk has no ``U``). The long output follows the summary with literal
``\\n`` separators; a backslash in text becomes U+2216 SET MINUS, so that a ``DOMAIN\\name``
cannot turn into a line break, and ``|`` becomes ``/`` as in the Nagios output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..evaluation import Evaluation, PerfValue, number_text

SERVICE_PREFIX = "MAPI"
FALLBACK_SERVICE = "check_mapi"  # a problem before any mailbox is known
METRIC_PREFIX = "mapi_"
# Nagios' illegal_object_name_chars (Checkmk's default for service names), the quote that
# ends the name, the backslash, and control characters.
_ILLEGAL = re.compile(r"[`~!$%^&*|'\"<>?,()=\\\x00-\x1f\x7f]")
_METRIC = re.compile(r"[^A-Za-z0-9_]")
_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")


def render(evaluations: Sequence[Evaluation]) -> str:
    """One line per evaluation (its ``subject`` names the service), newline-terminated."""
    return "".join(line(e) + "\n" for e in evaluations)


def line(evaluation: Evaluation) -> str:
    """The local-check line of one mailbox (or of the run, without a subject)."""
    name = service_name(evaluation.subject or FALLBACK_SERVICE)
    metrics = "|".join(metric(p) for p in evaluation.perfdata if p.value is not None)
    text = "\\n".join(_text(part) for part in (evaluation.summary, *evaluation.long))
    return f'{int(evaluation.state)} "{name}" {metrics or "-"} {text}'


def service_name(subject: str) -> str:
    """``MAPI <subject>`` with every character Checkmk refuses in a service name as ``_``."""
    return f"{SERVICE_PREFIX} {_ILLEGAL.sub('_', ' '.join(subject.split()))}"


def metric(value: PerfValue) -> str:
    """``mapi_<label>=<value>;<warn>;<crit>;<min>;<max>``, trailing empty fields dropped."""
    assert value.value is not None
    fields = [f"{METRIC_PREFIX}{_METRIC.sub('_', value.label)}={number_text(value.value)}",
              levels(value.warning), levels(value.critical),
              "" if value.minimum is None else number_text(value.minimum),
              "" if value.maximum is None else number_text(value.maximum)]
    while fields[-1] == "":
        fields.pop()
    return ";".join(fields)


def levels(spec: str) -> str:
    """A Monitoring Plugins range as Checkmk levels, for its graphs: ``N`` (upper), ``N:``
    (lower), ``A:B`` (both) mean the same in both; ``~:N`` is the upper level ``N``; an
    inverted ``@`` range has no Checkmk form and is left out (the state is ours anyway)."""
    if not spec or spec.startswith("@"):
        return ""
    return spec.removeprefix("~:")


def _text(text: str) -> str:
    """One line of status detail: no line breaks, no backslash escapes, no ``|``."""
    return _BREAKS.sub(" ", text).replace("\\", "\u2216").replace("|", "/")
