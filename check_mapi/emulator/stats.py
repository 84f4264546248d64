"""Counters of the emulator, read in-process or at ``GET /_emulator/stats`` (JSON).

Tests and benchmarks prove with them that a probe leaked no session and made exactly the
requests it should. Every counter (the README's emulator section lists the same):

* ``requests``: HTTP requests by endpoint and type, the 401 legs of authentication included:
  ``Connect``, ``Execute``, ``Disconnect``, ``PING``, ``NotificationWait`` (``/mapi/emsmdb/``,
  as the client named them in X-RequestType), ``emsmdb_other`` (``/mapi/emsmdb/`` without one
  of those X-RequestTypes: a browser's GET, a missing or unknown type), ``nspi:Bind``,
  ``nspi:Unbind``, ``nspi:PING`` and ``nspi_other`` (``/mapi/nspi/``, the same way),
  ``autodiscover`` (POX), ``autodiscover_json`` (v2), ``identity`` (the identity provider's
  endpoints), ``adminapi`` and ``other`` (any other path: answered 404);
  ``total_requests`` is their sum.
* ``http_statuses`` and ``response_codes`` (X-ResponseCode values, as strings): one per answer
  to those same requests, so ``sum(http_statuses) == total_requests`` once all are answered
  (a request the server could not read as HTTP is an ``error`` and in neither).
* ``tcp_connections`` (accepted, whatever they carry), ``auth_handshakes`` (completed),
  ``auth_challenges`` (401 answers sent by authentication), ``open_sessions`` (mailbox
  Session Contexts), ``sessions_created``, ``sessions_disconnected``, ``sessions_expired``,
  ``errors`` (malformed HTTP, TLS
  failures, a client gone mid-answer), ``faults_applied`` (answers a configured fault shaped),
  ``connections_refused`` (answered 503 and closed: ``[server] max_connections`` reached).
* ``identity_requests`` (by operation) and ``identity_errors`` (by AADSTS code): the identity
  provider's own counters, which also record what is done on its ``/_emulator/`` pages.

Requests under ``/_emulator/`` (these counters, the device page, revocation) are the
emulator's own hooks: counted nowhere, neither in ``requests`` nor in ``http_statuses`` or
``response_codes`` (only their TCP connection is, as connections are counted when accepted).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    requests: dict[str, int]
    tcp_connections: int
    auth_handshakes: int
    auth_challenges: int  # 401 answers sent by authentication
    open_sessions: int
    sessions_created: int
    sessions_disconnected: int
    sessions_expired: int
    response_codes: dict[str, int]  # X-ResponseCode values sent, as strings
    http_statuses: dict[str, int]
    errors: int  # malformed HTTP, TLS failures, client gone mid-answer
    faults_applied: int
    connections_refused: int = 0  # beyond [server] max_connections: 503 and closed
    identity_requests: dict[str, int] = field(default_factory=dict)
    identity_errors: dict[str, int] = field(default_factory=dict)  # by AADSTS code

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_requests"] = self.total_requests
        return data


@dataclass(slots=True)
class Stats:
    """Thread-safe counters; ``open_sessions`` is read from the session registry."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _requests: Counter[str] = field(default_factory=Counter)
    _response_codes: Counter[str] = field(default_factory=Counter)
    _statuses: Counter[str] = field(default_factory=Counter)
    _numbers: Counter[str] = field(default_factory=Counter)
    _identity: Counter[str] = field(default_factory=Counter)
    _identity_errors: Counter[str] = field(default_factory=Counter)

    def request(self, kind: str) -> None:
        with self._lock:
            self._requests[kind] += 1

    def answered(self, status: int, response_code: int | None) -> None:
        with self._lock:
            self._statuses[str(status)] += 1
            if response_code is not None:
                self._response_codes[str(response_code)] += 1

    def bump(self, name: str, amount: int = 1) -> None:
        """tcp_connections, auth_handshakes, auth_challenges, sessions_*, errors, faults."""
        with self._lock:
            self._numbers[name] += amount

    def identity(self, kind: str) -> None:
        with self._lock:
            self._identity[kind] += 1

    def identity_error(self, code: int) -> None:
        with self._lock:
            self._identity_errors[str(code)] += 1

    def snapshot(self, open_sessions: int) -> StatsSnapshot:
        with self._lock:
            n = self._numbers
            return StatsSnapshot(
                requests=dict(self._requests), tcp_connections=n["tcp_connections"],
                auth_handshakes=n["auth_handshakes"], auth_challenges=n["auth_challenges"],
                open_sessions=open_sessions, sessions_created=n["sessions_created"],
                sessions_disconnected=n["sessions_disconnected"],
                sessions_expired=n["sessions_expired"],
                response_codes=dict(self._response_codes), http_statuses=dict(self._statuses),
                errors=n["errors"], faults_applied=n["faults_applied"],
                connections_refused=n["connections_refused"],
                identity_requests=dict(self._identity),
                identity_errors=dict(self._identity_errors))

    def reset(self) -> None:
        with self._lock:
            for counter in (self._requests, self._response_codes, self._statuses, self._numbers,
                            self._identity, self._identity_errors):
                counter.clear()
