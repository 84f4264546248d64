"""The check's time budget as an object: an absolute point on the monotonic clock.

``-t N`` bounds the whole plugin process. The plugin shell counts from the process's
start (interpreter start-up included, see ``process_started``), keeps a small slice for
rendering and exit, and gives the probe a ``Deadline`` for its steps and a later one for
Disconnect, so that a session that was connected is disconnected also after a timeout.
The transport enforces a deadline inside every DNS lookup, connect, TLS handshake, read
and write; nothing else polls the clock.

Pure: the standard library only; safe to share between threads (immutable).
"""

from __future__ import annotations

import os
import time

# After the probe's deadline: evaluation, rendering, flushing and interpreter exit. Measured
# at 10-30 ms on a 2-core machine; the rest absorbs scheduling noise.
EXIT_RESERVE = 0.15
DISCONNECT_SHARE = 0.10  # of -t, reserved for Disconnect ...
DISCONNECT_MAX = 1.0  # ... but never more than this


class Deadline:
    """``at``: a ``time.monotonic()`` value; ``budget``: the seconds it was given (for text)."""

    __slots__ = ("at", "budget")

    def __init__(self, at: float, budget: float) -> None:
        self.at = at
        self.budget = budget

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(self.at - time.monotonic(), 0.0)

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def earlier(self, seconds: float) -> Deadline:
        """This deadline moved ``seconds`` earlier (a slice reserved for what comes after)."""
        return Deadline(self.at - seconds, self.budget)

    def share(self, fraction: float) -> Deadline:
        """``fraction`` of what is left from now, but never later than this deadline."""
        return Deadline(min(time.monotonic() + self.remaining() * fraction, self.at),
                        self.budget)

    def __repr__(self) -> str:
        return f"Deadline(in {self.at - time.monotonic():.3f} s of {self.budget:g} s)"


class Budget:
    """How one ``-t`` is split: the probe's steps, then Disconnect, then exit."""

    __slots__ = ("disconnect", "steps", "timeout")

    def __init__(self, timeout: float, started: float) -> None:
        self.timeout = timeout
        final = started + timeout - min(EXIT_RESERVE, timeout * 0.1)
        self.disconnect = Deadline(final, timeout)
        self.steps = self.disconnect.earlier(min(DISCONNECT_MAX, timeout * DISCONNECT_SHARE))


def process_started(fallback: float) -> float:
    """When this process started, on the monotonic clock: ``-t`` counts interpreter start-up.

    Linux: /proc/self/stat field 22 (start time in clock ticks after boot) against
    CLOCK_BOOTTIME. Elsewhere, or if that looks wrong, ``fallback`` (the earliest moment
    the program measured itself).
    """
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22; fields[0] is field 3 (state)
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / os.sysconf(
            "SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return fallback
    now = time.monotonic()
    if not 0 <= age < 60:  # a clock that disagrees: do not trust it
        return fallback
    return min(now - age, fallback)
