"""check_mapi.evaluate.ranges against nagiosplugin's Range, the reference implementation of
the Monitoring Plugins range semantics: the same verdict for every range and value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nagiosplugin import Range as Reference

from check_mapi.errors import ConfigError
from check_mapi.evaluate.ranges import Range

numbers = st.one_of(st.integers(-1000, 1000).map(str),
                    st.decimals(-1000, 1000, places=3, allow_nan=False,
                                allow_infinity=False).map(lambda d: f"{d:f}"))


@st.composite
def specs(draw: st.DrawFn) -> str:
    start = draw(st.one_of(st.none(), st.just("~"), numbers))
    end = draw(st.one_of(st.just(""), numbers))
    text = end if start is None else f"{start}:{end}"
    return ("@" if draw(st.booleans()) else "") + text


@given(specs(), st.one_of(st.integers(-2000, 2000),
                          st.floats(-2000, 2000, allow_nan=False)))
def test_same_verdict_as_nagiosplugin(spec: str, value: float) -> None:
    try:
        reference = Reference(spec)
    except ValueError:  # start > end
        with pytest.raises(ConfigError, match="is greater than end"):
            Range(spec)
        return
    ours = Range(spec)
    assert (ours.invert, ours.start, ours.end) == tuple(reference)
    assert ours.match(value) == reference.match(value)


@pytest.mark.parametrize(("spec", "alerts", "quiet"), [
    ("10", [-1, 10.5], [0, 10]), ("10:", [9.99], [10, 1e9]), ("~:10", [10.1], [-1e9, 10]),
    ("10:20", [9, 21], [10, 20]), ("@10:20", [10, 20, 15], [9.9, 20.1]),
])
def test_the_guidelines_table(spec: str, alerts: list[float], quiet: list[float]) -> None:
    limit = Range(spec)
    assert [limit.match(v) for v in alerts] == [False] * len(alerts)
    assert [limit.match(v) for v in quiet] == [True] * len(quiet)
