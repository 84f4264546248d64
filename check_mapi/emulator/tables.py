"""Configuration helpers: a TOML table with its dotted path, and a tuple made on demand.

Every error names the key it is about (``mailbox[1].fault[0].step: ...``); :meth:`Table.done`
refuses the keys nobody asked for, so that a typo does not silently turn a setting off.
:class:`LazyTuple` lets ``generate_items = 100000`` start in no time: generated items are
made when a request reads them, never all at start-up.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from itertools import chain
from typing import Any, SupportsIndex, TypeVar, overload

from ..errors import ConfigError

T = TypeVar("T")


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


class LazyTuple(Sequence[T]):
    """``head``, then ``generated`` items ``make(0) ... make(generated - 1)``, made when read.

    Reads as ``head + tuple(map(make, range(generated)))`` would; ``make`` must be pure.
    """

    __slots__ = ("generated", "head", "make")

    def __init__(self, head: tuple[T, ...], generated: int, make: Callable[[int], T]) -> None:
        self.head, self.generated, self.make = head, generated, make

    def __len__(self) -> int:
        return len(self.head) + self.generated

    @overload
    def __getitem__(self, index: SupportsIndex) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> T | tuple[T, ...]:
        if isinstance(index, slice):
            return tuple(self[n] for n in range(*index.indices(len(self))))
        n = operator.index(index)
        n += len(self) if n < 0 else 0
        if not 0 <= n < len(self):
            raise IndexError("LazyTuple index out of range")
        head = len(self.head)
        return self.head[n] if n < head else self.make(n - head)

    def __iter__(self) -> Iterator[T]:
        return chain(self.head, map(self.make, range(self.generated)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LazyTuple):
            return NotImplemented
        return (self.head, self.generated, self.make) == (other.head, other.generated, other.make)

    def __hash__(self) -> int:
        return hash((self.head, self.generated, self.make))

    def __repr__(self) -> str:
        maker = getattr(self.make, "__name__", "make")
        return f"LazyTuple({len(self.head)} items + {self.generated} made by {maker})"
