"""Certificates for the TLS tests: a CA of the test's own that issues server and client
certificates with any names and validity (trustme), as the ``Tls`` PEM files the shared
``start`` fixture serves; the CLI in-process against an emulator."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import trustme

from check_mapi.emulator import Emulator
from check_mapi.plugin.main import run

from ..conftest import Tls
from ..plugin_output import Outcome

PASSWORD = "Tls-Sentinel-Pa55word!"  # must never appear in any output
PASSPHRASE = "Key-Sentinel-Passphrase!"  # the client key's: never in any output either
SMTP = "probe@contoso.com"
LEGACY_DN = "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=probe"
GUID = "416c6368-656d-794a-6f45-57615272456e"
DAY = timedelta(days=1)


def toml(server: str = "") -> str:
    """One mailbox, Basic auth; ``server``: more ``[server]`` keys."""
    return f'''
[server]
pending_period_ms = 200
{server}
[auth]
methods = ["basic"]
[[mailbox]]
smtp = "{SMTP}"
username = "probe"
password = "{PASSWORD}"
display_name = "Probe Mailbox"
legacy_dn = "{LEGACY_DN}"
mailbox_guid = "{GUID}"
[[mailbox.inbox]]
subject = "Hello"
received = 2026-01-15T08:30:00Z
'''


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Pki:
    """A CA and a folder; ``issue()`` writes a server certificate as ``Tls`` files."""

    ca: trustme.CA
    folder: Path

    @property
    def ca_pem(self) -> Path:
        path = self.folder / "ca.pem"
        if not path.exists():
            self.ca.cert_pem.write_to_path(str(path))
        return path

    def issue(self, *names: str, expires: datetime | None = None,
              not_before: datetime | None = None, ca: trustme.CA | None = None) -> Tls:
        """A certificate for ``names`` (default 127.0.0.1), with its chain, as files."""
        ca = ca or self.ca
        not_after = expires or now() + 365 * DAY
        leaf = ca.issue_cert(*(names or ("127.0.0.1",)),
                             not_before=not_before or min(now(), not_after) - 30 * DAY,
                             not_after=not_after)
        return self.files(leaf.private_key_pem.bytes(),
                          *(pem.bytes() for pem in leaf.cert_chain_pems))

    def self_signed(self) -> Tls:
        """The CA's own certificate and key: a self-signed server certificate."""
        return self.files(self.ca.private_key_pem.bytes(), self.ca.cert_pem.bytes())

    def files(self, key: bytes, *chain: bytes) -> Tls:
        index = len(list(self.folder.glob("cert*.pem")))
        paths = Tls(self.ca_pem, self.folder / f"cert{index}.pem",
                    self.folder / f"key{index}.pem")
        paths.cert_pem.write_bytes(b"".join(chain))
        paths.key_pem.write_bytes(key)
        return paths

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(trustme.CA(), tmp_path)


def mapi_url(emulator: Emulator) -> str:
    return f"{emulator.url}/mapi/emsmdb/?MailboxId={GUID}@contoso.com"


def check(*argv: str, env: dict[str, str] | None = None) -> Outcome:
    """The plugin in-process, Basic auth, the password in its environment."""
    code, output = run(["--auth", "basic", "-m", SMTP, *argv],
                       env={"CHECK_MAPI_PASSWORD": PASSWORD, **(env or {})})
    assert PASSWORD not in output
    return Outcome(int(code), output)


def direct(emulator: Emulator, *argv: str, env: dict[str, str] | None = None) -> Outcome:
    """``check`` with --url and --legacy-dn (no Autodiscover)."""
    return check("--url", mapi_url(emulator), "--legacy-dn", LEGACY_DN, *argv, env=env)
