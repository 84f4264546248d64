"""One probe: what Outlook does when a user opens a mailbox, timed step by step.

autodiscover (unless --url and --legacy-dn are given) -> connect -> logon (RopLogon) ->
inbox (RopOpenFolder, RopGetContentsTable, RopSetColumns, RopSortTable newest first,
RopQueryRows, RopRelease x2) -> disconnect. Once Connect has succeeded, Disconnect is
always sent; the first error is the one reported. What Autodiscover offers is compared
with what the settings expect (autodiscover_verdict); a restriction observed as
configured ends the probe there, without a logon.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from . import autodiscover_cache
from .autodiscover import Attempt, Candidate, Discoverer, SrvLookup
from .autodiscover_verdict import Verdict, judge
from .autodiscover_xml import PoxAnswer
from .errors import MapiError, ProtocolError, RopError, ServiceState
from .resolver import Resolution
from .session import DEFAULT_CLIENT_APPLICATION, CallTrace, MapiSession
from .transport import Transport, TransportConfig
from .wire import (
    INBOX,
    LOGON_FLAG_PRIVATE,
    OPEN_FLAG_USE_PER_MDB_REPLID_MAPPING,
    SORT_DESCENDING,
    TABLE_FLAG_USE_UNICODE,
    ExecuteResponse,
    PropertyValue,
    RopBackoffResponse,
    RopBufferTooSmallResponse,
    RopContext,
    RopErrorResponse,
    RopGetContentsTableRequest,
    RopGetContentsTableResponse,
    RopLogonRedirectResponse,
    RopLogonRequest,
    RopLogonResponse,
    RopOpenFolderRequest,
    RopQueryRowsRequest,
    RopQueryRowsResponse,
    RopReleaseRequest,
    RopRequest,
    RopSetColumnsRequest,
    RopSortTableRequest,
    SortOrder,
    describe_error,
    describe_rop,
    filetime_to_datetime,
)

PidTagSubject = 0x0037001F
PidTagMessageDeliveryTime = 0x0E060040
PidTagSenderName = 0x0C1A001F
PidTagMessageSize = 0x0E080003
PidTagMessageFlags = 0x0E070003
COLUMNS = (PidTagSubject, PidTagMessageDeliveryTime, PidTagSenderName, PidTagMessageSize,
           PidTagMessageFlags)
MSGFLAG_READ = 0x01
NO_HANDLE = 0xFFFFFFFF
LOGON_ID = 0
STEPS = ("connect", "logon", "inbox", "disconnect")


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """Everything one probe needs; built by the CLI, never mutated."""

    mailbox: str
    url: str | None = None  # with legacy_dn: skip Autodiscover
    legacy_dn: str | None = None
    timeout: float = 30.0
    rows: int = 5
    client_application: str = DEFAULT_CLIENT_APPLICATION
    auth_method: str = "basic"  # for the step trace only
    transport: TransportConfig = field(default_factory=TransportConfig)
    autodiscover_url: str | None = None  # pinned; None: discover from the mailbox's domain
    vantage: str = "auto"
    resolution: Resolution | None = None  # the MAPI over HTTP settings, when given
    expect_protocol: str | None = None
    drift_state: ServiceState = ServiceState.WARNING
    autodiscover_cache: float = 0.0  # seconds; 0: off
    state_dir: str | None = None

    @property
    def skips_autodiscover(self) -> bool:
        return bool(self.url and self.legacy_dn)


@dataclass(slots=True)
class AutodiscoverRecord:
    """What the autodiscover step did, for the long output (also after a failure)."""

    attempts: tuple[Attempt, ...] = ()
    url: str | None = None  # the POX URL that answered
    address: str | None = None  # after redirectAddr
    answer: PoxAnswer | None = None
    cached_age: float | None = None  # seconds, when the answer came from the cache
    cache_notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One row of the Inbox contents table (values may be missing on a row)."""

    subject: str | None
    delivery_time: datetime | None
    sender: str | None
    size: int | None
    read: bool | None


@dataclass(slots=True)
class ProbeResult:
    """What happened; filled in as the steps run (timings survive a failure)."""

    settings: ProbeSettings
    timings: dict[str, float] = field(default_factory=dict)
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
    def server_facts(self) -> dict[str, str]:
        facts: dict[str, str] = {}
        for trace in self.traces:
            facts.update(trace.server_facts)
        return facts


def run_probe(settings: ProbeSettings, auth: httpx.Auth | None,
              clock: Callable[[], float] = time.monotonic, *,
              srv_lookup: SrvLookup | None = None,
              candidates: Callable[[str], list[Candidate]] | None = None) -> ProbeResult:
    """Autodiscover (unless skipped), then every step; never raises a MapiError.

    ``srv_lookup`` and ``candidates`` replace DNS and the candidate list (tests).
    """
    result = ProbeResult(settings)
    deadline = time.monotonic() + settings.timeout  # the transport's deadlines are monotonic
    with Transport(settings.transport, auth) as transport:
        start = clock()  # after loading the CA bundle: total_time is the network path only
        if settings.skips_autodiscover:
            result.url, result.legacy_dn = settings.url, settings.legacy_dn
        else:
            _autodiscover(Discoverer(transport, deadline, srv_lookup, candidates), settings,
                          result, clock)
        if result.url is not None and result.legacy_dn is not None and result.ok:
            session = MapiSession(transport, result.url, deadline,
                                  settings.client_application, user_identity=settings.mailbox)
            result.request_guid, result.client_info = session.request_guid, session.client_info
            try:
                _steps(session, result.legacy_dn, settings.rows, result, clock)
            finally:
                result.traces = tuple(session.traces)
    record = result.autodiscover
    if record is not None and record.cached_age is not None and not result.ok:
        autodiscover_cache.drop(_cache_file(settings))  # rediscover after a failure
    result.timings["total"] = clock() - start
    return result


def _cache_file(settings: ProbeSettings) -> Path:
    return autodiscover_cache.cache_path(settings.state_dir or ".", settings.mailbox,
                                         settings.autodiscover_url)


def _autodiscover(discoverer: Discoverer, settings: ProbeSettings, result: ProbeResult,
                  clock: Callable[[], float]) -> None:
    """The autodiscover step (or the cache), then the verdict that decides the logon."""
    record = result.autodiscover = AutodiscoverRecord()
    use_cache = settings.autodiscover_cache > 0
    entry, note = (autodiscover_cache.load(_cache_file(settings), settings.autodiscover_cache,
                                           time.time()) if use_cache else (None, None))
    record.cache_notes = (note,) if note else ()
    if entry is not None:
        record.url, record.address, record.answer = entry.url, entry.address, entry.answer
        record.cached_age = time.time() - entry.saved
    else:
        begin = clock()
        try:
            found = discoverer.discover(settings.mailbox, settings.autodiscover_url)
        except MapiError as err:
            result.error, result.failed_step = err, "autodiscover"
            return
        finally:
            result.timings["autodiscover"] = clock() - begin
            record.attempts = tuple(discoverer.attempts)
        record.url, record.address, record.answer = found.url, found.address, found.answer
        if use_cache:
            saved = autodiscover_cache.save(_cache_file(settings), autodiscover_cache.CacheEntry(
                found.url, found.address, found.answer, time.time()))
            record.cache_notes += (saved,) if saved else ()
    _decide(record.answer, settings, result)


def _decide(answer: PoxAnswer, settings: ProbeSettings, result: ProbeResult) -> None:
    verdict = result.verdict = judge(answer, settings.vantage, settings.drift_state,
                                     settings.resolution, settings.expect_protocol)
    if not verdict.logon:
        return
    if not answer.legacy_dn:
        result.error = ProtocolError("Autodiscover's answer has no LegacyDN")
        result.failed_step = "autodiscover"
        return
    result.url, result.legacy_dn = verdict.endpoint.url, answer.legacy_dn


@contextlib.contextmanager
def _step(session: MapiSession, result: ProbeResult, step: str,
          clock: Callable[[], float]) -> Iterator[None]:
    """Time ``step`` (one request); the first MapiError becomes the probe's error."""
    begin, sent = clock(), len(session.traces)
    try:
        yield
    except MapiError as err:
        if result.error is None:
            result.error, result.failed_step = err, step
        raise
    finally:
        result.timings[step] = clock() - begin
        if len(session.traces) > sent:
            result.step_traces[step] = session.traces[-1]


def _steps(session: MapiSession, legacy_dn: str, rows: int, result: ProbeResult,
           clock: Callable[[], float]) -> None:
    try:
        with _step(session, result, "connect", clock):
            connected = session.connect(legacy_dn)
    except MapiError:
        return
    result.display_name = connected.display_name
    try:
        with _step(session, result, "logon", clock):
            logon_handle, inbox_fid = _logon(session, legacy_dn)
        with _step(session, result, "inbox", clock):
            _inbox(session, logon_handle, inbox_fid, rows, result)
    except MapiError:
        pass  # recorded by _step; Disconnect still runs
    finally:
        _disconnect(session, result, clock)


def _disconnect(session: MapiSession, result: ProbeResult, clock: Callable[[], float]) -> None:
    """Always after a successful Connect; its failure never hides an earlier one."""
    earlier = result.error
    try:
        with _step(session, result, "disconnect", clock):
            session.disconnect()
    except MapiError as err:
        if earlier is not None:
            result.disconnect_error = err


def _first_rop(response: ExecuteResponse, what: str) -> object:
    if not response.rops:
        raise ProtocolError(f"{what}: the server returned no ROP response")
    return response.rops[0]


def _logon(session: MapiSession, legacy_dn: str) -> tuple[int, int]:
    """RopLogon to the private mailbox; returns (logon handle, Inbox folder id)."""
    request = RopLogonRequest(LOGON_ID, 0, LOGON_FLAG_PRIVATE,
                              OPEN_FLAG_USE_PER_MDB_REPLID_MAPPING, 0, legacy_dn)
    response = session.execute([request], [NO_HANDLE], RopContext())
    rop = _first_rop(response, "RopLogon")
    _check_rop(rop)
    if isinstance(rop, RopLogonRedirectResponse):
        raise RopError(f"RopLogon: mailbox is on another server (ecWrongServer): "
                       f"{rop.server_name}", 0xFE, rop.return_value)
    if not isinstance(rop, RopLogonResponse):
        raise ProtocolError("RopLogon: the server answered a public folder logon")
    handles = response.rop_buffers[0].server_object_handle_table
    if not handles or handles[0] == NO_HANDLE:
        raise ProtocolError("RopLogon: no logon handle in the server object handle table")
    return handles[rop.output_handle_index], rop.folder_ids[INBOX]


def _inbox(session: MapiSession, logon_handle: int, inbox_fid: int, rows: int,
           result: ProbeResult) -> None:
    rops: list[RopRequest] = [RopOpenFolderRequest(LOGON_ID, 0, 1, inbox_fid, 0x00),
            RopGetContentsTableRequest(LOGON_ID, 1, 2, TABLE_FLAG_USE_UNICODE),
            RopSetColumnsRequest(LOGON_ID, 2, 0x00, COLUMNS),
            RopSortTableRequest(LOGON_ID, 2, 0x00, 0, 0,
                                (SortOrder(PidTagMessageDeliveryTime, SORT_DESCENDING),)),
            RopQueryRowsRequest(LOGON_ID, 2, 0x00, 0x01, rows),
            RopReleaseRequest(LOGON_ID, 2), RopReleaseRequest(LOGON_ID, 1)]
    response = session.execute(rops, [logon_handle, NO_HANDLE, NO_HANDLE],
                               RopContext(columns=COLUMNS))
    answers = response.rops
    for rop in answers:
        _check_rop(rop)
    if len(answers) < 5:
        raise ProtocolError(f"Inbox: expected 5 ROP responses, got {len(answers)}")
    table, query = answers[1], answers[4]
    if not isinstance(table, RopGetContentsTableResponse) or not isinstance(
            query, RopQueryRowsResponse):
        raise ProtocolError("Inbox: ROP responses out of order")
    result.item_count = table.row_count
    result.items = tuple(_item(row.cells) for row in query.rows)


def _check_rop(rop: object) -> None:
    """The first failing ROP explains the failure (later ones fail with ecNullObject)."""
    if isinstance(rop, RopErrorResponse):
        raise RopError(f"{rop.rop_id.name} returned {describe_error(rop.return_value)}",
                       rop.rop_id, rop.return_value)
    if isinstance(rop, RopBackoffResponse):
        raise RopError(f"server busy: RopBackoff for {rop.duration} ms", 0xF9, 0)
    if isinstance(rop, RopBufferTooSmallResponse):
        raise RopError(f"{describe_rop(0xFF)}: the server needs {rop.size_needed} bytes of "
                       "output buffer", 0xFF, 0)


def _item(cells: Sequence[object]) -> InboxItem:
    values = {c.tag: c.value for c in cells if isinstance(c, PropertyValue)}
    delivery, size = values.get(PidTagMessageDeliveryTime), values.get(PidTagMessageSize)
    flags = values.get(PidTagMessageFlags)
    return InboxItem(
        subject=_str(values.get(PidTagSubject)),
        delivery_time=filetime_to_datetime(delivery) if isinstance(delivery, int) else None,
        sender=_str(values.get(PidTagSenderName)),
        size=size if isinstance(size, int) else None,
        read=bool(flags & MSGFLAG_READ) if isinstance(flags, int) else None)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
