"""The benchmark's output: one PASS/FAIL line per budget and one Markdown table.

A budget line reads ``PASS <what>: <value><unit> (budget <= <limit><unit>)`` (``<`` for
strict limits), so that CI logs and the tests can parse it; the table has one row per
measurement (``what | measured | comparison | ratio | budget | verdict``), informational
rows with ``-`` in the last two columns, and is followed by what it was measured on,
because numbers from an unnamed machine compare with nothing.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

LINE = re.compile(r"^(PASS|FAIL) (.+): (-?\d+(?:\.\d+)?)( ?\S*) "
                  r"\(budget (<=|<) (\d+(?:\.\d+)?)( ?\S*)\)$")


@dataclass(frozen=True)
class Budget:
    """A limit from the issue, and the value measured against it."""

    what: str
    value: float
    limit: float
    unit: str = "x"
    strict: bool = False  # "<" instead of "<="

    @property
    def passed(self) -> bool:
        return self.value < self.limit if self.strict else self.value <= self.limit

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    @property
    def limit_text(self) -> str:
        return f"{'<' if self.strict else '<='} {self.limit:g}{self.unit}"

    def line(self) -> str:
        return f"{self.verdict} {self.what}: {self.value:.3f}{self.unit} (budget {self.limit_text})"


@dataclass(frozen=True)
class Row:
    """One line of the table; ``budget`` set when the row is judged."""

    what: str
    measured: str
    comparison: str = "-"
    ratio: str = "-"
    budget: Budget | None = None

    def cells(self) -> list[str]:
        limit = self.budget.limit_text if self.budget else "-"
        verdict = self.budget.verdict if self.budget else "-"
        return [self.what, self.measured, self.comparison, self.ratio, limit, verdict]


@dataclass
class CaseResult:
    """What one case measured: its rows, in the order they belong in the table."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, measured: str, comparison: str = "-", ratio: str = "-",
            budget: Budget | None = None) -> None:
        self.rows.append(Row(what, measured, comparison, ratio, budget))

    @property
    def budgets(self) -> list[Budget]:
        return [row.budget for row in self.rows if row.budget is not None]


def ratio_text(value: float) -> str:
    return f"{value:.2f}x"


def budget_lines(results: Sequence[CaseResult]) -> list[str]:
    return [budget.line() for result in results for budget in result.budgets]


def markdown(results: Sequence[CaseResult], machine: str) -> str:
    """The table of every case's rows, then the machine line and the notes."""
    header = ["what", "measured", "comparison", "ratio", "budget", "verdict"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        lines.append(f"| **{result.title}** |  |  |  |  |  |")
        lines += ["| " + " | ".join(_cell(c) for c in row.cells()) + " |"
                  for row in result.rows]
    lines += ["", machine]
    notes = [note for result in results for note in result.notes]
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def machine_line(n: int) -> str:
    """CPU model, cores, Python, kernel, date and the load: what the table was measured on."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    today = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (f"Measured on: {model}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, Linux {platform.release()}, {today}; "
            f"load average at the end {load}; n={n} runs per variant unless a row says "
            f"otherwise; medians with the p25-p75 spread in parentheses.")
