"""The long output: a step trace in the spirit of Microsoft's Remote Connectivity Analyzer.

Which URL, which step took how long, what the server said (HTTP status, X-ResponseCode,
MAPI error names), server facts from response headers, and the X-RequestId/X-ClientInfo
values that find the requests in Exchange's MAPI Client Access logs. Never a secret, never
a cookie value; message subjects only when asked for.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .. import metrics
from ..probe.result import CallTrace, InboxItem, ProbeResult
from ..settings import RunSettings
from .certificate import certificate_lines

if TYPE_CHECKING:
    from ..autodiscover.record import AutodiscoverRecord


def long_output(result: ProbeResult, run: RunSettings, show_subjects: bool) -> list[str]:
    verbose = run.verbose
    lines = [_mailbox_line(result)]
    if result.auth_method == "oauth-password":
        lines.append("auth: the username/password grant is deprecated by Microsoft and "
                     "fails under MFA or Conditional Access; prefer --auth oauth after "
                     "--oauth-login")
    for step in metrics.steps():  # in the order the probe runs them
        if step.name == "autodiscover":
            lines += _autodiscover_lines(result)
        elif step.name == "settings":
            lines += _settings_lines(result)
        elif not step.optional or step.name in result.timings:
            lines.append(_step_line(result, step.name))
    if result.disconnect_error is not None:
        lines.append(f"disconnect also failed: {result.disconnect_error}")
    if result.wall is not None and "total" in result.timings:
        lines.append(f"total: {result.timings['total']:.3f} s in the steps (total_time), "
                     f"{result.wall:.3f} s with the plugin's own work between them")
    lines += _facts(result)
    lines += certificate_lines(result)  # the server certificates (read only when shown)
    if verbose >= 2:
        lines += _connection(result) + settings_lines(run)
    lines += _items(result, show_subjects)
    if verbose >= 3:
        lines += [_trace_line(trace) for trace in result.traces]
    return lines


def _settings_lines(result: ProbeResult) -> list[str]:
    """--settings-from exo: the step (or the cache), and where each value came from."""
    lines = []
    seconds = result.timings.get("settings")
    if result.settings_warning is not None:
        took = f" after {seconds:.3f} s" if seconds is not None else ""
        lines.append(f"settings: FAILED{took}: {result.settings_warning}")
    elif seconds is not None:
        lines.append(f"settings: OK in {seconds:.3f} s (Exchange Online admin API)")
    return lines + list(result.settings_lines)


def _mailbox_line(result: ProbeResult) -> str:
    where = f" at {result.url}" if result.url else ""
    extra = ""
    verdict = result.verdict
    if verdict is not None and verdict.endpoint.kind is not None and result.url:
        extra = f", vantage {verdict.endpoint.side}: {verdict.endpoint.kind}"
    elif verdict is not None:
        extra = f", vantage {verdict.endpoint.side}"
    user = result.mailbox.auth.username
    who = f" as {user}" if user and user.lower() != result.mailbox.address.lower() else ""
    return (f"mailbox {result.mailbox.address}{where} (auth {result.auth_method}{who}"
            f"{extra})")


def _autodiscover_lines(result: ProbeResult) -> list[str]:
    """The autodiscover step, each request it made, and expected vs observed."""
    record = result.autodiscover
    if record is None:
        if result.mailbox.resolution is not None:
            return ["configuration not compared: --url and --legacy-dn skip Autodiscover"]
        return []
    lines = [_autodiscover_line(result, record)]
    lines += [f"  {a.method} {a.url}: {a.answer}" for a in record.attempts]
    if record.address and record.address.lower() != result.mailbox.address.lower():
        lines.append(f"  settings are those of {record.address}")
    lines += [f"autodiscover cache: {note}" for note in record.cache_notes]
    if result.verdict is not None:
        lines += list(result.verdict.notes)
    return lines


def _autodiscover_line(result: ProbeResult, record: AutodiscoverRecord) -> str:
    seconds = result.timings.get("autodiscover")
    offer = f": {record.answer.offer.text}" if record.answer is not None else ""
    if record.cached_age is not None:
        return (f"autodiscover: from the cache ({record.cached_age:.0f} s old), "
                f"{record.url}{offer}")
    if result.failed_step == "autodiscover" and result.error is not None:
        took = f" after {seconds:.3f} s" if seconds is not None else ""
        return f"autodiscover: FAILED{took}: {result.error}"
    return f"autodiscover: OK in {seconds or 0.0:.3f} s from {record.url}{offer}"


def _step_line(result: ProbeResult, step: str) -> str:
    seconds = result.timings.get(step)
    if seconds is None:
        return f"{step}: not run"
    http = _http(result.step_traces.get(step))
    if step == result.failed_step and result.error is not None:
        said = f"; server said: {result.error.server_text}" if result.error.server_text else ""
        return f"{step}: FAILED after {seconds:.3f} s{http}: {result.error}{said}"
    if step == "disconnect" and result.disconnect_error is not None:
        return f"{step}: FAILED after {seconds:.3f} s{http}"
    return f"{step}: OK in {seconds:.3f} s{http}{_detail(result, step)}"


def _http(trace: CallTrace | None) -> str:
    if trace is None:
        return ""
    code = "" if trace.response_code is None else f", X-ResponseCode {trace.response_code}"
    auth = f", {trace.auth}" if trace.auth else ""
    return f" (HTTP {trace.status}{code}{auth})"


def _detail(result: ProbeResult, step: str) -> str:
    if step == "connect" and result.display_name is not None:
        return f", display name {result.display_name!r}"
    if step == "inbox" and result.item_count is not None:
        return f", {result.item_count} items"
    return ""


def _facts(result: ProbeResult) -> list[str]:
    answer = result.autodiscover.answer if result.autodiscover else None
    legacy_dn = result.legacy_dn or (answer.legacy_dn if answer else None)
    lines = [f"LegacyDN {legacy_dn}"] if legacy_dn else []
    facts = result.server_facts
    server = facts.get("X-ServerApplication")
    backend = facts.get("X-BackEndServer") or facts.get("X-CalculatedBETarget")
    if server or backend:
        lines.append("server " + ", ".join(
            part for part in (server, f"backend {backend}" if backend else None) if part))
    if result.traces:
        first, last = result.traces[0].request_id, result.traces[-1].request_id
        lines.append(f"X-ClientInfo {result.client_info}, X-RequestId {first} .. "
                     f"{last.rsplit(':', 1)[-1]} (MAPI Client Access log)")
    return lines


def _connection(result: ProbeResult) -> list[str]:
    """Where the MAPI requests went, and the TLS the client saw (``-vv``)."""
    facts = result.connection
    if facts is None:
        return []
    parts = [f"connection {facts.local or '?'} -> {facts.remote or '?'}"]
    if facts.tls_version:
        parts.append(f"{facts.tls_version} {facts.cipher or ''}".rstrip())
    if facts.not_after is not None:
        expiry = datetime.fromtimestamp(facts.not_after, timezone.utc)
        parts.append(f"certificate valid until {expiry:%Y-%m-%d %H:%M} UTC")
    elif facts.peer_certificate:
        parts.append("certificate not verified")
    return [", ".join(parts)]


def settings_lines(run: RunSettings) -> list[str]:
    """-vv: the run's settings in effect (the configuration debug of the guidelines)."""
    ranges = "; ".join(_range_text(name, *pair) for name, pair in run.ranges.items())
    connection = run.connection
    trust = ("not verified (--insecure)" if connection.insecure else
             f"--ca-file {connection.ca_file}" if connection.ca_file else "certifi's CAs")
    route = f"proxy {connection.proxy}" if connection.proxy else "direct (no proxy)"
    if connection.no_proxy:
        route += f", not for {', '.join(connection.no_proxy)}"
    cache = (f"{run.autodiscover_cache:g} s" if run.autodiscover_cache else "off")
    return [f"settings: timeout {run.timeout:g} s (on timeout {run.timeout_state.name}), "
            f"drift {run.drift_state.name}, thresholds: {ranges or 'none'}",
            f"settings: TLS trust {trust}, {route}, rows {run.rows}, client application "
            f"{run.client_application}, Autodiscover cache {cache}, state dir {run.state_dir}"]


def _range_text(name: str, warning: str | None, critical: str | None) -> str:
    levels = [f"{level} {spec}" for level, spec in (("warning", warning),
                                                    ("critical", critical)) if spec]
    return f"{metrics.by_name(name).label} {' '.join(levels)}"


def item_lines(result: ProbeResult) -> list[str]:
    """--show-subjects without -v: the newest items, without the step trace."""
    return _items(result, True)


def _items(result: ProbeResult, show_subjects: bool) -> list[str]:
    if not result.items:
        return []
    newest = result.items[0]
    lines = []
    if newest.delivery_time is not None:
        lines.append(f"newest item delivered {newest.delivery_time:%Y-%m-%d %H:%M:%S} UTC")
    if show_subjects:
        lines += [_item_line(item) for item in result.items]
    return lines


def _item_line(item: InboxItem) -> str:
    when = f"{item.delivery_time:%Y-%m-%d %H:%M}" if item.delivery_time else "(no date)"
    flag = "" if item.read is None else (" read" if item.read else " unread")
    return f"  {when}{flag} from {item.sender or '(unknown)'}: {item.subject or '(no subject)'}"


def _trace_line(trace: CallTrace) -> str:
    parts = [f"{trace.request_type} {trace.request_id}: HTTP {trace.status}",
             f"X-ResponseCode {trace.response_code}", f"{trace.elapsed:.3f} s"]
    if trace.processing_after is not None:
        parts.append(f"PROCESSING after {trace.processing_after:.3f} s")
    if trace.pending_count:
        parts.append(f"{trace.pending_count} PENDING")
    if trace.server_elapsed_ms is not None:
        parts.append(f"X-ElapsedTime {trace.server_elapsed_ms} ms")
    parts += [f"{name} {value}" for name, value in trace.server_facts]
    return "; ".join(parts)
