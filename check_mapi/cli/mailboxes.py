"""``--mailbox-file``: the mailboxes of a many-mailbox run, one per line.

A line is split as a shell would split it (``shlex``: quote a LegacyDN, which has spaces),
``#`` starts a comment. The first word is the SMTP address; ``key=value`` words after it
override, for that mailbox, the option of the same long name (``username``,
``password-file``, ``url``, ``legacy-dn``, ...). Only per-mailbox options may be
overridden: how the run reaches servers, its thresholds and its time budget are the run's.

The file is configuration, not a secret (a password goes into a ``password-file``); it is
read only if it is a regular file, and only up to a size cap, so that a FIFO or a device
named by mistake cannot hang the check or exhaust its memory.
"""

from __future__ import annotations

import argparse
from typing import NamedTuple

from ..errors import ConfigError
from ..resolver import PLATFORMS
from ..settings import AUTH_METHODS, EXPECT_PROTOCOLS
from .secrets import read_capped

TYPE_CHECKING = False  # mypy reads this name as True
if TYPE_CHECKING:
    from collections.abc import Sequence

MAX_FILE_BYTES = 1 << 20
MAX_MAILBOXES = 10_000
VANTAGES = ("internal", "external", "auto")
# key -> the choices it takes (None: any text). The keys are long options without "--".
OVERRIDES: dict[str, tuple[str, ...] | None] = {
    "username": None, "password-file": None, "token-file": None, "auth": AUTH_METHODS,
    "url": None, "legacy-dn": None, "autodiscover-url": None, "vantage": VANTAGES,
    "org-mapihttp": None, "topology": None, "mailbox-mapihttp": None, "block-external": None,
    "mapi-enabled": None, "platform": PLATFORMS, "expect-protocol": EXPECT_PROTOCOLS,
}
AUTH_KEYS = frozenset({"username", "password-file", "token-file", "auth"})


class MailboxLine(NamedTuple):
    """One mailbox to probe: its address, its overrides, and where it was given."""

    address: str
    overrides: dict[str, str]
    where: str  # "-m" or "FILE:LINE", for error messages

    def namespace(self, args: argparse.Namespace) -> argparse.Namespace:
        """``args`` with this mailbox and its overrides in place (a copy)."""
        copy = argparse.Namespace(**vars(args))
        copy.mailbox = self.address
        if "url" in self.overrides and "autodiscover-url" not in self.overrides:
            copy.autodiscover_url = None  # the line skips Autodiscover: the run's URL is moot
        for key, value in self.overrides.items():
            setattr(copy, key.replace("-", "_"), value)
        return copy


def mailbox_lines(given: Sequence[str] | None, path: str | None) -> list[MailboxLine]:
    """The ``-m`` mailboxes, then the file's; ConfigError for a bad line or a duplicate."""
    lines = [MailboxLine(address, {}, "-m") for address in given or ()]
    if path:
        lines += read_mailbox_file(path)
    if not lines:
        raise ConfigError("missing -m/--mailbox" + (f": {path} lists no mailbox" if path
                                                     else ""))
    if len(lines) > MAX_MAILBOXES:
        raise ConfigError(f"{len(lines)} mailboxes: at most {MAX_MAILBOXES} in one run")
    seen: dict[str, str] = {}
    for line in lines:
        key = line.address.lower()
        if key in seen:
            raise ConfigError(f"mailbox {line.address} is listed twice ({seen[key]} and "
                              f"{line.where})")
        seen[key] = line.where
    return lines


def read_mailbox_file(path: str) -> list[MailboxLine]:
    """Every mailbox line of ``path``."""
    import shlex  # only with --mailbox-file

    text = _read(path)
    lines = []
    for number, raw in enumerate(text.split("\n"), 1):  # not splitlines(): \v, \x85 ...
        where = f"{path}:{number}"
        try:
            words = shlex.split(raw, comments=True)
        except ValueError as err:  # an unclosed quote
            raise ConfigError(f"--mailbox-file {where}: {err}") from err
        if words:
            lines.append(MailboxLine(words[0], _overrides(words[1:], where), where))
    return lines


def _overrides(words: list[str], where: str) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        key = key.strip().lower().removeprefix("--")
        if not sep or key not in OVERRIDES:
            known = ", ".join(OVERRIDES)
            raise ConfigError(f"--mailbox-file {where}: {word[:80]!r} is not key=value with "
                              f"a key of: {known}")
        choices = OVERRIDES[key]
        if choices is not None and value not in choices:
            raise ConfigError(f"--mailbox-file {where}: {key}={value[:80]!r} is not one of "
                              f"{', '.join(choices)}")
        if key in overrides:
            raise ConfigError(f"--mailbox-file {where}: {key} given twice")
        overrides[key] = value
    return overrides


def _read(path: str) -> str:
    """The file's text: a regular file, at most MAX_FILE_BYTES, UTF-8."""
    data, _ = read_capped(path, "--mailbox-file", MAX_FILE_BYTES)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"--mailbox-file {path} is not UTF-8 text (byte {err.start})"
                          ) from err
