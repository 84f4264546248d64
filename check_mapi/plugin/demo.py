"""``check_mapi --demo``: the real probe against the built-in emulator on a loopback port.

The emulator runs in-process with its example configuration; the probe finds the mailbox
through the emulator's Autodiscover, as Outlook would. ``-m`` picks one of its mailboxes
(the README shows what each one demonstrates). A mailbox whose Autodiscover answer is a
``redirect_addr`` has no account of its own: the demo logs on as the user of the mailbox
the redirect leads to (``--username``), as the user of a moved mailbox keeps logging on to
it. Passwords reach the probe through private temporary files, as real ones would.

Several ``-m``: the many-mailbox mode, through a mailbox file in the demo's temporary
directory whose lines carry each mailbox's ``password-file`` (and ``username``).

``--demo --auth oauth`` shows Exchange Online's way: the emulator serves TLS (a throw-away
certificate: msal wants an https authority) with its identity provider; the demo runs the
one-time device-code login and approves the code itself, as the user would in a browser,
then drops the stored access token, so that the check shows the silent refresh (the
``token`` step) before it logs on with the token.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..emulator import Emulator
from ..emulator.config import EmulatorConfig, Mailbox
from ..emulator.selfsigned import self_signed
from ..errors import ConfigError
from ..settings import Plan

DEMO_MAILBOX = "probe@contoso.com"
APPROVE_WITHIN = 10.0  # seconds the demo's "user" waits for the device code to appear
MAX_REDIRECTS = 10  # redirect_addr hops the demo follows to find the account that logs on


@dataclass(frozen=True, slots=True)
class Logon:
    """How the demo logs on as ``address``: the account (``user``, None: the address
    itself) and its password."""

    address: str
    user: str | None
    password: str


class Demo:
    """The running emulator, the options that point the probe at it, and the account whose
    user approves a device code (``--auth oauth``)."""

    def __init__(self, emulator: Emulator, options: list[str], account: str = DEMO_MAILBOX
                 ) -> None:
        self.emulator, self.options, self.account = emulator, options, account


@contextlib.contextmanager
def demo_options(mailboxes: Sequence[str], oauth: bool = False) -> Iterator[Demo]:
    """Start the emulator; yield the options that point the probe at ``mailboxes`` in it
    (none: the default mailbox; several: a mailbox file, Basic only)."""
    wanted = list(mailboxes or ()) or [DEMO_MAILBOX]
    if oauth and len(wanted) > 1:
        raise ConfigError("--demo --auth oauth takes one mailbox (-m); several mailboxes "
                          "are demonstrated with Basic")
    _no_repeats(wanted)
    with tempfile.TemporaryDirectory(prefix="check_mapi-demo-") as tmp:
        cert = self_signed(Path(tmp)) if oauth else None
        tls = {"tls_cert": cert[0], "tls_key": cert[1]} if cert else {}
        with Emulator(**tls) as emulator:  # type: ignore[arg-type]
            logons = [logon_of(emulator.config, address) for address in wanted]
            url = emulator.autodiscover_url
            if len(logons) > 1:
                options = ["--mailbox-file", _mailbox_file(tmp, logons),
                           "--autodiscover-url", url, "--auth", "basic"]
            else:
                options = ["-m", logons[0].address, "--autodiscover-url", url]
                if logons[0].user is not None:
                    options += ["--username", logons[0].user]
            if cert is not None:
                state = os.path.join(tmp, "state")
                os.mkdir(state, 0o700)
                options += ["--auth", "oauth", "--authority-host",
                            emulator.url.removeprefix("https://"), "--tenant",
                            emulator.authority.rsplit("/", 1)[1], "--ca-file", str(cert[0]),
                            "--state-dir", state]
            elif len(logons) == 1:
                options += ["--password-file", _secret_file(tmp, "password",
                                                            logons[0].password),
                            "--auth", "basic"]
            yield Demo(emulator, options, logons[0].user or logons[0].address)


def logon_of(config: EmulatorConfig, address: str) -> Logon:
    """The account that logs on as ``address``: its own, or, for an address that Autodiscover
    redirects, that of the mailbox the redirects lead to. ConfigError (listing the demo's
    mailboxes) for an address the emulator has no account for."""
    box = config.by_smtp(address)
    owner = _owner(config, box) if box is not None else None
    if box is None or owner is None or owner.password is None:
        names = ", ".join(m.smtp for m in config.mailboxes if _can_log_on(config, m))
        raise ConfigError(f"--demo: the emulator has no mailbox {address}; it has {names}")
    return Logon(box.smtp, None if owner is box else owner.smtp, owner.password)


def _owner(config: EmulatorConfig, box: Mailbox) -> Mailbox | None:
    """The mailbox ``box``'s redirect_addr chain ends at (``box`` itself without one)."""
    for _ in range(MAX_REDIRECTS):
        if not box.redirect_addr:
            return box
        target = config.by_smtp(box.redirect_addr)
        if target is None:
            return None
        box = target
    return None


def _can_log_on(config: EmulatorConfig, box: Mailbox) -> bool:
    owner = _owner(config, box)
    return owner is not None and owner.password is not None


def _no_repeats(addresses: Sequence[str]) -> None:
    seen: set[str] = set()
    for address in addresses:
        if address.strip().lower() in seen:
            raise ConfigError(f"--demo: mailbox {address} is given twice")
        seen.add(address.strip().lower())


def _mailbox_file(folder: str, logons: Sequence[Logon]) -> str:
    """The many-mailbox mode's file: one line per mailbox, its own password file (and the
    account, for a redirected address)."""
    lines = ["# check_mapi --demo: the mailboxes given with -m"]
    for n, logon in enumerate(logons, 1):
        words = [logon.address]
        if logon.user is not None:
            words.append(f"username={logon.user}")
        words.append(f"password-file={_secret_file(folder, f'password-{n}', logon.password)}")
        lines.append(shlex.join(words))
    return _secret_file(folder, "mailboxes", "\n".join(lines))


def sign_in(demo: Demo, plan: Plan) -> None:
    """The one-time login, its device code approved by the demo itself (as the user of
    ``demo.account``); then the stored access token is dropped, so that the check refreshes
    it (the ``token`` step)."""
    from .login import login

    emulator, address = demo.emulator, plan.mailbox.address

    def user() -> None:
        deadline = time.monotonic() + APPROVE_WITHIN
        while time.monotonic() < deadline:
            pending = emulator.pending_device_codes()
            if pending:
                emulator.approve_device_code(pending[0], demo.account)
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


def _secret_file(folder: str, name: str, text: str) -> str:
    """A new file readable by its owner only (0600), as the plugin wants secrets."""
    path = os.path.join(folder, name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
              encoding="utf-8") as handle:
        handle.write(text + "\n")
    return path
