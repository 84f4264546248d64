"""check_mapi.values: the cheap value objects behave as the frozen dataclasses they replace."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Generic, TypeVar

import pytest

from check_mapi.values import Value, as_dict, field, fields, replace

T = TypeVar("T")


class Point(Value):
    kind: ClassVar[str] = "point"
    x: int
    y: int = 0


class Point3(Point):
    z: int = 0


class Secretish(Value):
    value: str = field(repr=False)
    origin: str


class Facts(Value):
    url: str
    connection: object = field(default=None, compare=False, repr=False)


class Box(Value, Generic[T]):
    item: T


class Counter(Value, frozen=False):
    name: str
    seen: dict[str, int] = field(default_factory=dict)


def test_construction_defaults_and_order() -> None:
    assert (Point(1).x, Point(1).y, Point(1, 2).y, Point(y=3, x=4).x) == (1, 0, 2, 4)
    assert fields(Point3) == ("x", "y", "z") and Point3(1, 2, 3).z == 3
    assert Point.kind == "point" and "kind" not in fields(Point)
    assert Box(item=5).item == 5


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((), {}, "Point() missing argument 'x'"),
    ((1, 2, 3), {}, "Point() takes 2 arguments, got 3"),
    ((1,), {"w": 2}, "Point() got unexpected arguments ['w']"),
])
def test_bad_construction(args: tuple[Any, ...], kwargs: dict[str, Any], message: str
                          ) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        Point(*args, **kwargs)


def test_immutable_and_slotted() -> None:
    point = Point(1)
    with pytest.raises(AttributeError, match="immutable"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.x
    assert not hasattr(point, "__dict__")


def test_equality_hash_and_repr() -> None:
    assert Point(1, 2) == Point(1, 2) and hash(Point(1, 2)) == hash(Point(1, 2))
    assert Point(1, 2) != Point(1, 3)
    assert Point(1, 0) != Point3(1, 0, 0)  # another type is never equal (unlike tuples)
    assert Point(1, 0) != (1, 0)
    assert repr(Point3(1, 2, 3)) == "Point3(x=1, y=2, z=3)"
    assert repr(Secretish("hunter2", "--password-file /x")) == (
        "Secretish(origin='--password-file /x')")
    assert Facts("u", connection=1) == Facts("u", connection=2)
    assert repr(Facts("u", connection=1)) == "Facts(url='u')"


def test_mutable_records_and_factories() -> None:
    one, two = Counter("a"), Counter("b")
    one.seen["x"] = 1
    one.name = "c"
    assert (one.name, one.seen, two.seen) == ("c", {"x": 1}, {})  # a new dict each
    with pytest.raises(TypeError, match="unhashable"):
        hash(one)


def test_replace_and_as_dict() -> None:
    assert replace(Point3(1, 2, 3), y=5) == Point3(1, 5, 3)
    nested = Box(item=(Point(1), [Point3(2)], {"k": Point(3, 4)}))
    assert as_dict(nested) == {"item": [{"x": 1, "y": 0}, [{"x": 2, "y": 0, "z": 0}],
                                        {"k": {"x": 3, "y": 4}}]}
