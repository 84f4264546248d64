"""Parsed arguments -> frozen settings: secrets, --extra-opts, thresholds. Pure but for reads.

Every problem is a ConfigError (UNKNOWN) with a one-line reason naming the option.
"""

from __future__ import annotations

import argparse
import configparser
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import nagiosplugin

from . import resolver
from .auth import BearerAuth
from .autodiscover_cache import default_state_dir
from .errors import ConfigError, ServiceState
from .plugin import Thresholds
from .probe import ProbeSettings
from .secrets import PASSWORD_ENV, TOKEN_ENV, check_private, read_secret_file
from .transport import TransportConfig

PLUGIN_SECTION = "check_mapi"
# Monitoring Plugins' --extra-opts search path (plugins/utils_base.c, extra_opts.c).
EXTRA_OPTS_FILES = ("/etc/nagios/plugins.ini", "/usr/local/nagios/etc/plugins.ini",
                    "/usr/local/etc/nagios/plugins.ini", "/etc/opt/nagios/plugins.ini",
                    "/etc/nagios-plugins.ini", "/usr/local/etc/nagios-plugins.ini",
                    "/etc/opt/nagios-plugins.ini")
SECRET_KEYS = frozenset({"password", "token"})
TIMEOUT_MARGIN = 0.5  # our own deadline fires before the backstop alarm
MAX_CACHE_SECONDS = 86400.0


@dataclass(frozen=True, slots=True)
class Plan:
    """What the runner does: the probe settings, the auth flow and the output rules."""

    probe: ProbeSettings
    auth: httpx.Auth
    auth_method: str
    thresholds: Thresholds
    verbose: int
    show_subjects: bool


def expand_extra_opts(argv: Sequence[str], env: os._Environ[str] | dict[str, str]
                      ) -> list[str]:
    """Replace ``--extra-opts[=][section][@file]`` by the options of that INI section.

    The section's options go first, so that the command line overrides them.
    """
    args = list(argv)
    for index, arg in enumerate(args):
        if arg == "--extra-opts" or arg.startswith("--extra-opts="):
            value = arg.partition("=")[2]
            taken = 1
            if arg == "--extra-opts" and index + 1 < len(args) and not args[index + 1
                                                                            ].startswith("-"):
                value, taken = args[index + 1], 2
            rest = args[:index] + args[index + taken:]
            return _ini_options(value, env) + expand_extra_opts(rest, env)
    return args


def _ini_options(spec: str, env: os._Environ[str] | dict[str, str]) -> list[str]:
    section, _, path = spec.partition("@")
    section = section or PLUGIN_SECTION
    candidates = (env.get("NAGIOS_CONFIG_PATH", ""), *EXTRA_OPTS_FILES)
    paths = [path] if path else [p for p in candidates if p and os.path.isfile(p)]
    if not paths:
        raise ConfigError("--extra-opts: no plugins.ini found; give [section]@file")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(paths[0], encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as err:
        raise ConfigError(f"--extra-opts: cannot read {paths[0]}: "
                          f"{getattr(err, 'strerror', None) or 'not a valid INI file'}") from err
    if not parser.has_section(section):
        raise ConfigError(f"--extra-opts: no section [{section}] in {paths[0]}")
    items = parser.items(section)
    if SECRET_KEYS & {key for key, _ in items}:
        check_private(paths[0], "--extra-opts file holding a secret")
    options: list[str] = []
    for key, value in items:
        options += [f"--{key}"] if value == "" else [f"--{key}={value}"]
    return options


def _range(option: str, spec: str | None) -> str | None:
    if spec is None:
        return None
    try:
        nagiosplugin.Range(spec)
    except ValueError as err:
        raise ConfigError(f"{option}: invalid range {spec!r} ({err})") from err
    return spec


def _secret(file: str | None, env_name: str, plain: str | None, what: str,
            env: os._Environ[str] | dict[str, str]) -> str | None:
    if file:
        return read_secret_file(file, f"{what} file")
    return env.get(env_name) or plain or None


def _auth(args: argparse.Namespace, env: os._Environ[str] | dict[str, str]
          ) -> tuple[httpx.Auth, str]:
    token = _secret(args.token_file, TOKEN_ENV, args.token, "token", env)
    method = args.auth or ("bearer" if token else "basic")
    if method == "bearer":
        if not token:
            raise ConfigError("--auth bearer needs a token: --token-file or CHECK_MAPI_TOKEN")
        return BearerAuth(token), "bearer"
    password = _secret(args.password_file, PASSWORD_ENV, args.password, "password", env)
    if not password:
        raise ConfigError("no password: give --password-file, CHECK_MAPI_PASSWORD or an "
                          "--extra-opts section")
    return httpx.BasicAuth(args.username or args.mailbox, password), "basic"


def _verify(args: argparse.Namespace) -> ssl.SSLContext | bool:
    if args.insecure:
        return False
    if args.ca_file:
        try:
            return ssl.create_default_context(cafile=args.ca_file)
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(f"--ca-file {args.ca_file}: cannot load it "
                              f"({getattr(err, 'strerror', None) or err})") from err
    return True


def _check_mapihttp_settings(args: argparse.Namespace) -> resolver.Resolution | None:
    """The settings' resolution, compared with Autodiscover's answer; None if not given."""
    given = (args.org_mapihttp, args.mailbox_mapihttp, args.block_external, args.topology)
    if any(value is not None for value in given) and (args.org_mapihttp or args.topology):
        if args.expect_protocol is not None:
            raise ConfigError("--expect-protocol and the MAPI over HTTP settings exclude each "
                              "other: the settings already say what to expect")
        return resolver.resolve(*given)
    if any(value is not None for value in given):
        raise ConfigError("--mailbox-mapihttp and --block-external need --org-mapihttp or "
                          "--topology")
    return None


def _http_url(option: str, text: str) -> str:
    url = httpx.URL(text)
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"{option} {text!r} is not an http(s) URL")
    return text


def _endpoint_options(args: argparse.Namespace) -> None:
    """--url and --legacy-dn skip Autodiscover: both or neither, not with its own options."""
    if not args.mailbox:
        raise ConfigError("missing -m/--mailbox")
    if not args.url and "@" not in args.mailbox.strip("@"):
        raise ConfigError(f"-m/--mailbox {args.mailbox!r} is not an SMTP address, which "
                          "Autodiscover needs")
    if bool(args.url) != bool(args.legacy_dn):
        raise ConfigError(f"missing {'--legacy-dn' if args.url else '--url'}: --url and "
                          "--legacy-dn go together (they skip Autodiscover)")
    if args.url:
        _http_url("--url", args.url)
        if args.autodiscover_url:
            raise ConfigError("--autodiscover-url and --url/--legacy-dn exclude each other "
                              "(--url and --legacy-dn skip Autodiscover)")
    if args.autodiscover_url:
        _http_url("--autodiscover-url", args.autodiscover_url)
    if not 0 <= args.autodiscover_cache <= MAX_CACHE_SECONDS:
        raise ConfigError(f"--autodiscover-cache {args.autodiscover_cache:g} is not between 0 "
                          f"and {MAX_CACHE_SECONDS:.0f} seconds")


def resolve(args: argparse.Namespace, env: os._Environ[str] | dict[str, str]) -> Plan:
    """Validate and combine the options; ConfigError names the first bad one."""
    _endpoint_options(args)
    if not 0 < args.timeout <= 3600:
        raise ConfigError(f"--timeout {args.timeout:g} is not between 0 and 3600 seconds")
    if not 1 <= args.rows <= 100:
        raise ConfigError(f"--rows {args.rows} is not between 1 and 100")
    thresholds = Thresholds(
        _range("-w/--warning", args.warning), _range("-c/--critical", args.critical),
        _range("--total-warning", args.total_warning),
        _range("--total-critical", args.total_critical),
        _range("--items-warning", args.items_warning),
        _range("--items-critical", args.items_critical),
        ServiceState[args.timeout_state.upper()])
    resolution = _check_mapihttp_settings(args)
    auth, method = _auth(args, env)
    transport = TransportConfig(verify=_verify(args), proxy=args.proxy)
    probe = ProbeSettings(mailbox=args.mailbox, url=args.url, legacy_dn=args.legacy_dn,
                          timeout=max(args.timeout - TIMEOUT_MARGIN, 0.1), rows=args.rows,
                          client_application=args.client_application, auth_method=method,
                          transport=transport, autodiscover_url=args.autodiscover_url,
                          vantage=args.vantage, resolution=resolution,
                          expect_protocol=args.expect_protocol,
                          drift_state=ServiceState[args.drift_state.upper()],
                          autodiscover_cache=args.autodiscover_cache,
                          state_dir=args.state_dir or default_state_dir(env))
    return Plan(probe, auth, method, thresholds, args.verbose, args.show_subjects)
