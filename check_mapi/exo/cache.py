"""The live settings' cache in the state directory, and what they resolve to.

One private file per tenant and mailbox (:mod:`check_mapi.statefile`: 0600, atomic writes),
kept ``max_age`` seconds (default one hour): the admin API is asked at most that often.
A failure to read the settings is never a failed logon: ``fetch`` returns the reason for a
WARNING instead.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from .. import statefile, values
from ..errors import MapiError
from ..resolver import EXCHANGE_ONLINE, Resolution, resolve
from .adminapi import LiveSettings

DEFAULT_MAX_AGE = 3600
GET_CAS = "read live: Get-CASMailbox"
GET_ORG = "read live: Get-OrganizationConfig"


def cache_path(state_dir: Path, tenant: str, mailbox: str) -> Path:
    key = hashlib.sha256(f"{tenant.lower()}|{mailbox.lower()}".encode()).hexdigest()[:24]
    return state_dir / f"exo-settings-{key}.json"


def load(path: Path, max_age: float, now: float) -> tuple[LiveSettings | None, float | None]:
    """(settings, age) if a fresh entry is cached; else (None, None). Never raises."""
    try:
        data = json.loads(statefile.read_private(path))
        age = now - float(data["saved"])
        if not 0 <= age <= max_age:
            return None, None
        return LiveSettings.from_json(data["settings"]), age
    except (OSError, ValueError, KeyError, TypeError, MapiError):
        return None, None


def save(path: Path, settings: LiveSettings, now: float) -> str | None:
    """None, or why the entry could not be saved (a note, not a failure)."""
    try:
        statefile.make_dir(path.parent)
        statefile.write_atomic(path, json.dumps({"saved": now,
                                                 "settings": settings.to_json()}).encode())
    except (OSError, MapiError) as err:
        return f"the settings cache {path} could not be written ({err})"
    return None


def fetch(read: Callable[[], LiveSettings], path: Path | None,
          max_age: float = DEFAULT_MAX_AGE) -> tuple[LiveSettings | None, str, str | None]:
    """(settings, where they came from, warning): the cache, else ``read()``; ``path``
    None: no cache. A failure gives (None, "", reason)."""
    now = time.time()
    if path is not None and max_age > 0:
        cached, age = load(path, max_age, now)
        if cached is not None and age is not None:
            return cached, f"cached {age:.0f} s ago", None
    try:
        live = read()
    except MapiError as err:
        return None, "", f"cannot read the Exchange Online settings: {err}"
    note = save(path, live, now) if path is not None and max_age > 0 else None
    return live, "just now", note


def _switch(value: bool | None) -> str | None:
    return None if value is None else str(value).lower()


def resolution(live: LiveSettings, when: str, platform: str = EXCHANGE_ONLINE) -> Resolution:
    """The settings through the resolver, each source saying where its value came from."""
    on_prem = platform != EXCHANGE_ONLINE
    org = _switch(live.org_mapihttp)
    if on_prem and org is None:
        org = "true"  # the document's default
    mailbox = _switch(live.mailbox_mapihttp) if live.mailbox_mapihttp_present else None
    res = resolve(org, mailbox if mailbox is not None or not on_prem else None,
                  _switch(live.block_external), mapi_enabled=_switch(live.mapi_enabled),
                  platform=platform)
    cas, org_text = f"{GET_CAS} ({when})", f"{GET_ORG} ({when})"
    ignored = "" if on_prem else "; ignored: on-premises only"
    return values.replace(
        res,
        mapi_enabled_source=cas if live.mapi_enabled is not None else res.mapi_enabled_source,
        org_source=org_text + ignored if live.org_mapihttp is not None else res.org_source,
        mailbox_source=cas + ignored if live.mailbox_mapihttp_present else res.mailbox_source,
        block_source=cas + ignored if live.block_external is not None else res.block_source)
