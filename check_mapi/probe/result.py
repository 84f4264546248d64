"""What one probe found, filled in as its steps run (timings survive a failure).

Plain data: ``check_mapi.evaluate`` reads it without importing the network side, and tests
build one by hand to check evaluation and rendering without sockets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import MapiError
from ..settings import MailboxSettings
from ..values import Value, field

if TYPE_CHECKING:  # annotations only: a --url run never loads Autodiscover or ssl for them
    from datetime import datetime

    from ..autodiscover.record import AutodiscoverRecord
    from ..autodiscover.verdict import Verdict
    from ..resolver import Resolution
    from ..transport.facts import ConnectionFacts


class CallTrace(Value):
    """One MAPI/HTTP request, for the step trace in the long output."""

    request_type: str
    request_id: str
    status: int
    response_code: int | None
    elapsed: float
    processing_after: float | None
    pending_count: int
    server_elapsed_ms: int | None
    server_facts: tuple[tuple[str, str], ...]
    connection: ConnectionFacts | None = None
    auth: str | None = None  # the handshake this request needed, e.g. "NTLM, 3 legs"


class InboxItem(Value):
    """One row of the Inbox contents table (values may be missing on a row)."""

    subject: str | None
    delivery_time: datetime | None
    sender: str | None
    size: int | None
    read: bool | None


class ProbeResult(Value, frozen=False):
    """What happened. ``timings`` is keyed by the step names of ``check_mapi.metrics``."""

    mailbox: MailboxSettings
    auth_method: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    wall: float | None = None  # the probe's wall-clock time, the plugin's own work included
    running: str | None = None  # the step in progress (for a timeout caught from outside)
    error: MapiError | None = None
    failed_step: str | None = None
    disconnect_error: MapiError | None = None
    display_name: str | None = None
    item_count: int | None = None
    items: tuple[InboxItem, ...] = ()
    traces: tuple[CallTrace, ...] = ()
    step_traces: dict[str, CallTrace] = field(default_factory=dict)
    request_guid: str | None = None
    client_info: str | None = None
    url: str | None = None  # the emsmdb URL logged on through
    legacy_dn: str | None = None
    autodiscover: AutodiscoverRecord | None = None
    verdict: Verdict | None = None
    resolution: Resolution | None = None  # read live (--settings-from exo): wins
    settings_lines: tuple[str, ...] = ()  # where the live settings came from, for -v
    settings_warning: str | None = None  # why they could not be read: a WARNING

    def fail(self, step: str, error: MapiError) -> None:
        """Record ``error`` at ``step`` unless an earlier error is already the reason."""
        if self.error is None:
            self.error, self.failed_step = error, step

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def logged_on(self) -> bool:
        return "connect" in self.timings

    @property
    def available(self) -> bool:
        """1: the mailbox opened, or MAPI over HTTP is not meant to be offered here."""
        if self.error is not None:
            return False
        if self.logged_on or self.verdict is None:
            return True
        return self.verdict.available

    @property
    def connection(self) -> ConnectionFacts | None:
        """The connection of the last MAPI request that had one."""
        return next((t.connection for t in reversed(self.traces) if t.connection), None)

    @property
    def server_facts(self) -> dict[str, str]:
        facts: dict[str, str] = {}
        for trace in self.traces:
            facts.update(trace.server_facts)
        return facts
