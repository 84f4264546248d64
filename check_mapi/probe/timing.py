"""Timing a step of the probe: the one place that reads the clock for a step's time."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..errors import MapiError, TransportError
from .result import ProbeResult

if TYPE_CHECKING:
    from ..auth import AuthReport


@contextlib.contextmanager
def timed(result: ProbeResult, step: str, report: AuthReport | None,
          network: Callable[[], float | None] | None = None) -> Iterator[None]:
    """Time ``step``; its MapiError becomes the probe's error unless one came first.

    A step that got its answer takes the request's own time from ``network`` (first
    network action to the kernel's arrival time of the last byte, see
    ``Transport.network_time``): what Exchange and the network took, without the time
    the thread waited to run once the answer was there, which grows with the number of
    probes running at once. Otherwise (a timeout, no answer, or no kernel time stamps)
    the wall clock, without the auth flow's local set-up (loading the NTLM library,
    ~0.1 s) and without loading the CA bundle before the first step.
    """
    begin, local = time.monotonic(), report.setup if report is not None else 0.0
    result.running = step
    answered = False
    try:
        yield
        answered = True
    except MapiError as err:
        result.fail(step, err)
        answered = not isinstance(err, TransportError)
        raise
    finally:
        local = (report.setup if report is not None else 0.0) - local
        own = network() if network is not None and answered else None
        result.timings[step] = own if own is not None else time.monotonic() - begin - local
