"""Faults a mailbox can be configured with, per probe step.

A fault applies to the requests of its step: ``autodiscover`` (the POX POST), ``connect``,
``logon`` (an Execute carrying RopLogon), ``inbox`` (an Execute carrying a RopOpenFolder of
the mailbox's Inbox FolderId, as the probe's Inbox request does), ``disconnect`` and ``ping``.
Other Executes (another client's later requests: other folders, messages, rules) belong to no
step and get no fault (:func:`.emsmdb.execute_step`). ``times = N`` limits it to the first
N matching requests (0: all of them), so that a test can make a step fail once and then
succeed.

``close_after_challenge`` acts before authentication: the connection is closed right after
the 401 that carries the NTLM/Negotiate challenge (Type 2), so the AUTHENTICATE leg has to go
on a new connection, where its handshake state is gone. Only steps whose mailbox is known
before authentication can have it: ``connect`` (the ``MailboxId`` of the URL) and
``autodiscover`` (the ``EMailAddress`` of the POX body, when the NEGOTIATE leg carries it,
as clients that replay the body on every leg do).
Such a fault does nothing else and no other fault key goes with it but ``times``.

The step names are those of :data:`check_mapi.metrics.METRICS` rows with ``fault`` set, read
when a configuration is parsed, plus the emulator's own ``ping`` (no probe step sends one) and
``adminapi`` (Get-CASMailbox of the admin API, :mod:`.admin`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .. import metrics

CHALLENGE_STEPS = ("autodiscover", "connect")  # mailbox known before authentication


def fault_steps() -> tuple[str, ...]:
    """The steps a ``[[mailbox.fault]]`` may name, read from the metrics table on each call."""
    return (*metrics.fault_steps(), "ping", "adminapi")


@dataclass(frozen=True, slots=True)
class Fault:
    step: str
    latency_ms: int = 0  # added before answering (PENDING keep-alives meanwhile on MAPI)
    http_status: int | None = None  # 401/403/404/429/500/502/503 ... instead of an answer
    retry_after: int | None = None  # Retry-After seconds with http_status
    response_code: int | None = None  # X-ResponseCode (MAPI steps)
    status_code: int | None = None  # body StatusCode != 0: the short failure body
    error_code: int | None = None  # Connect/Execute/Disconnect ErrorCode
    rop_error: int | None = None  # logon: RopLogon ReturnValue; inbox: RopOpenFolder(Inbox)
    wrong_server: str | None = None  # logon: ecWrongServer redirect to this server DN
    truncate_body: bool = False  # well-framed HTTP, but the body cut in half
    drop_connection: bool = False  # close the TCP connection in the middle of the answer
    pending_forever: bool = False  # PROCESSING, then PENDING until the client gives up
    # (autodiscover: no answer at all until the client gives up)
    malformed_xml: bool = False  # autodiscover: an XML document that does not parse
    redirect_loop: bool = False  # autodiscover: redirectAddr to the address asked for
    close_after_challenge: bool = False  # close the connection after the NTLM challenge
    times: int = 0

    def __post_init__(self) -> None:
        if not self.close_after_challenge:
            return
        if self.step not in CHALLENGE_STEPS:
            raise ValueError(f"only for step {' or '.join(CHALLENGE_STEPS)} (the mailbox must "
                             "be known before authentication)")
        if replace(self, close_after_challenge=False, times=0) != Fault(self.step):
            raise ValueError("goes with no other fault key but times")


class FaultBook:
    """Picks the fault for a request and counts uses of the ``times``-limited ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[int, int] = {}

    def take(self, faults: Sequence[Fault], step: str,
             at_challenge: bool = False) -> Fault | None:
        """The first fault of ``step`` that still applies; consumes one of its uses.

        ``at_challenge``: the ``close_after_challenge`` faults (taken when an NTLM challenge
        goes out), else the others (taken when the request is answered).
        """
        with self._lock:
            for fault in faults:
                if fault.step != step or fault.close_after_challenge != at_challenge:
                    continue
                if fault.times:
                    used = self._used.get(id(fault), 0)
                    if used >= fault.times:
                        continue
                    self._used[id(fault)] = used + 1
                return fault
        return None
