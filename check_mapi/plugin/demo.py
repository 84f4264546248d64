"""``check_mapi --demo``: the real probe against the built-in emulator on a loopback port.

The emulator runs in-process with its example configuration; the probe finds the mailbox
through the emulator's Autodiscover, as Outlook would. ``-m`` picks one of its mailboxes
(``broken@contoso.com`` shows a failing logon, ``legacy@contoso.com`` a mailbox with MAPI
over HTTP disabled). The password reaches the probe through a private temporary file, as a
real one would.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from ..emulator import Emulator
from ..errors import ConfigError

DEMO_MAILBOX = "probe@contoso.com"


@contextlib.contextmanager
def demo_options(mailbox: str | None) -> Iterator[list[str]]:
    """Start the emulator; yield the options that point the probe at ``mailbox`` in it."""
    with Emulator() as emulator, tempfile.TemporaryDirectory(prefix="check_mapi-demo-") as tmp:
        config = emulator.config
        box = config.by_smtp(mailbox or DEMO_MAILBOX)
        if box is None or box.password is None:
            names = ", ".join(m.smtp for m in config.mailboxes if m.password)
            raise ConfigError(f"--demo: the emulator has no mailbox {mailbox}; it has {names}")
        password_file = os.path.join(tmp, "password")
        with open(os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
                  encoding="utf-8") as handle:
            handle.write(box.password + "\n")
        yield ["-m", box.smtp, "--password-file", password_file, "--auth", "basic",
               "--autodiscover-url", emulator.autodiscover_url]
