"""Timing a step of the probe: the one place that reads the clock for a step's time."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import MapiError
from .result import ProbeResult

if TYPE_CHECKING:
    from ..auth import AuthReport


@contextlib.contextmanager
def timed(result: ProbeResult, step: str, report: AuthReport | None) -> Iterator[None]:
    """Time ``step``; its MapiError becomes the probe's error unless one came first.

    Local set-up of the auth flow in the step (loading the NTLM library: ~0.1 s) is not
    the server's time and is left out, as is loading the CA bundle before the first step.
    """
    begin, local = time.monotonic(), report.setup if report is not None else 0.0
    result.running = step
    try:
        yield
    except MapiError as err:
        result.fail(step, err)
        raise
    finally:
        local = (report.setup if report is not None else 0.0) - local
        result.timings[step] = time.monotonic() - begin - local
