"""The plugin's output split as a monitoring core reads it (shared by the e2e test suites)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    code: int
    output: str

    @property
    def first_line(self) -> str:
        return self.output.splitlines()[0]

    @property
    def status(self) -> str:
        return self.first_line.split(" | ")[0]

    @property
    def perfdata(self) -> dict[str, str]:
        text = self.first_line.split(" | ", 1)[1] if " | " in self.first_line else ""
        return dict(item.split("=", 1) for item in text.split())

    @property
    def long(self) -> list[str]:
        return self.output.splitlines()[1:]
