"""One probe: what Outlook does when a user opens a mailbox, timed step by step.

autodiscover (unless --url and --legacy-dn are given) -> connect -> logon -> inbox ->
disconnect (``check_mapi.metrics`` names the steps). Every request runs against the
budget's step deadline; Disconnect gets the later one, so that a session that was
connected is disconnected also after a timeout. Once Connect has succeeded, Disconnect is
always sent; the first error is the one reported. What Autodiscover offers is compared
with what the settings expect (``autodiscover.verdict``); a restriction observed as
configured ends the probe there, without a logon.

Never raises a MapiError: failures are recorded in the ``ProbeResult``, which the caller
may pass in, so that it keeps what was measured even if the probe is interrupted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..auth import flow_for, report_of
from ..auth.identity import header_address
from ..deadline import Budget
from ..errors import MapiError
from ..resolver import explain as resolver_explain
from ..settings import MailboxSettings, RunSettings
from ..transport.client import Auth, Transport, Verify
from . import conversation
from .result import ProbeResult
from .session import MapiSession
from .timing import timed

if TYPE_CHECKING:
    from ..exo.adminapi import LiveSettings


def run_probe(run: RunSettings, mailbox: MailboxSettings, budget: Budget, verify: Verify,
              result: ProbeResult | None = None) -> ProbeResult:
    """Autodiscover (unless skipped), then every step; the result says what happened."""
    result = result if result is not None else ProbeResult(mailbox)
    result.auth_method = mailbox.auth.method
    result.running = "connect" if mailbox.skips_autodiscover else "autodiscover"  # set-up
    auth = flow_for(mailbox.auth, mailbox.address, run.state_dir)
    with Transport(run.connection, verify) as transport:
        start = time.monotonic()
        try:
            if not _token(auth, transport, budget, result):
                return result
            if mailbox.exo is not None:
                _live_settings(transport, budget, run, mailbox, result)
            if mailbox.skips_autodiscover:
                result.url, result.legacy_dn = mailbox.url, mailbox.legacy_dn
            else:  # the Autodiscover stack (XML, cache) only when it runs
                from .discover import autodiscover

                autodiscover(transport, budget, auth, run=run, mailbox=mailbox, result=result)
            if result.url is not None and result.legacy_dn is not None and result.ok:
                session = MapiSession(transport, result.url, auth, run.client_application,
                                      user_identity=header_address(mailbox.address))
                result.request_guid, result.client_info = (session.request_guid,
                                                           session.client_info)
                try:
                    _steps(session, result.legacy_dn, run.rows, budget, result)
                finally:
                    result.traces = tuple(session.traces)
        finally:
            # The steps' own times added up: like each of them, it leaves out the plugin's
            # work and its waits for the CPU between the requests, which grow on a busy
            # monitoring host and with --parallel, not with Exchange's response time.
            result.timings["total"] = sum(t for step, t in result.timings.items()
                                          if step != "total")
            result.wall = time.monotonic() - start
            result.running = None
            result.auth_method = _used(mailbox, auth)
    record = result.autodiscover
    if record is not None and record.cached_age is not None and not result.ok:
        from .discover import forget

        forget(run, mailbox)  # rediscover after a failure
    return result


def _token(auth: Auth, transport: Transport, budget: Budget, result: ProbeResult) -> bool:
    """The ``token`` step, when the flow needs one it does not have (Exchange Online)."""
    if type(auth).__name__ != "OAuthAuth":  # not imported for the other methods
        return True
    from ..auth.oauth import OAuthAuth

    if not isinstance(auth, OAuthAuth) or auth.cached():
        return True
    try:
        with timed(result, "token", auth.report):
            auth.acquire(transport, budget.steps)
    except MapiError:
        return False
    return True


def _live_settings(transport: Transport, budget: Budget, run: RunSettings,
                   mailbox: MailboxSettings, result: ProbeResult) -> None:
    """The ``settings`` step: the admin API (or its cache); a failure is only a WARNING."""
    from pathlib import Path

    from ..exo import cache
    from ..exo.adminapi import AdminApi, load_credential

    source = mailbox.exo
    assert source is not None
    begin = time.monotonic()
    result.running = "settings"

    def read() -> LiveSettings:
        credential = load_credential(source.tenant, source.app_id, key_file=source.key_file,
                                     cert_file=source.cert_file, pfx_file=source.pfx_file,
                                     passphrase_file=source.passphrase_file)
        return AdminApi(transport, budget.steps, credential, source.authority_host,
                        source.admin_url).read(mailbox.address)

    path = cache.cache_path(Path(run.state_dir), source.tenant, mailbox.address)
    live, when, warning = cache.fetch(read, path, source.cache_seconds)
    if when == "just now" or live is None:
        result.timings["settings"] = time.monotonic() - begin
    if live is None:
        result.settings_warning = warning
        return
    if warning:
        result.settings_lines = (f"settings cache: {warning}",)
    resolution = cache.resolution(live, when)
    result.resolution = resolution
    result.settings_lines += tuple(f"settings: {line}" for line in resolver_explain(resolution))


def _used(mailbox: MailboxSettings, auth: Auth) -> str:
    """For the trace: the method used (``auto`` says what it chose)."""
    report = report_of(auth)
    if report is None or not report.used or mailbox.auth.oauth:
        return mailbox.auth.method
    used = report.used.lower()
    return used if mailbox.auth.method != "auto" else f"auto: {used}"


@contextlib.contextmanager
def _step(session: MapiSession, result: ProbeResult, step: str) -> Iterator[None]:
    """``_timed`` for one MAPI request, whose trace is kept for the step's line."""
    sent = len(session.traces)
    try:
        with timed(result, step, session.auth_report, session.network_time):
            yield
    finally:
        if len(session.traces) > sent:
            result.step_traces[step] = session.traces[-1]


def _steps(session: MapiSession, legacy_dn: str, rows: int, budget: Budget,
           result: ProbeResult) -> None:
    try:
        with _step(session, result, "connect"):
            connected = session.connect(legacy_dn, budget.steps)
    except MapiError:
        return
    result.display_name = connected.display_name
    try:
        with _step(session, result, "logon"):
            logon_handle, inbox_fid = conversation.logon(session, legacy_dn, budget.steps)
        with _step(session, result, "inbox"):
            result.item_count, result.items = conversation.inbox(
                session, logon_handle, inbox_fid, rows, budget.steps)
    except MapiError:
        pass  # recorded by _step; Disconnect still runs
    finally:
        _disconnect(session, budget, result)


def _disconnect(session: MapiSession, budget: Budget, result: ProbeResult) -> None:
    """Always after a successful Connect, within its reserved slice; its failure never
    hides an earlier one."""
    earlier = result.error
    try:
        with _step(session, result, "disconnect"):
            session.disconnect(budget.disconnect)
    except MapiError as err:
        if earlier is not None:
            result.disconnect_error = err

