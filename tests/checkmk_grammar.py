"""A parser of the Checkmk local-check grammar (Checkmk docs "Local checks"; monitoring.md
4.2), written from the documentation, not from the plugin's renderer: every line the plugin
emits in ``--output checkmk`` must pass it."""

from __future__ import annotations

import re
from dataclasses import dataclass

# <state> <service name> <metrics> <status detail>, single spaces; the agent may prefix
# cached(<mtime>,<max age>) for a script in a cache directory.
LINE = re.compile(r'(?:cached\(\d+,\d+\) )?(?P<state>[0-3P]) (?P<service>"[^"\n]+"|[^" \n]+) '
                  r"(?P<metrics>\S+) (?P<detail>[^\n]+)")
NUMBER = r"-?\d+(?:\.\d+)?"
LEVEL = rf"(?:{NUMBER}|{NUMBER}:(?:{NUMBER})?|:{NUMBER})?"  # upper, or lower:upper
METRIC = re.compile(rf"(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>{NUMBER})"
                    rf"(?:;(?P<warn>{LEVEL})(?:;(?P<crit>{LEVEL})(?:;(?P<min>{NUMBER})?"
                    rf"(?:;(?P<max>{NUMBER})?)?)?)?)?")


@dataclass(frozen=True)
class Metric:
    value: str
    warn: str
    crit: str
    min: str
    max: str


@dataclass(frozen=True)
class LocalCheck:
    state: str
    service: str
    metrics: dict[str, Metric]
    summary: str
    details: list[str]


def parse_line(line: str) -> LocalCheck:
    """One local-check line, or AssertionError naming what breaks the grammar."""
    match = LINE.fullmatch(line)
    assert match, f"not a local-check line: {line!r}"
    metrics: dict[str, Metric] = {}
    if match["metrics"] != "-":
        for text in match["metrics"].split("|"):
            metric = METRIC.fullmatch(text)
            assert metric, f"not a metric: {text!r} in {line!r}"
            assert metric["name"] not in metrics, f"metric {metric['name']} twice: {line!r}"
            metrics[metric["name"]] = Metric(*(metric[key] or "" for key in (
                "value", "warn", "crit", "min", "max")))
    summary, *details = match["detail"].split("\\n")
    assert summary.strip(), f"no status text: {line!r}"
    return LocalCheck(match["state"], match["service"].strip('"'), metrics, summary, details)


def parse_output(output: str) -> dict[str, LocalCheck]:
    """Every line of a local check's output: {service name: line}, each name once."""
    assert output.endswith("\n") and "\r" not in output, repr(output)
    checks = [parse_line(line) for line in output.splitlines()]
    names = [check.service for check in checks]
    assert len(set(names)) == len(names), names
    return {check.service: check for check in checks}
