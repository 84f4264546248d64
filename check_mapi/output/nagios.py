"""The Monitoring Plugins output of an ``Evaluation``: ``MAPI <STATE> - <summary> | <perfdata>``,
then the long output, one line each.

``|`` separates perfdata in the plugin API (in the long output too, where it would start
"long perfdata"), and a line break ends the status line: neither may come from text, so
both are replaced here, the only place that writes them.
"""

from __future__ import annotations

import re

from ..evaluation import Evaluation, PerfValue, number_text

PREFIX = "MAPI"
_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")
_PLAIN = re.compile(r"[A-Za-z0-9_.@:/-]+")


def render(evaluation: Evaluation) -> str:
    """The plugin's whole output, newline-terminated."""
    line = f"{PREFIX} {evaluation.state.name} - {clean(evaluation.summary)}"
    perfdata = " ".join(perf(p) for p in evaluation.perfdata)
    lines = [f"{line} | {perfdata}" if perfdata else line]
    for text in evaluation.long:
        lines += [clean(part) for part in _BREAKS.split(text)]
    if evaluation.more_perfdata:  # one line: Nagios reads on from the first "|" of the
        # long output, Icinga takes each line's part after "|"; one line suits both
        lines.append("| " + " ".join(perf(p) for p in evaluation.more_perfdata))
    return "\n".join(lines) + "\n"


def clean(text: str) -> str:
    """One line without ``|``: line breaks become spaces, ``|`` becomes ``/``."""
    return _BREAKS.sub(" ", text).replace("|", "/")


def label(text: str) -> str:
    """A perfdata label: quoted unless it is a plain word (Monitoring Plugins: a quote in
    it is doubled; ``=`` may not appear at all, and becomes ``_``)."""
    text = clean(text).replace("=", "_")
    if _PLAIN.fullmatch(text):
        return text
    return "'" + text.replace("'", "''") + "'"


def perf(value: PerfValue) -> str:
    """``label=value[unit];warn;crit;min;max`` with trailing empty fields dropped; the
    value ``U`` (without unit) when it could not be measured; never an exponent."""
    shown = "U" if value.value is None else f"{number_text(value.value)}{value.unit}"
    fields = [f"{label(value.label)}={shown}", value.warning, value.critical,
              "" if value.minimum is None else number_text(value.minimum),
              "" if value.maximum is None else number_text(value.maximum)]
    while fields[-1] == "":
        fields.pop()
    return ";".join(fields)
