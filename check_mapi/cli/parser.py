"""Command line of the ``check_mapi`` plugin: declarations only; ``options`` resolves them.

Monitoring Plugins conventions: exit 3 (UNKNOWN) for bad arguments, ``--help`` and
``--version`` (argparse would exit 2, which a monitoring core reads as CRITICAL); nothing
on stderr; ``--extra-opts`` reads options from an INI section. The threshold options are
derived from ``check_mapi.metrics``.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__, metrics
from ..errors import ConfigError
from ..resolver import PLATFORMS, TOPOLOGIES
from ..settings import (
    AUTH_METHODS,
    AUTHORITY_HOST,
    DEFAULT_CLIENT_APPLICATION,
    EXPECT_PROTOCOLS,
    OFFICE_CLIENT_ID,
)
from .secrets import KEY_PASSWORD_ENV, PASSWORD_ENV, PROXY_PASSWORD_ENV, TOKEN_ENV

TYPE_CHECKING = False  # mypy reads this name as True; typing itself is not imported
if TYPE_CHECKING:
    from typing import NoReturn

EPILOG = f"""\
Secrets: the password comes from --password-file, ${PASSWORD_ENV},
an --extra-opts section (password=...), or --password (visible in ps: avoid).
A bearer token comes from --token-file, ${TOKEN_ENV},
--extra-opts (token=...) or --token; the proxy's password from
--proxy-password-file, ${PROXY_PASSWORD_ENV}, --extra-opts
(proxy-password=...) or --proxy-password; a client key's passphrase from
--client-key-password-file or ${KEY_PASSWORD_ENV}. Files holding secrets
must be owned by root or you and unreadable by others; group-readable only by
your own group (root:nagios 0640, as for resource.cfg).

Thresholds use the Monitoring Plugins range syntax (10, 5:, ~:10, @1:2), in
seconds for times. Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

Examples:
  the real probe against the built-in emulator:
    check_mapi --demo
  one mailbox, found through Autodiscover:
    check_mapi -m probe@contoso.com --password-file /etc/check_mapi/pw -w 2 -c 5
  skip Autodiscover:
    check_mapi -m probe@contoso.com --password-file FILE \\
      --url 'https://mail.contoso.com/mapi/emsmdb/?MailboxId=...' \\
      --legacy-dn '/o=Contoso/ou=.../cn=Recipients/cn=probe'
  many mailboxes in one run, and the same as Checkmk local-check lines:
    check_mapi --mailbox-file FILE --password-file FILE --parallel 16 -t 60
    check_mapi --mailbox-file FILE --password-file FILE --output checkmk
  Exchange Online, after --oauth-login once:
    check_mapi -m probe@contoso.com --auth oauth
  what the MAPI over HTTP settings resolve to (no network):
    check_mapi --explain-config --org-mapihttp true --block-external true
"""


class Finished(Exception):  # noqa: N818 - not an error: --help or --version was printed
    """``--help`` or ``--version`` has been written to stdout; the plugin exits 3."""


class Parser(argparse.ArgumentParser):
    """argparse for a plugin: a bad argument is a ConfigError (an UNKNOWN evaluation, which
    the renderer writes), help and version go to stdout, and nothing exits from here."""

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stdout.write(message)
        raise Finished

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)

    def print_help(self, file: object = None) -> None:
        sys.stdout.write(self.format_help())


def terminal_width() -> int:
    """``shutil.get_terminal_size().columns``, as argparse's HelpFormatter asks it, without
    importing shutil (~5 ms with its compression modules, for every start)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def build_parser() -> Parser:
    width = terminal_width() - 2  # as argparse subtracts it

    class Formatter(argparse.RawDescriptionHelpFormatter):
        """argparse's own formatter with the width given: argparse builds one for every
        ``add_argument`` and would import shutil in the first to ask the terminal."""

        def __init__(self, prog: str) -> None:
            super().__init__(prog, width=width)

    p = Parser(prog="check_mapi", epilog=EPILOG, formatter_class=Formatter,
               description="Log on to an Exchange mailbox over MAPI over HTTP, as Outlook "
                           "does,\nlist the Inbox and report availability and timings.")
    p.add_argument("-V", "--version", action="version", version=f"check_mapi {__version__}")
    p.add_argument("--extra-opts", metavar="[SECTION][@FILE]", nargs="?", const="",
                   help="read options from an INI section (default section check_mapi, "
                        "default files: the Monitoring Plugins plugins.ini locations)")
    p.add_argument("--demo", action="store_true",
                   help="probe a mailbox of the built-in Exchange emulator, started on a "
                        "loopback port (no other option needed)")
    target = p.add_argument_group("mailbox and endpoint")
    target.add_argument("-m", "--mailbox", metavar="SMTP", action="append",
                        help="the mailbox's SMTP address; repeat it to probe several "
                             "mailboxes in one run")
    target.add_argument("--mailbox-file", metavar="FILE",
                        help="probe the mailboxes listed in FILE: one SMTP address per line, "
                             "# comments, optional key=value overrides (username, "
                             "password-file, url, legacy-dn, ...; see the README)")
    target.add_argument("--parallel", type=int, default=8, metavar="N",
                        help="with several mailboxes: probe up to N at once (default 8)")
    target.add_argument("--url", help="the emsmdb URL (https://host/mapi/emsmdb/?MailboxId=...);"
                                      " with --legacy-dn it skips Autodiscover")
    target.add_argument("--legacy-dn", metavar="DN", help="the mailbox user's LegacyDN")
    target.add_argument("--autodiscover-url", metavar="URL",
                        help="ask this Autodiscover URL instead of discovering it from the "
                             "mailbox's domain (an .../autodiscover/autodiscover.json URL: "
                             "Autodiscover v2, e.g. Exchange Online)")
    target.add_argument("--autodiscover-cache", type=float, default=0.0, metavar="SECONDS",
                        help="reuse Autodiscover's answer for this long (default 0: ask "
                             "every time)")
    target.add_argument("--state-dir", metavar="DIR",
                        help="where the cache lives (default $MP_STATE_PATH/check_mapi, else "
                             "~/.cache/check_mapi)")
    target.add_argument("--client-application", default=DEFAULT_CLIENT_APPLICATION,
                        metavar="NAME/a.b.c.d", help="X-ClientApplication header "
                        f"(default {DEFAULT_CLIENT_APPLICATION})")
    target.add_argument("--rows", type=int, default=5, metavar="N",
                        help="newest Inbox items to read (default 5)")
    auth = p.add_argument_group("authentication")
    auth.add_argument("--auth", choices=AUTH_METHODS, metavar="METHOD",
                      help=f"{', '.join(AUTH_METHODS)}; default: bearer when a token is "
                           "given, else auto: what the server offers, Kerberos (with a "
                           "ticket), NTLM, then Basic (over TLS only); oauth: Exchange Online "
                           "with the token store (--oauth-login once); oauth-password: the "
                           "deprecated username/password grant")
    auth.add_argument("-u", "--username",
                      help="logon name: DOMAIN\\user, user@domain (UPN) or user (default: "
                           "the mailbox address)")
    auth.add_argument("--oauth-login", action="store_true",
                      help="Exchange Online: log in once, by hand, with a device code (MFA "
                           "works) and keep the refresh token in the token store; later "
                           "checks with --auth oauth refresh silently")
    auth.add_argument("--tenant", metavar="DOMAIN|GUID",
                      help="Entra tenant for --auth oauth (default: the mailbox's domain)")
    auth.add_argument("--client-id", metavar="GUID", default=OFFICE_CLIENT_ID,
                      help="OAuth public client (default: Microsoft Office, the one client "
                           "that holds delegated MAPI access)")
    auth.add_argument("--authority-host", metavar="HOST", default=AUTHORITY_HOST,
                      help=f"identity provider (default {AUTHORITY_HOST}; "
                           "login.microsoftonline.us for GCC High/DoD, "
                           "login.chinacloudapi.cn for 21Vianet)")
    auth.add_argument("--allow-basic-over-http", action="store_true",
                      help="send Basic credentials over plain http to a host that is not "
                           "loopback (they are readable on the network: refused without this)")
    auth.add_argument("--password-file", metavar="FILE",
                      help="read the password from the first line of FILE (owner-only, or "
                           "root:<your group> 0640)")
    auth.add_argument("--password", help="the password itself: visible in ps, avoid")
    auth.add_argument("--token-file", metavar="FILE", help="OAuth bearer token file")
    auth.add_argument("--token", help="the bearer token itself: visible in ps, avoid")
    tls = p.add_argument_group("connection")
    tls.add_argument("--ca-file", metavar="PEM", help="trust this CA bundle instead of certifi's")
    tls.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    _add_connection_options(tls)
    tls.add_argument("-t", "--timeout", type=float, default=30.0, metavar="SECONDS",
                     help="the plugin ends within this many seconds, start-up included "
                          "(default 30); a slice is kept for Disconnect")
    tls.add_argument("--timeout-state", default="critical",
                     choices=("ok", "warning", "critical", "unknown"),
                     help="state when a step times out (default critical)")
    _add_threshold_options(p)
    out = p.add_argument_group("output")
    out.add_argument("-v", "--verbose", action="count", default=0,
                     help="step trace (-v); the settings in effect and the connection: "
                          "addresses, TLS, certificate expiry (-vv); one line per request "
                          "(-vvv)")
    out.add_argument("--show-subjects", action="store_true",
                     help="list the newest items' subjects and senders (private data; "
                          "also without -v)")
    out.add_argument("--output", choices=("nagios", "checkmk"), default="nagios",
                     help="nagios (default): the plugin status line; checkmk: one Checkmk "
                          "local-check line per mailbox")
    _add_mapihttp_options(p)
    return p


def _add_connection_options(group: argparse._ArgumentGroup) -> None:
    """Proxy, name resolution and client certificate options."""
    group.add_argument("--proxy", metavar="URL", help="HTTP(S) proxy (http://host:port)")
    group.add_argument("--proxy-user", metavar="USER",
                       help="proxy logon name: DOMAIN\\user for a Windows (NTLM) proxy, else "
                            "user (Basic)")
    group.add_argument("--proxy-password-file", metavar="FILE",
                       help="read the proxy password from the first line of FILE")
    group.add_argument("--proxy-password", help="the proxy password itself: visible in ps")
    group.add_argument("--proxy-domain", metavar="DOMAIN",
                       help="NTLM domain of --proxy-user when it names none")
    group.add_argument("--no-proxy", metavar="HOSTS",
                       help="comma-separated hosts or .domain suffixes reached directly")
    group.add_argument("--proxy-from-env", action="store_true",
                       help="honour HTTP_PROXY/HTTPS_PROXY/NO_PROXY of the environment (off: "
                            "monitoring daemons run with odd environments)")
    group.add_argument("--ip", metavar="ADDRESS",
                       help="connect to this address for every host (one server behind a "
                            "load balancer); the name still goes into TLS and Host")
    group.add_argument("--resolve", metavar="HOST:ADDRESS", action="append", default=[],
                       help="connect to ADDRESS for HOST (repeatable), like curl --resolve")
    family = group.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4, default=0,
                        help="IPv4 only")
    family.add_argument("-6", dest="family", action="store_const", const=6, help="IPv6 only")
    group.add_argument("--client-cert", metavar="PEM",
                       help="client certificate for mutual TLS (with its key, or --client-key)")
    group.add_argument("--client-key", metavar="PEM", help="the client certificate's key")
    group.add_argument("--client-key-password-file", metavar="FILE",
                       help="passphrase of an encrypted --client-key")


def threshold_dest(metric: metrics.Metric, level: str) -> str:
    """The argparse destination of a metric's warning or critical range."""
    return f"{metric.name}_{level}"


def _add_threshold_options(p: Parser) -> None:
    """One warning and one critical range option per row of ``metrics.METRICS`` that has
    them (``-w/-c`` are connect_time's, as in most plugins)."""
    limits = p.add_argument_group("thresholds (Monitoring Plugins ranges; seconds for times)")
    for metric in metrics.with_thresholds():
        for level, flags in (("warning", metric.warning), ("critical", metric.critical)):
            if flags:
                limits.add_argument(*flags, dest=threshold_dest(metric, level),
                                    metavar="RANGE", help=f"{metric.label} {level} range")


def _add_mapihttp_options(p: Parser) -> None:
    """Settings of "Configure MAPI over HTTP in Exchange Server"; resolver.py validates them."""
    mapi = p.add_argument_group("MAPI over HTTP configuration")
    mapi.add_argument("--explain-config", action="store_true",
                      help="print what these settings resolve to (protocol, internal/external) "
                           "and the rule that decided it; no network; exit 0")
    mapi.add_argument("--org-mapihttp", metavar="{true,false}",
                      help="the organization's MapiHttpEnabled (Get-OrganizationConfig)")
    mapi.add_argument("--mailbox-mapihttp", metavar="{null,true,false}",
                      help="the mailbox's MapiHttpEnabled (Get-CasMailbox; default null: "
                           "follows the organization)")
    mapi.add_argument("--block-external", metavar="{true,false}",
                      help="the mailbox's MapiBlockOutlookExternalConnectivity (default false)")
    mapi.add_argument("--mapi-enabled", metavar="{true,false}",
                      help="the mailbox's MAPIEnabled (Get-CasMailbox; default true; false "
                           "blocks all MAPI clients)")
    mapi.add_argument("--platform", choices=PLATFORMS,
                      help="whose rules apply: on-premises (Microsoft's tables; the default) "
                           "or exchange-online (MAPIEnabled alone)")
    mapi.add_argument("--settings-from", choices=("exo",),
                      help="read MAPIEnabled (and, where present, MapiHttpEnabled and "
                           "MAPIBlockOutlookExternalConnectivity) live through the Exchange "
                           "Online admin API with a certificate app: needs --tenant, --app-id "
                           "and --cert-key/--cert-file or --cert-pfx")
    mapi.add_argument("--app-id", metavar="GUID", help="the certificate app (Exchange."
                      "ManageAsApp and a reader role) for --settings-from exo")
    mapi.add_argument("--cert-key", metavar="FILE", help="its PEM private key")
    mapi.add_argument("--cert-file", metavar="FILE", help="its PEM certificate")
    mapi.add_argument("--cert-pfx", metavar="FILE", help="or its PFX (PKCS#12)")
    mapi.add_argument("--cert-pfx-passphrase-file", metavar="FILE",
                      help="the PFX's passphrase, read from this file")
    mapi.add_argument("--settings-cache", type=float, default=3600.0, metavar="SECONDS",
                      help="keep the live settings this long in the state directory "
                           "(default 3600; 0: read them every run)")
    mapi.add_argument("--admin-url", default="https://outlook.office365.com",
                      metavar="URL", help=argparse.SUPPRESS)
    mapi.add_argument("--topology", metavar="SCENARIO",
                      help="derive the organization default from the upgrade scenario: "
                           f"{', '.join(TOPOLOGIES)} (--org-mapihttp wins)")
    mapi.add_argument("--vantage", choices=("internal", "external", "auto"), default="auto",
                      help="where the check runs from: log on through Autodiscover's "
                           "InternalUrl or ExternalUrl (default auto: ExternalUrl if offered)")
    mapi.add_argument("--expect-protocol", choices=EXPECT_PROTOCOLS,
                      help="without the settings above: what Autodiscover should offer "
                           "(default mapihttp: anything else is CRITICAL)")
    mapi.add_argument("--drift-state", default="warning",
                      choices=("ok", "warning", "critical", "unknown"),
                      help="state when Autodiscover's answer differs from the settings "
                           "(default warning)")
