"""The autodiscover step of a probe: the POX request(s) or the cache, then the verdict
(expected vs observed configuration) that decides whether the probe logs on.

Imported only when the probe runs Autodiscover: a ``--url`` run loads neither the XML
parser nor the cache.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..autodiscover import cache as autodiscover_cache
from ..autodiscover.discovery import Discoverer, endpoint_problem
from ..autodiscover.pox import PoxAnswer, one_line
from ..autodiscover.record import AutodiscoverRecord
from ..autodiscover.verdict import judge
from ..deadline import Budget
from ..errors import MapiError, ProtocolError
from ..settings import MailboxSettings, RunSettings
from ..transport.client import Auth, Transport, url_problem
from .result import ProbeResult
from .timing import timed


def autodiscover(transport: Transport, budget: Budget, auth: Auth, *, run: RunSettings,
                 mailbox: MailboxSettings, result: ProbeResult) -> None:
    """Find the endpoint (result.url, result.legacy_dn) or record why not."""
    _discover(Discoverer(transport, budget.steps, auth), run, mailbox, result)


def forget(run: RunSettings, mailbox: MailboxSettings) -> None:
    """Drop the cached answer: it led to a failure, so ask again next time."""
    autodiscover_cache.drop(_cache_file(run, mailbox))


def _cache_file(run: RunSettings, mailbox: MailboxSettings) -> Path:
    return autodiscover_cache.cache_path(run.state_dir, mailbox.address,
                                         mailbox.autodiscover_url)


def _discover(discoverer: Discoverer, run: RunSettings, mailbox: MailboxSettings,
                  result: ProbeResult) -> None:
    """The autodiscover step (or the cache), then the verdict that decides the logon."""
    record = result.autodiscover = AutodiscoverRecord()
    use_cache = run.autodiscover_cache > 0
    entry, note = (autodiscover_cache.load(_cache_file(run, mailbox), run.autodiscover_cache,
                                           time.time()) if use_cache else (None, None))
    record.cache_notes = (note,) if note else ()
    if entry is not None:
        record.url, record.address, record.answer = entry.url, entry.address, entry.answer
        record.cached_age = time.time() - entry.saved
    else:
        try:
            with timed(result, "autodiscover", discoverer.auth_report):
                found = discoverer.discover(mailbox.address, mailbox.autodiscover_url)
        except MapiError:
            return
        finally:
            record.attempts = tuple(discoverer.attempts)
        record.url, record.address, record.answer = found.url, found.address, found.answer
        if use_cache:
            entry = autodiscover_cache.CacheEntry(found.url, found.address, found.answer,
                                                  time.time())
            saved = autodiscover_cache.save(_cache_file(run, mailbox), entry)
            record.cache_notes += (saved,) if saved else ()
    _decide(record.answer, run, mailbox, result)


MAX_LEGACY_DN = 4096  # as cli.options: real ones are ~150 characters; RopLogon's is 16-bit


def legacy_dn_problem(legacy_dn: str) -> str | None:
    """Why Connect and RopLogon cannot carry this LegacyDN (ASCII strings there)."""
    if not all(" " <= c <= "~" for c in legacy_dn):
        return "not printable ASCII"
    if len(legacy_dn) > MAX_LEGACY_DN:
        return f"{len(legacy_dn)} characters long, at most {MAX_LEGACY_DN}"
    return None


def _decide(answer: PoxAnswer, run: RunSettings, mailbox: MailboxSettings,
            result: ProbeResult) -> None:
    verdict = result.verdict = judge(answer, mailbox.vantage, run.drift_state,
                                     result.resolution or mailbox.resolution,
                                     mailbox.expect_protocol)
    if not verdict.logon:
        return
    if not answer.legacy_dn:
        result.fail("autodiscover", ProtocolError("Autodiscover's answer has no LegacyDN"))
        return
    problem = legacy_dn_problem(answer.legacy_dn)
    if problem:  # server data: CRITICAL at the step that brought it
        result.fail("autodiscover", ProtocolError(
            f"Autodiscover's LegacyDN {one_line(answer.legacy_dn, 60)!r} is unusable "
            f"({problem})"))
        return
    url = verdict.endpoint.url or ""
    kind = verdict.endpoint.kind or "MailStore URL"
    problem = url_problem(url)
    if problem:
        result.fail("autodiscover", ProtocolError(
            f"Autodiscover's {kind} {url[:200]!r} is malformed ({problem})"))
        return
    record = result.autodiscover
    addresses = [a for a in (mailbox.address, record.address if record else None) if a]
    problem = endpoint_problem(url, record.url or "", addresses) if record else None
    if problem:
        result.fail("autodiscover", ProtocolError(
            f"Autodiscover's {kind} {url[:200]} refused: {problem}"))
        return
    result.url, result.legacy_dn = url, answer.legacy_dn
