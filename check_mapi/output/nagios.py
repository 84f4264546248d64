"""The Monitoring Plugins output of an ``Evaluation``: ``MAPI <STATE> - <summary> | <perfdata>``,
then the long output, one line each.

``|`` separates perfdata in the plugin API (in the long output too, where it would start
"long perfdata"), and a line break ends the status line: neither may come from text, so
both are replaced here, the only place that writes them.
"""

from __future__ import annotations

import re

from ..evaluation import Evaluation, PerfValue

PREFIX = "MAPI"
_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")


def render(evaluation: Evaluation) -> str:
    """The plugin's whole output, newline-terminated."""
    line = f"{PREFIX} {evaluation.state.name} - {clean(evaluation.summary)}"
    perfdata = " ".join(perf(p) for p in evaluation.perfdata)
    lines = [f"{line} | {perfdata}" if perfdata else line]
    for text in evaluation.long:
        lines += [clean(part) for part in _BREAKS.split(text)]
    return "\n".join(lines) + "\n"


def clean(text: str) -> str:
    """One line without ``|``: line breaks become spaces, ``|`` becomes ``/``."""
    return _BREAKS.sub(" ", text).replace("|", "/")


def perf(value: PerfValue) -> str:
    """``label=value[unit];warn;crit;min;max`` with trailing empty fields dropped."""
    from nagiosplugin import Performance  # only a run that measured something needs it

    if value.value is None:
        return str(Performance(value.label, "U", "", value.warning, value.critical,
                               value.minimum, value.maximum))
    return str(Performance(value.label, value.value, value.unit, value.warning,
                           value.critical, value.minimum, value.maximum))
