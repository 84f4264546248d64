"""``--autodiscover-cache SECONDS``: the last settings answer, kept in the state directory.

Off by default: Autodiscover is part of what users depend on, so a check should normally
exercise it. A very frequent check may skip the round trip for a while. The cache is an
optimisation, never a requirement: any problem with it is a note in the long output and
the check runs Autodiscover instead.

A cached answer decides where the probe sends its credentials, so the file and its
directory must belong to the plugin's user and be writable by nobody else; the file is
written to a temporary name (0600) and renamed into place, so a concurrent check reads the
old or the new answer, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from .. import statefile
from ..values import Value, as_dict
from .pox import MapiHttpUrls, PoxAnswer

CACHE_VERSION = 1


class CacheEntry(Value):
    url: str  # the POX URL that answered
    address: str  # after redirectAddr
    answer: PoxAnswer
    saved: float  # time.time()


def cache_path(state_dir: str, mailbox: str, pinned: str | None) -> Path:
    key = hashlib.sha256(f"{mailbox.lower()}\n{pinned or ''}".encode()).hexdigest()[:32]
    return Path(state_dir) / f"autodiscover-{key}.json"


def load(path: Path, max_age: float, now: float) -> tuple[CacheEntry | None, str | None]:
    """(entry, None) for a fresh private entry; (None, why not) otherwise (None if absent)."""
    try:
        statefile.check_dir(path.parent, statefile.NOT_WRITABLE)
        data = statefile.read_private(path)
    except FileNotFoundError:
        return None, None
    except statefile.UnsafeStateError as err:
        return None, f"{err}; ignored"
    except OSError as err:
        return None, f"cannot read {path}: {err.strerror or err}"
    try:
        entry = _decode(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, TypeError, KeyError):
        return None, f"{path} is not a cache file of this version; ignored"
    age = now - entry.saved
    if not 0 <= age <= max_age:
        return None, f"cached answer is {age:.0f} s old (--autodiscover-cache {max_age:g})"
    return entry, None


def save(path: Path, entry: CacheEntry) -> str | None:
    """Write atomically with mode 0600; returns why it could not be written, or None."""
    text = json.dumps({"version": CACHE_VERSION, "url": entry.url, "address": entry.address,
                       "saved": entry.saved, "answer": as_dict(entry.answer)})
    try:
        statefile.make_dir(path.parent, statefile.NOT_WRITABLE)
        statefile.write_atomic(path, text.encode("utf-8"))
    except statefile.UnsafeStateError as err:
        return f"{err}; not written"
    except OSError as err:
        return f"cannot write {path}: {err.strerror or err}"
    return None


def drop(path: Path) -> None:
    """Forget a cached answer that led to a failure: the next check asks Autodiscover."""
    with contextlib.suppress(OSError):
        path.unlink()


def _decode(data: object) -> CacheEntry:
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        raise ValueError("not a cache file")
    answer = dict(data["answer"])
    mapi = answer.pop("mapi_http")
    answer["legacy"] = tuple(answer["legacy"])
    parsed = PoxAnswer(**answer, mapi_http=MapiHttpUrls(**mapi) if mapi else None)
    if not isinstance(data["url"], str) or not isinstance(data["address"], str):
        raise TypeError("url and address must be strings")
    return CacheEntry(data["url"], data["address"], parsed, float(data["saved"]))
