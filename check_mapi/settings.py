"""Frozen settings, split by lifetime: one ``RunSettings`` per plugin run, one
``MailboxSettings`` per mailbox probed. The CLI builds them; nothing mutates them.

What to authenticate with (``AuthSpec``: method, identity, where the secret came from) is
separate from how: the probe builds the ``httpx.Auth`` flow from it (``check_mapi.auth``).

Pure: the standard library and ``check_mapi.resolver`` only, so that the CLI stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType

from .errors import ServiceState
from .resolver import Resolution
from .values import Value, field

DEFAULT_CLIENT_APPLICATION = "Outlook/16.0.18129.20116"
EXPECT_PROTOCOLS = ("mapihttp", "outlook-anywhere", "any")
AUTH_METHODS = ("auto", "basic", "ntlm", "negotiate", "kerberos", "bearer", "oauth",
                "oauth-password")
OFFICE_CLIENT_ID = "d3590ed6-52b3-4102-aeff-aad2292ab01c"  # holds delegated MAPI access
AUTHORITY_HOST = "login.microsoftonline.com"
EXO_SCOPE = "https://outlook.office365.com/.default"


class Secret(Value):
    """A password or token, and where it came from (``--password-file /x``, ``$ENV``...).

    The value never appears in ``repr()``: whatever logs this object shows the origin only.
    """

    value: str = field(repr=False)
    origin: str


class AuthSpec(Value):
    """What to authenticate with; ``check_mapi.auth.flow_for`` decides how."""

    method: str  # one of AUTH_METHODS
    username: str | None = None  # DOMAIN\\user, a UPN or user; None: the mailbox address
    secret: Secret | None = None
    basic_over_http: bool = False  # consent to Basic over plain http to a non-loopback host
    tenant: str | None = None  # OAuth: a domain or GUID; None: the mailbox's domain
    client_id: str = OFFICE_CLIENT_ID
    authority_host: str = AUTHORITY_HOST  # host[:port] of the identity provider

    @property
    def oauth(self) -> bool:
        return self.method in ("oauth", "oauth-password")


class ExoSource(Value):
    """``--settings-from exo``: the certificate app that reads the settings live."""

    tenant: str
    app_id: str
    key_file: str | None = None
    cert_file: str | None = None
    pfx_file: str | None = None
    passphrase_file: str | None = None  # the PFX's passphrase: a file, never the value
    cache_seconds: float = 3600.0
    authority_host: str = AUTHORITY_HOST
    admin_url: str = "https://outlook.office365.com"


class MailboxSettings(Value):
    """One mailbox: where it is and what its MAPI over HTTP configuration should be."""

    address: str
    auth: AuthSpec
    url: str | None = None  # with legacy_dn: skip Autodiscover
    legacy_dn: str | None = None
    autodiscover_url: str | None = None  # pinned; None: discover from the domain
    vantage: str = "auto"
    resolution: Resolution | None = None  # the MAPI over HTTP settings, when given
    expect_protocol: str | None = None
    exo: ExoSource | None = None  # read the settings live (Exchange Online admin API)

    @property
    def skips_autodiscover(self) -> bool:
        return bool(self.url and self.legacy_dn)


class ConnectionSettings(Value):
    """How to reach servers; the transport turns it into an SSL context and a client."""

    ca_file: str | None = None
    insecure: bool = False
    proxy: str | None = None
    proxy_user: str | None = None  # DOMAIN\\user for a Windows (NTLM) proxy, or user (Basic)
    proxy_secret: Secret | None = None
    proxy_domain: str | None = None  # the NTLM domain when proxy_user has none
    no_proxy: tuple[str, ...] = ()  # hosts (and .domain suffixes) reached directly
    proxy_from_env: bool = False  # honour HTTP(S)_PROXY / NO_PROXY of the environment
    resolve: tuple[tuple[str, str], ...] = ()  # (host, address): like check_http -I / curl
    family: int = 0  # 0 any, 4 IPv4 only, 6 IPv6 only
    client_cert: str | None = None  # PEM certificate (chain) for mutual TLS
    client_key: str | None = None  # its PEM key, when not in client_cert
    client_key_secret: Secret | None = None  # the key's passphrase
    user_agent: str = "check_mapi"

    def proxied(self, host: str) -> bool:
        """Whether requests to ``host`` go through ``proxy``: not when ``no_proxy`` matches.

        As curl reads NO_PROXY: an entry matches that host and its subdomains, with or
        without a leading dot; ``*`` matches every host.
        """
        if not self.proxy:
            return False
        name = host.strip("[]").lower().rstrip(".")
        for entry in self.no_proxy:
            domain = entry.lower().lstrip(".").rstrip(".")
            if entry == "*" or (domain and (name == domain or name.endswith("." + domain))):
                return False
        return True


Ranges = Mapping[str, tuple[str | None, str | None]]  # metric name -> (warning, critical)


class RunSettings(Value):
    """Everything that holds for the whole run, whichever mailbox is probed."""

    timeout: float = 30.0
    timeout_state: ServiceState = ServiceState.CRITICAL
    drift_state: ServiceState = ServiceState.WARNING
    ranges: Ranges = field(default_factory=lambda: MappingProxyType({}))
    verbose: int = 0
    show_subjects: bool = False
    rows: int = 5
    client_application: str = DEFAULT_CLIENT_APPLICATION
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    autodiscover_cache: float = 0.0  # seconds; 0: off
    state_dir: str = "."
    parallel: int = 8  # probes at once, with several mailboxes
    output: str = "nagios"  # or "checkmk": one local-check line per mailbox


class Plan(Value):
    """What one plugin run does: the run's settings and the mailboxes to probe.

    ``many``: several mailboxes, or a mailbox file (even of one line): the many-mailbox
    output, whose perfdata labels carry the mailbox, so that they do not change when a
    file shrinks to one line.
    """

    run: RunSettings
    mailboxes: tuple[MailboxSettings, ...]
    many: bool = False

    @property
    def mailbox(self) -> MailboxSettings:
        """The (first) mailbox: the one of a single-mailbox run."""
        return self.mailboxes[0]


def default_state_dir(env: Mapping[str, str]) -> str:
    """Monitoring Plugins' state location (MP_STATE_PATH, formerly
    NAGIOS_PLUGIN_STATE_DIRECTORY), else the user's cache directory."""
    for name in ("MP_STATE_PATH", "NAGIOS_PLUGIN_STATE_DIRECTORY"):
        if env.get(name):
            return os.path.join(env[name], "check_mapi")
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "check_mapi")
