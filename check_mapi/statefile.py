"""Files the plugin keeps for itself in its state directory: the Autodiscover cache and the
token store.

What such a file says decides where credentials go, or is a credential, so it and its
directory must belong to the plugin's user and be open to nobody else: a problem is an
``UnsafeStateError`` (UNKNOWN: the administrator fixes ownership or mode). Files are opened
without following a symbolic link and written atomically: a temporary file in the same
directory, 0600 from creation, flushed and fsynced, renamed into place, then the directory
fsynced, so that a concurrent reader sees the old or the new contents, never half of them,
also after a crash.

Pure: the standard library and the error family only.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import ConfigError

PRIVATE = 0o077  # nobody but the owner may read, write or enter
NOT_WRITABLE = 0o022  # others may look, but not add, remove or rename entries
READ_LIMIT = 1 << 20


class UnsafeStateError(ConfigError):
    """A state file or directory that another user owns, or that group or others may use."""


def problem(info: os.stat_result, what: str, path: Path, mask: int = PRIVATE) -> str | None:
    """Why ``path`` (``what``: "file", "directory") may not be trusted, or None."""
    if info.st_uid != os.getuid():
        return f"{what} {path} belongs to another user"
    if info.st_mode & mask:
        return f"{what} {path} is accessible by group or others"
    return None


def check_dir(path: Path, mask: int = PRIVATE) -> None:
    """Refuse a directory (not a symbolic link to one) that is not the plugin's own.

    FileNotFoundError when it does not exist."""
    info = os.lstat(path)
    _refuse(problem(info, "directory", path, mask) if stat.S_ISDIR(info.st_mode)
            else f"{path} is not a directory")


def make_dir(path: Path, mask: int = PRIVATE) -> None:
    """``check_dir``, creating ``path`` (0700) and missing parents (default mode) first."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_dir(path, mask)


def check_file(path: Path) -> None:
    """Refuse an existing ``path`` that is not a private regular file; absent is fine."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    _refuse(_file_problem(info, path))


def open_private(path: Path, flags: int = os.O_RDONLY) -> int:
    """A descriptor on the private regular file ``path`` (created 0600 with ``O_CREAT``).

    FileNotFoundError when absent; UnsafeStateError when not private or not a regular file
    (a symbolic link fails with ELOOP, an OSError)."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        _refuse(_file_problem(os.fstat(fd), path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_private(path: Path, limit: int = READ_LIMIT) -> bytes:
    """The contents of a private regular file, at most ``limit`` bytes (``open_private``)."""
    with os.fdopen(open_private(path), "rb") as handle:
        return handle.read(limit)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically and durably (mode 0600); OSError on failure."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # mkstemp's mode already; whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def _file_problem(info: os.stat_result, path: Path) -> str | None:
    return problem(info, "file", path) if stat.S_ISREG(info.st_mode) else (
        f"{path} is not a regular file")


def _refuse(found: str | None) -> None:
    if found is not None:
        raise UnsafeStateError(found)
