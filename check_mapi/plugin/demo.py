"""``check_mapi --demo``: the real probe against the built-in emulator on a loopback port.

The emulator runs in-process with its example configuration; the probe finds the mailbox
through the emulator's Autodiscover, as Outlook would. ``-m`` picks one of its mailboxes
(``broken@contoso.com`` shows a failing logon, ``legacy@contoso.com`` a mailbox with MAPI
over HTTP disabled). The password reaches the probe through a private temporary file, as a
real one would.

``--demo --auth oauth`` shows Exchange Online's way: the emulator serves TLS (a throw-away
certificate: msal wants an https authority) with its identity provider; the demo runs the
one-time device-code login and approves the code itself, as the user would in a browser,
then drops the stored access token, so that the check shows the silent refresh (the
``token`` step) before it logs on with the token.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..emulator import Emulator
from ..emulator.selfsigned import self_signed
from ..errors import ConfigError
from ..settings import Plan

DEMO_MAILBOX = "probe@contoso.com"
APPROVE_WITHIN = 10.0  # seconds the demo's "user" waits for the device code to appear


class Demo:
    """The running emulator and the options that point the probe at it."""

    def __init__(self, emulator: Emulator, options: list[str]) -> None:
        self.emulator, self.options = emulator, options


@contextlib.contextmanager
def demo_options(mailbox: str | None, oauth: bool = False) -> Iterator[Demo]:
    """Start the emulator; yield the options that point the probe at ``mailbox`` in it."""
    with tempfile.TemporaryDirectory(prefix="check_mapi-demo-") as tmp:
        cert = self_signed(Path(tmp)) if oauth else None
        tls = {"tls_cert": cert[0], "tls_key": cert[1]} if cert else {}
        with Emulator(**tls) as emulator:  # type: ignore[arg-type]
            box = emulator.config.by_smtp(mailbox or DEMO_MAILBOX)
            if box is None or box.password is None:
                names = ", ".join(m.smtp for m in emulator.config.mailboxes if m.password)
                raise ConfigError(f"--demo: the emulator has no mailbox {mailbox}; it has "
                                  f"{names}")
            options = ["-m", box.smtp, "--autodiscover-url", emulator.autodiscover_url]
            if cert is not None:
                state = os.path.join(tmp, "state")
                os.mkdir(state, 0o700)
                options += ["--auth", "oauth", "--authority-host",
                            emulator.url.removeprefix("https://"), "--tenant",
                            emulator.authority.rsplit("/", 1)[1], "--ca-file", str(cert[0]),
                            "--state-dir", state]
            else:
                options += ["--password-file", _password_file(tmp, box.password), "--auth",
                            "basic"]
            yield Demo(emulator, options)


def sign_in(demo: Demo, plan: Plan) -> None:
    """The one-time login, its device code approved by the demo itself; then the stored
    access token is dropped, so that the check refreshes it (the ``token`` step)."""
    from .login import login

    emulator, address = demo.emulator, plan.mailbox.address

    def user() -> None:
        deadline = time.monotonic() + APPROVE_WITHIN
        while time.monotonic() < deadline:
            pending = emulator.pending_device_codes()
            if pending:
                emulator.approve_device_code(pending[0], address)
                return
            time.sleep(0.05)

    approver = threading.Thread(target=user, name="check_mapi-demo-user", daemon=True)
    approver.start()
    login(plan, write=lambda text: None)
    approver.join()
    from ..auth.oauth import OAuthAuth

    store = OAuthAuth(plan.mailbox.auth, address, plan.run.state_dir).store
    record = store.read() or {}
    record["expires_on"] = 0.0
    store.write(record)


def _password_file(folder: str, password: str) -> str:
    path = os.path.join(folder, "password")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
              encoding="utf-8") as handle:
        handle.write(password + "\n")
    return path
