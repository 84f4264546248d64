"""Immutable value objects that cost almost nothing to define.

A frozen ``dataclasses.dataclass`` generates and compiles its methods when its class is
defined: ~1 ms each, and the probe defines ~80 of them at every start (a fifth of a
probe's CPU, see the README's Performance section). ``Value`` gives the same behaviour
from methods written once: fields from the class annotations (in order, the base class's
first), defaults, keyword or positional construction, ``__slots__``, immutability, ``==``
by type and fields, ``hash``, ``repr``; defining a class costs ~0.03 ms.

``typing.dataclass_transform`` tells mypy the class behaves like a dataclass, so the
constructors stay type-checked. ``field()`` declares a default factory or a value left out
of ``repr`` and ``==`` (a secret, a connection's facts). ``frozen=False`` as a class
keyword makes a mutable record (``ProbeResult``, filled in as a probe runs).

Pure: the standard library only (the ``wire`` codec uses it too).
"""

from __future__ import annotations

TYPE_CHECKING = False  # mypy reads this name as True; typing itself is not imported
if TYPE_CHECKING:  # ~3.5 ms at every start, --help included (issue 12)
    from collections.abc import Callable, Iterator
    from typing import Any, ClassVar, TypeVar

    from typing_extensions import dataclass_transform

    V = TypeVar("V", bound="Value")
else:
    def dataclass_transform(**_: object) -> object:
        return lambda cls: cls

_MISSING: Any = object()


class _Field:
    """What ``field()`` declares; replaced by the default when the class is built."""

    __slots__ = ("compare", "default", "default_factory", "repr")

    def __init__(self, default: Any, default_factory: Callable[[], Any] | None, repr: bool,
                 compare: bool) -> None:
        self.default, self.default_factory = default, default_factory
        self.repr, self.compare = repr, compare


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None,
          repr: bool = True, compare: bool = True) -> Any:
    """A field with a default factory, or one that ``repr``/``==`` leave out."""
    return _Field(default, default_factory, repr, compare)


@dataclass_transform(frozen_default=True, eq_default=True, field_specifiers=(field,))
class _ValueType(type):
    """Builds ``__slots__`` and the field tables from the annotations of a class body."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any],
                frozen: bool = True) -> _ValueType:
        fields: list[str] = []
        defaults: dict[str, Any] = {}
        factories: dict[str, Callable[[], Any]] = {}
        hidden: set[str] = set()
        ignored: set[str] = set()
        for base in bases:
            fields += getattr(base, "_fields", ())
            defaults.update(getattr(base, "_defaults", {}))
            factories.update(getattr(base, "_factories", {}))
            hidden |= set(getattr(base, "_hidden", ()))
            ignored |= set(getattr(base, "_ignored", ()))
        own = [n for n, kind in namespace.get("__annotations__", {}).items()
               if not str(kind).startswith(("ClassVar", "typing.ClassVar"))]
        for attribute in own:
            declared = namespace.pop(attribute, _MISSING)
            if isinstance(declared, _Field):
                if declared.default_factory is not None:
                    factories[attribute] = declared.default_factory
                elif declared.default is not _MISSING:
                    defaults[attribute] = declared.default
                hidden |= set() if declared.repr else {attribute}
                ignored |= set() if declared.compare else {attribute}
            elif declared is not _MISSING:
                defaults[attribute] = declared
            if attribute not in fields:
                fields.append(attribute)
        namespace.update(__slots__=tuple(own), _fields=tuple(fields), _defaults=defaults,
                         _factories=factories, _hidden=frozenset(hidden),
                         _ignored=frozenset(ignored), _frozen=frozen)
        return super().__new__(mcs, name, bases, namespace)


class Value(metaclass=_ValueType):
    """Base of the value objects: see the module docstring."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]]
    _defaults: ClassVar[dict[str, Any]]
    _factories: ClassVar[dict[str, Callable[[], Any]]]
    _hidden: ClassVar[frozenset[str]]
    _ignored: ClassVar[frozenset[str]]
    _frozen: ClassVar[bool]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        names = cls._fields
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} arguments, got {len(args)}")
        setter = object.__setattr__
        for name, value in zip(names, args, strict=False):
            setter(self, name, value)
        for name in names[len(args):]:
            value = kwargs.pop(name, _MISSING)
            if value is _MISSING:
                value = cls._defaults.get(name, _MISSING)
                if value is _MISSING:
                    factory = cls._factories.get(name)
                    if factory is None:
                        raise TypeError(f"{cls.__name__}() missing argument {name!r}")
                    value = factory()
            setter(self, name, value)
        if kwargs:
            raise TypeError(f"{cls.__name__}() got unexpected arguments {sorted(kwargs)}")

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__}: cannot delete {name}")

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in self._fields if n not in self._ignored)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Value)
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        if not self._frozen:
            raise TypeError(f"unhashable type: {type(self).__name__!r}")
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields
                          if n not in self._hidden)
        return f"{type(self).__name__}({shown})"


def fields(value: Value | type[Value]) -> tuple[str, ...]:
    """The field names, in order."""
    return value._fields


def items(value: Value) -> Iterator[tuple[str, Any]]:
    """(name, value) of every field, in order."""
    for name in value._fields:
        yield name, getattr(value, name)


def replace(value: V, **changes: Any) -> V:
    """A copy of ``value`` with ``changes``."""
    return type(value)(**{**dict(items(value)), **changes})


def as_dict(value: Any) -> Any:
    """Values, lists, tuples and dicts as plain dicts, lists and values (for JSON)."""
    if isinstance(value, Value):
        return {name: as_dict(item) for name, item in items(value)}
    if isinstance(value, (list, tuple)):
        return [as_dict(item) for item in value]
    if isinstance(value, dict):
        return {key: as_dict(item) for key, item in value.items()}
    return value


def is_value(value: object) -> bool:
    return isinstance(value, Value)
