"""Reading secrets: files that only their owner can read, and environment variables.

A password or token is never required on the command line (``ps`` shows it to every
local user). A file holding one is refused when group or others may read it.
"""

from __future__ import annotations

import os
import stat

from ..errors import ConfigError

PASSWORD_ENV = "CHECK_MAPI_PASSWORD"
TOKEN_ENV = "CHECK_MAPI_TOKEN"
PROXY_PASSWORD_ENV = "CHECK_MAPI_PROXY_PASSWORD"
KEY_PASSWORD_ENV = "CHECK_MAPI_KEY_PASSWORD"


def check_private(path: str, what: str) -> None:
    """ConfigError unless ``path`` is a regular file that group and others cannot read."""
    try:
        info = os.stat(path)
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror}") from err
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{what} {path} is not a regular file")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{what} {path} is accessible by group or others "
                          f"(mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 it")


def read_secret_file(path: str, what: str) -> str:
    """The first line of a private file, without its line end."""
    check_private(path, what)
    try:
        with open(path, encoding="utf-8") as handle:
            secret = handle.readline().rstrip("\r\n")
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:  # its text would quote bytes of the secret
        raise ConfigError(f"{what} {path} is not UTF-8 text") from err
    if not secret:
        raise ConfigError(f"{what} {path} is empty")
    return secret
