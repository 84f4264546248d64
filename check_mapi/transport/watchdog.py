"""The watchdog of every transport: one daemon thread for the whole process that shuts a
request's connections down from outside when its deadline passes (see ``network``)."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable


class _Ticket:
    """One armed deadline of one backend; ``live`` False once re-armed, disarmed or due."""

    __slots__ = ("expire", "live")

    def __init__(self, expire: Callable[[], None]) -> None:
        self.expire, self.live = expire, True


class _Scheduler:
    """One daemon thread for the whole process, started on first use, that calls a
    ticket's ``expire`` when its moment passes. Arming wakes the thread only when the new
    moment is the earliest; disarming never wakes it (a cancelled ticket is dropped when
    it comes up): with many probes in threads, a request costs no thread switch here."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Ticket]] = []
        self._count = 0
        self._thread: threading.Thread | None = None

    def schedule(self, at: float, ticket: _Ticket) -> None:
        with self._cond:
            self._count += 1
            heapq.heappush(self._heap, (at, self._count, ticket))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="check_mapi-watchdog",
                                                daemon=True)
                self._thread.start()
            if self._heap[0][2] is ticket:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                due = self._next_due()
            if due is not None:
                due.expire()

    def _next_due(self) -> _Ticket | None:
        """Wait for the earliest live ticket to come due (lock held); None: look again."""
        while self._heap and not self._heap[0][2].live:
            heapq.heappop(self._heap)
        if not self._heap:
            self._cond.wait()
            return None
        at, _, ticket = self._heap[0]
        left = at - time.monotonic()
        if left > 0:
            self._cond.wait(left)
            return None
        heapq.heappop(self._heap)
        ticket.live = False
        return ticket


_SCHEDULER = _Scheduler()


class Watchdog:
    """A backend's deadline on the shared scheduler: ``expire`` is called when the armed
    moment passes, unless it was re-armed or disarmed first."""

    __slots__ = ("_expire", "_ticket")

    def __init__(self, expire: Callable[[], None]) -> None:
        self._expire = expire
        self._ticket: _Ticket | None = None

    def arm(self, at: float | None) -> None:
        if self._ticket is not None:
            self._ticket.live = False
            self._ticket = None
        if at is not None:
            self._ticket = _Ticket(self._expire)
            _SCHEDULER.schedule(at, self._ticket)

    def close(self) -> None:
        self.arm(None)
