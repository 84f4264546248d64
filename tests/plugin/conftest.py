"""Fixtures for the plugin's end-to-end tests: an emulator per test, the CLI in-process."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from check_mapi.emulator import Emulator
from check_mapi.plugin.main import run

from ..conftest import Emulators
from ..plugin_output import Outcome

PASSWORD = "S3ntinel-Pa55word!"  # a sentinel: must never appear in any output
TOKEN = "s3ntinel-bearer-token-value"
SMTP = "probe@contoso.com"
LEGACY_DN = "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=probe"
GUID = "416c6368-656d-794a-6f45-57615272456e"

BASE = f'''
[server]
pending_period_ms = 200
[auth]
methods = ["basic", "bearer"]
[[mailbox]]
smtp = "{SMTP}"
username = "probe"
password = "{PASSWORD}"
tokens = ["{TOKEN}"]
display_name = "Probe Mailbox"
legacy_dn = "{LEGACY_DN}"
mailbox_guid = "{GUID}"
[[mailbox.inbox]]
subject = "Hello from the emulator"
sender_name = "Jürgen Müller"
received = 2026-01-15T08:30:00Z
size = 4096
read = false
[[mailbox.inbox]]
subject = "Older"
received = 2026-01-14T08:30:00Z
'''



def fault_toml(**keys: object) -> str:
    lines = ["[[mailbox.fault]]"]
    for key, value in keys.items():
        text = str(value).lower() if isinstance(value, bool) else (
            f'"{value}"' if isinstance(value, str) else str(value))
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def emulator_factory(start: Emulators) -> Callable[..., Emulator]:
    """``emulator_factory(extra="", **kwargs)``: the shared ``start`` with this suite's
    configuration (``extra``: TOML appended to it)."""

    def plugin_emulator(extra: str = "", **kwargs: Any) -> Emulator:
        return start(BASE + extra, **kwargs)

    return plugin_emulator


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    return emulator_factory()


def mapi_url(emulator: Emulator) -> str:
    return f"{emulator.url}/mapi/emsmdb/?MailboxId={GUID}@contoso.com"


def probe(emulator: Emulator, *extra: str, env: dict[str, str] | None = None,
          monkeypatch: pytest.MonkeyPatch | None = None) -> Outcome:
    """The plugin in-process, with the password in the environment."""
    if monkeypatch is not None:
        monkeypatch.setenv("CHECK_MAPI_PASSWORD", PASSWORD)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
    argv = ["-m", SMTP, "--url", mapi_url(emulator), "--legacy-dn", LEGACY_DN, *extra]
    if not any(a.startswith(("--auth", "--token")) for a in extra):
        argv[:0] = ["--auth", "basic"]  # pinned: these tests count requests (auto: +1 leg)
    code, output = run(argv)
    return Outcome(int(code), output)


TIME = r"\d+\.\d+"
OK_LINE = re.compile(
    rf"MAPI OK - {re.escape(SMTP)} logged on in \d+\.\d\d s, Inbox 2 items \| "
    rf"availability=1;;;0;1 connect_time={TIME}s;;;0 disconnect_time={TIME}s;;;0 "
    rf"inbox_items=2;;;0 inbox_time={TIME}s;;;0 logon_time={TIME}s;;;0 total_time={TIME}s;;;0")
