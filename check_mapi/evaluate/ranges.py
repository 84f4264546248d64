"""Threshold ranges of the Monitoring Plugins guidelines: ``[@][start:][end]``.

``start`` omitted is 0, ``~`` is minus infinity, ``end`` omitted is plus infinity; a value
outside ``start..end`` (both included) alerts, or inside it with ``@``. This is
nagiosplugin's ``Range`` semantics, which the tests hold it to (nagiosplugin is their
oracle): importing nagiosplugin costs ~20 ms at every start, a tenth of a probe, for
these twenty lines. The CLI checks the syntax first (``cli.options``), so a spec that
reaches this point is well formed; ``ConfigError`` covers what only parsing can see.
"""

from __future__ import annotations

from ..errors import ConfigError


class Range:
    """One parsed range; ``match(value)`` is True when the value does not alert."""

    __slots__ = ("end", "invert", "start")

    def __init__(self, spec: str) -> None:
        text = spec.strip()
        self.invert = text.startswith("@")
        text = text.removeprefix("@")
        start, colon, end = text.rpartition(":")
        if not colon:
            start = ""
        try:
            self.start = float("-inf") if start == "~" else _number(start, 0)
            self.end = _number(end, float("inf"))
        except ValueError as err:
            raise ConfigError(f"invalid range {spec!r}") from err
        if self.start > self.end:
            raise ConfigError(f"invalid range {spec!r}: start {start} is greater than end "
                              f"{end}")

    def match(self, value: float) -> bool:
        """True when ``value`` is inside ``start..end`` (outside with ``@``): no alert."""
        inside = self.start <= value <= self.end
        return inside != self.invert

    def __repr__(self) -> str:
        return f"Range(invert={self.invert}, start={self.start}, end={self.end})"


def _number(text: str, default: float) -> float:
    return default if text == "" else (float(text) if "." in text else int(text))
