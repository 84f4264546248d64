"""Whole processes, measured as the monitoring core sees them, and their statistics.

A check is a fresh process every time, so every case runs whole processes: wall time
from spawn to reap, CPU time (user + system) and peak RSS of exactly that child from
``os.wait4``'s rusage (taken by the small ``spawn.py`` process, see there why), not from
the benchmark's own clock or a sum over all children.
Variants of a case run round-robin (A, B, C, A, B, C, ...) so that load from other work on
a shared machine falls on all of them alike; medians and the p25-p75 spread resist the
outliers such load still causes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SPAWN_SCRIPT = Path(__file__).with_name("spawn.py")


@dataclass(frozen=True)
class Run:
    """One finished child process."""

    wall: float  # seconds, spawn to reap
    cpu: float  # user + system seconds of the child
    max_rss_mb: float  # peak resident set size
    code: int  # exit status (negative: killed by that signal)
    stdout: str
    stderr: str


class Spawner:
    """The ``spawn.py`` process (started on first use, one per benchmark run)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def run(self, job: dict[str, object]) -> dict[str, float]:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(SPAWN_SCRIPT)], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, text=True, cwd="/")
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(json.dumps(job) + "\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline()
        if not answer:
            raise RuntimeError("the process spawner ended")
        result: dict[str, float] = json.loads(answer)
        return result

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                self._proc.communicate(timeout=10)  # closes its stdin: it ends
                self._proc = None


SPAWNER = Spawner()


def run_process(argv: Sequence[str], *, env: dict[str, str] | None = None,
                cwd: str | None = None, timeout: float = 120.0) -> Run:
    """Run ``argv`` (its first item a path) to its end; SIGKILL after ``timeout`` s."""
    with tempfile.TemporaryDirectory(prefix="check_mapi-bench-run-") as folder:
        out, err = Path(folder, "out"), Path(folder, "err")
        result = SPAWNER.run({"argv": list(argv), "env": dict(os.environ if env is None
                                                               else env),
                              "cwd": cwd or os.getcwd(), "timeout": timeout,
                              "out": str(out), "err": str(err)})
        return Run(result["wall"], result["cpu"], result["max_rss_kb"] / 1024,
                   int(result["code"]), out.read_text("utf-8", "replace"),
                   err.read_text("utf-8", "replace"))


def interleave(variants: dict[str, Callable[[], Run]], n: int) -> dict[str, list[Run]]:
    """Run every variant ``n`` times, round-robin; the order within a round alternates
    (forward, then backward) so that no variant always runs right after the same one."""
    names = list(variants)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for round_ in range(n):
        for name in names if round_ % 2 == 0 else reversed(names):
            runs[name].append(variants[name]())
    return runs


@dataclass(frozen=True)
class Summary:
    """Median and interquartile range of one metric."""

    median: float
    p25: float
    p75: float
    n: int

    def text(self, unit: str = "s", digits: int = 3) -> str:
        """``0.412 s (0.398-0.431)``: the median, then the p25-p75 spread."""
        return (f"{self.median:.{digits}f} {unit} "
                f"({self.p25:.{digits}f}-{self.p75:.{digits}f})")


def summarize(values: Sequence[float]) -> Summary:
    """Median and quartiles (inclusive method; one value is its own spread)."""
    if not values:
        raise ValueError("nothing measured")
    if len(values) == 1:
        return Summary(values[0], values[0], values[0], 1)
    p25, median, p75 = statistics.quantiles(values, n=4, method="inclusive")
    return Summary(median, p25, p75, len(values))


def walls(runs: Sequence[Run]) -> Summary:
    return summarize([r.wall for r in runs])


def cpus(runs: Sequence[Run]) -> Summary:
    return summarize([r.cpu for r in runs])
