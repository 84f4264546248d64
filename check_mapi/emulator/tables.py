"""A TOML table with its dotted path, for the configuration's one-line errors.

Every error names the key it is about (``mailbox[1].fault[0].step: ...``); :meth:`Table.done`
refuses the keys nobody asked for, so that a typo does not silently turn a setting off.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import ConfigError


class Table:
    """A TOML table with its dotted path, for one-line errors; tracks unused keys."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: must be a table")
        self.data: dict[str, Any] = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.used.add(name)
        if name not in self.data:
            return default
        value = self.data[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            raise ConfigError(f"{self.key(name)}: expected {_kind_name(kind)}, "
                              f"got {type(value).__name__}")
        return value

    def require(self, name: str, kind: type | tuple[type, ...]) -> Any:
        if name not in self.data:
            raise ConfigError(f"{self.key(name)}: missing")
        return self.get(name, kind)

    def tables(self, name: str) -> list[Table]:
        self.used.add(name)
        items = self.data.get(name, [])
        if not isinstance(items, list):
            raise ConfigError(f"{self.key(name)}: must be an array of tables ([[{name}]])")
        return [Table(item, f"{self.key(name)}[{n}]") for n, item in enumerate(items)]

    def sub(self, name: str) -> Table:
        self.used.add(name)
        return Table(self.data.get(name, {}), self.key(name))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self.key(unknown[0])}: unknown key")


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", float: "a number",
             list: "an array", datetime: "a date-time"}
    return " or ".join(names.get(k, k.__name__) for k in _kinds(kind))
