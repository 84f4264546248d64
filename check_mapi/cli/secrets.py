"""Reading secrets: files only their owner (and at most the plugin's own group) can read,
and environment variables.

A password or token is never required on the command line (``ps`` shows it to every
local user). A file holding one must not be world readable. Group-readable is accepted in
the layout administrators use for Nagios' ``resource.cfg``: ``root:nagios 0640``, i.e. owned
by root or by the running user, the group the plugin runs as, and no group write bit.
Everything else is refused with a one-line reason that names the fix.

Files are read without ever blocking or swallowing memory: a FIFO, device, socket or
directory is refused from its ``stat`` before it is opened, and at most ``cap + 1`` bytes
are read (``/proc`` files and growing files may claim a size of 0).
"""

from __future__ import annotations

import os
import stat

from ..errors import ConfigError

PASSWORD_ENV = "CHECK_MAPI_PASSWORD"
TOKEN_ENV = "CHECK_MAPI_TOKEN"
PROXY_PASSWORD_ENV = "CHECK_MAPI_PROXY_PASSWORD"
KEY_PASSWORD_ENV = "CHECK_MAPI_KEY_PASSWORD"
SECRET_FILE_CAP = 64 * 1024  # a secret is one line; anything bigger is the wrong file

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def read_capped(path: str, what: str, cap: int) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``path`` (a symlink is judged by its target), and
    the ``fstat`` of what was actually read; ConfigError if it is not a regular file or
    holds more than ``cap`` bytes."""
    try:
        _require_regular(path, what, os.stat(path))
        # O_NONBLOCK: should the path become a FIFO after the stat, open() still returns
        # at once (and the fstat below refuses it). No O_NOFOLLOW: symlinks are fine.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror}") from err
    try:
        info = os.fstat(fd)
        _require_regular(path, what, info)
        if info.st_size > cap:
            raise ConfigError(f"{what} {path} is larger than {_size(cap)}")
        data = _read_at_most(fd, cap + 1)
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror}") from err
    finally:
        os.close(fd)
    if len(data) > cap:
        raise ConfigError(f"{what} {path} is larger than {_size(cap)}")
    return data, info


def check_private(path: str, what: str, info: os.stat_result | None = None) -> None:
    """ConfigError unless ``path`` (its ``info`` when given: the file that was read) may
    hold a secret: a regular file, owned by root or this user, unreadable by others, and
    group-readable only by this user's effective group without group write."""
    if info is None:
        try:
            info = os.stat(path)
        except OSError as err:
            raise ConfigError(f"cannot read {what} {path}: {err.strerror}") from err
    _require_regular(path, what, info)
    mode = stat.S_IMODE(info.st_mode)
    where = f"(mode {mode:04o}, {_user(info.st_uid)}:{_group(info.st_gid)})"
    me, ours = os.geteuid(), os.getegid()
    if info.st_uid not in (0, me):
        raise ConfigError(f"{what} {path} is owned by {_user(info.st_uid)} {where}, not by "
                          f"root or this user ({_user(me)}); chown {_user(me)} it")
    if mode & stat.S_IRWXO:
        verb = "readable" if mode & stat.S_IROTH else "accessible"
        raise ConfigError(f"{what} {path} is {verb} by others {where}; {_fix(info, ours)}")
    if mode & stat.S_IWGRP:
        raise ConfigError(f"{what} {path} is writable by group {_group(info.st_gid)} "
                          f"{where}; {_fix(info, ours)}")
    # Only the effective group counts, not supplementary groups: every other member of a
    # supplementary group (say adm, or a group shared with other daemons) could read the
    # secret too, while the effective group is the one the monitoring daemon runs as.
    if mode & stat.S_IRGRP and info.st_gid != ours:
        chgrp = f"chgrp {_group(ours)} it"
        raise ConfigError(f"{what} {path} is readable by group {_group(info.st_gid)} "
                          f"{where}, which is not this user's group ({_group(ours)}); "
                          + (f"chmod 600 it or {chgrp}" if info.st_uid == me else chgrp))


def read_secret_file(path: str, what: str) -> str:
    """The first line of a private file, without its line end."""
    check_private(path, what)  # first: the fix is more use than "Permission denied"
    data, info = read_capped(path, what, SECRET_FILE_CAP)
    check_private(path, what, info)  # what was read, should the path have changed since
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        secret = first.decode("utf-8")
    except UnicodeDecodeError:  # the error holds bytes of the secret: do not chain it
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None
    if not secret:
        raise ConfigError(f"{what} {path} is empty")
    return secret


def clean_secret(value: str, origin: str, kind: str) -> str:
    """The secret without the line ends around it (``$(cat file)``, an editor's newline);
    a token also without surrounding spaces, tabs and vertical tabs, since none is part of
    one. What remains must be sendable: a token is visible ASCII (RFC 6750 b64token), a
    password holds no control character. The reason names the source, never the value."""
    token = kind == "token"
    text = value.strip() if token else value.strip("\r\n")
    if not text:
        raise ConfigError(f"the {kind} from {origin} is empty")
    if token and not all("!" <= c <= "~" for c in text):
        raise ConfigError(f"the token from {origin} contains a space, a control character "
                          "or a non-ASCII character, which no bearer token has")
    if not token and any(c < " " or "\x7f" <= c <= "\x9f" or c in "\u2028\u2029"
                         for c in text):
        raise ConfigError(f"the {kind} from {origin} contains a control character "
                          "(a line break or tab copied with it?)")
    return text


def _require_regular(path: str, what: str, info: os.stat_result) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "a special file")
    raise ConfigError(f"{what} {path} is {kind}, not a regular file")


def _fix(info: os.stat_result, ours: int) -> str:
    """The command that makes the file acceptable while this user can still read it: a
    root-owned file (the check not running as root) needs the group, not mode 0600."""
    if info.st_uid == os.geteuid():
        return "chmod 600 it"
    chgrp = "" if info.st_gid == ours else f" and chgrp {_group(ours)} it"
    return f"chmod 640 it{chgrp}"


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _size(cap: int) -> str:
    return f"{cap // (1024 * 1024)} MiB" if cap % (1024 * 1024) == 0 else f"{cap // 1024} KiB"


def _user(uid: int) -> str:
    import pwd  # only to name the owner in an error: not on every start

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    import grp  # only to name the group in an error

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
