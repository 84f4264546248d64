"""The private token store for Exchange Online OAuth: one JSON file per identity.

``<state dir>/tokens/<sha256 of the identity key>.json``, the key being the authority, the
client id and the mailbox user (``identity_key``). A record holds msal's serialized token
cache (``cache``: the refresh token, password-equivalent) and the plugin's own fields:
the access token and its expiry (``access_token``, ``expires_on``, epoch seconds), when
the refresh token was last redeemed (``refreshed_at``) and who logged in when
(``logged_in``: ``{"user", "at"}``). Other fields are kept as they are.

Why not msal-extensions (auth.md 1c): it truncates then writes, keeps an existing 0644 file
0644, and a killed holder of its lock file blocks later runs. Here (``check_mapi.statefile``):
the file is 0600 in a 0700 directory, both the plugin user's own or refused (UNKNOWN); it is
replaced atomically, so a reader never sees half a record; writers serialise on
``fcntl.flock`` of a sidecar ``<file>.lock``, which the kernel releases when its holder
dies, even by SIGKILL, and which a check waits for only until its deadline.

A warm run needs no msal: ``access_token`` reads the stored token and its expiry. This
module never imports msal, and no secret ever appears in its messages or reprs (JSON
errors are not chained: they carry the document).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from .. import statefile
from ..errors import ConfigError, TokenStoreError

STORE_VERSION = 1
MARGIN = 60.0  # an access token that expires sooner than this is not handed out
CORRUPT = "token store corrupt: run --oauth-login again"
_NUMBER = (int, float)
# field -> the JSON types it may have (and ``logged_in``: {"user": str, "at": number})
FIELDS: dict[str, tuple[type, ...]] = {
    "cache": (str,), "access_token": (str,), "expires_on": _NUMBER,
    "refreshed_at": _NUMBER, "logged_in": (dict,)}


class Remaining(Protocol):
    """What ``locked`` needs of a deadline (``check_mapi.deadline.Deadline``)."""

    def remaining(self) -> float: ...


def identity_key(authority: str, client_id: str, user: str) -> str:
    """The store's key for one identity: case and a trailing slash do not matter."""
    return f"{authority.rstrip('/').lower()}\n{client_id.lower()}\n{user.lower()}"


class TokenStore:
    """The token file of one identity in ``state_dir``/tokens.

    ``read``, ``write`` and ``access_token`` raise ``ConfigError`` (UNKNOWN) for a store
    the administrator must fix (owner, mode, not a regular file, I/O errors) and
    ``TokenStoreError`` (CRITICAL) for a corrupt file or a lock held past the deadline.
    Read-modify-write under ``locked``: concurrent checks of one identity refresh once.
    """

    __slots__ = ("directory", "lock_path", "path", "state_dir")

    def __init__(self, state_dir: str | os.PathLike[str], identity: str) -> None:
        self.state_dir = Path(state_dir)
        self.directory = self.state_dir / "tokens"
        name = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
        self.path = self.directory / f"{name}.json"
        self.lock_path = self.directory / f"{name}.json.lock"

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    # -- reading -------------------------------------------------------------------------

    def read(self) -> dict[str, Any] | None:
        """The stored record (without our version field); None if there is none yet."""
        try:
            self._check_dirs(create=False)
            data = statefile.read_private(self.path, statefile.READ_LIMIT + 1)
        except FileNotFoundError:
            return None
        except statefile.UnsafeStateError as err:
            raise _refused(err) from None
        except OSError as err:
            raise ConfigError(f"cannot read token store {self.path}: "
                              f"{err.strerror or type(err).__name__}") from None
        return self._decode(data)

    def access_token(self, now: float, margin: float = MARGIN) -> tuple[str, float] | None:
        """(token, expiry epoch) if the stored access token is valid ``margin`` s after
        ``now`` (epoch seconds); None otherwise or when there is no record."""
        return usable_token(self.read(), now, margin)

    def _decode(self, data: bytes) -> dict[str, Any]:
        if len(data) > statefile.READ_LIMIT:
            raise self._corrupt("larger than 1 MiB")
        what = "not JSON"
        try:
            record = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            what = "not UTF-8"
        except ValueError:
            pass
        else:
            what = ""
        if what:  # raised out here: the decoder's exception, which holds the text, is not
            raise self._corrupt(what)  # even this error's __context__
        if not isinstance(record, dict):
            raise self._corrupt("not a JSON object")
        if record.pop("version", None) != STORE_VERSION:
            raise self._corrupt(f"not a version {STORE_VERSION} token store")
        wrong = _wrong_field(record)
        if wrong is not None:
            raise self._corrupt(f"field {wrong!r} has the wrong type")
        return record

    def _corrupt(self, what: str) -> TokenStoreError:
        return TokenStoreError(f"{CORRUPT} ({self.path}: {what})")

    # -- writing -------------------------------------------------------------------------

    def write(self, record: Mapping[str, Any]) -> None:
        """Replace the record atomically (0600); hold ``locked`` around read and write."""
        wrong = _wrong_field(record)
        if wrong is not None:  # a bug: never store what read() would call corrupt
            raise TypeError(f"token record field {wrong!r} has the wrong type")
        data = json.dumps({**record, "version": STORE_VERSION}, separators=(",", ":"))
        try:
            self._check_dirs(create=True)
            statefile.check_file(self.path)  # never replace a file that is not ours
            statefile.write_atomic(self.path, data.encode("utf-8"))
        except statefile.UnsafeStateError as err:
            raise _refused(err) from None
        except OSError as err:
            raise ConfigError(f"cannot write token store {self.path}: "
                              f"{err.strerror or type(err).__name__}") from None

    # -- locking -------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, deadline: Remaining) -> Iterator[None]:
        """Hold an exclusive ``flock`` on ``<file>.lock``, waiting at most until
        ``deadline``; TokenStoreError (``locked``) when another check holds it longer."""
        try:
            self._check_dirs(create=True)
            fd = statefile.open_private(self.lock_path, os.O_RDWR | os.O_CREAT)
        except statefile.UnsafeStateError as err:
            raise _refused(err) from None
        except OSError as err:
            raise ConfigError(f"cannot open token store lock {self.lock_path}: "
                              f"{err.strerror or type(err).__name__}") from None
        try:
            _acquire(fd, deadline, self.path)
            yield
        finally:
            os.close(fd)  # releases the lock (the kernel does the same for a dead holder)

    def _check_dirs(self, create: bool) -> None:
        check = statefile.make_dir if create else statefile.check_dir
        check(self.state_dir, statefile.NOT_WRITABLE)
        check(self.directory, statefile.PRIVATE)


def usable_token(record: Mapping[str, Any] | None, now: float,
                 margin: float = MARGIN) -> tuple[str, float] | None:
    """The record's access token and expiry if still valid ``margin`` s after ``now``."""
    if record is None:
        return None
    token, expires = record.get("access_token"), record.get("expires_on")
    if not isinstance(token, str) or not token or not isinstance(expires, _NUMBER):
        return None
    return (token, float(expires)) if expires - now >= margin else None


def _wrong_field(record: Mapping[str, Any]) -> str | None:
    """The first known field whose value has the wrong JSON type (its name, never it)."""
    for field, types in FIELDS.items():
        value = record.get(field)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            return field
    login = record.get("logged_in")
    if login is not None and not (isinstance(login.get("user", ""), str)
                                  and isinstance(login.get("at", 0), _NUMBER)):
        return "logged_in"
    return None


def _acquire(fd: int, deadline: Remaining, path: Path) -> None:
    """Poll ``LOCK_EX | LOCK_NB`` with short sleeps until the lock is ours or time is up."""
    started = time.monotonic()
    pause = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            left = deadline.remaining()
            if left <= 0:
                waited = time.monotonic() - started
                raise TokenStoreError(f"token store locked by another check for "
                                      f"{waited:.1f} s ({path})", locked=True) from None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
        else:
            return


def _refused(err: statefile.UnsafeStateError) -> ConfigError:
    return ConfigError(f"token store refused: {err}; it must belong to the plugin's user "
                       "and be closed to group and others")
