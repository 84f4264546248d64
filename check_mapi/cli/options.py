"""Parsed arguments -> frozen settings (``check_mapi.settings``). Pure but for secret reads.

Every problem is a ConfigError (UNKNOWN) with a one-line reason naming the option. Cheap
by contract: URLs are checked with the standard library here (httpx reads them again, in
the run, before any request), threshold ranges by their syntax (``evaluate.ranges`` parses them
in the run).
"""

from __future__ import annotations

import re
from types import MappingProxyType

from .. import metrics, resolver
from ..errors import ConfigError, ServiceState
from ..settings import (
    AuthSpec,
    ConnectionSettings,
    ExoSource,
    MailboxSettings,
    Plan,
    RunSettings,
    Secret,
    default_state_dir,
)
from .mailboxes import AUTH_KEYS, MailboxLine, mailbox_lines
from .parser import threshold_dest
from .secrets import (
    KEY_PASSWORD_ENV,
    PASSWORD_ENV,
    PROXY_PASSWORD_ENV,
    TOKEN_ENV,
    clean_secret,
    read_secret_file,
)

TYPE_CHECKING = False  # mypy reads this name as True; typing itself is not imported
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

MAX_CACHE_SECONDS = 86400.0
MAX_TIMEOUT = 3600.0
MAX_PARALLEL = 256
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)"
# Monitoring Plugins range syntax: [@][start:][end], start may be ~ (negative infinity).
_RANGE = re.compile(rf"@?(?:(?:{_NUMBER}|~)?:)?(?:{_NUMBER})?")
_BOUND = re.compile(r"[0-9~]")  # a range names a start or an end: not "@", ":" or "@:"
MAX_LEGACY_DN = 4096  # real ones are ~150 characters; RopLogon's Essdn has a 16-bit size


def plan(args: argparse.Namespace, env: Mapping[str, str]) -> Plan:
    """Validate and combine the options; ConfigError names the first bad one."""
    lines = mailbox_lines(args.mailbox, args.mailbox_file)
    many = len(lines) > 1 or bool(args.mailbox_file)
    if not 0 < args.timeout <= MAX_TIMEOUT:
        raise ConfigError(f"--timeout {args.timeout:g}: give more than 0 and at most "
                          f"{MAX_TIMEOUT:.0f} seconds")
    if not 1 <= args.rows <= 100:
        raise ConfigError(f"--rows {args.rows}: give 1 to 100")
    if not 1 <= args.parallel <= MAX_PARALLEL:
        raise ConfigError(f"--parallel {args.parallel}: give 1 to {MAX_PARALLEL}")
    ranges = _ranges(args)
    _ascii_text("--client-application", args.client_application, 256)
    mailboxes = _mailboxes(args, env, lines, many)
    run = RunSettings(
        timeout=args.timeout, timeout_state=ServiceState[args.timeout_state.upper()],
        drift_state=ServiceState[args.drift_state.upper()], ranges=ranges,
        verbose=args.verbose, show_subjects=args.show_subjects, rows=args.rows,
        client_application=args.client_application,
        connection=_connection(args, env),
        autodiscover_cache=args.autodiscover_cache,
        state_dir=args.state_dir or default_state_dir(env), parallel=args.parallel,
        output=args.output)
    return Plan(run, mailboxes, many)


def _mailboxes(args: argparse.Namespace, env: Mapping[str, str], lines: list[MailboxLine],
               many: bool) -> tuple[MailboxSettings, ...]:
    """One MailboxSettings per line; the run's credentials are read once for them all."""
    shared: list[AuthSpec] = []  # the run's AuthSpec, built at the first mailbox needing it
    mailboxes = []
    for line in lines:
        options = line.namespace(args)
        try:
            _endpoint_options(options)  # before the secrets: the options' own problems first
            if AUTH_KEYS & line.overrides.keys():
                auth = _auth(options, env)
            else:
                shared = shared or [_auth(options, env)]
                auth = shared[0]
            mailboxes.append(_mailbox(options, auth))
        except ConfigError as err:
            if not many or line.where == "-m":
                raise
            raise ConfigError(f"{line.where} ({line.address}): {err}") from err
    return tuple(mailboxes)


def _mailbox(args: argparse.Namespace, auth: AuthSpec) -> MailboxSettings:
    """The settings of ``args.mailbox``, with the overrides of its line in ``args``."""
    return MailboxSettings(
        address=args.mailbox, auth=auth, url=args.url, legacy_dn=args.legacy_dn,
        autodiscover_url=args.autodiscover_url, vantage=args.vantage,
        resolution=_check_mapihttp_settings(args), expect_protocol=args.expect_protocol,
        exo=_exo_source(args))


def _exo_source(args: argparse.Namespace) -> ExoSource | None:
    """``--settings-from exo`` and the certificate app's options."""
    given = (args.app_id, args.cert_key, args.cert_file, args.cert_pfx,
             args.cert_pfx_passphrase_file)
    if args.settings_from is None:
        if any(v is not None for v in given):
            raise ConfigError("--app-id and the certificate options need --settings-from exo")
        return None
    if not args.tenant or not args.app_id:
        raise ConfigError("--settings-from exo needs --tenant and --app-id")
    if not (args.cert_pfx or (args.cert_key and args.cert_file)):
        raise ConfigError("--settings-from exo needs --cert-key and --cert-file, or --cert-pfx")
    if not 0 <= args.settings_cache <= MAX_CACHE_SECONDS:
        raise ConfigError(f"--settings-cache {args.settings_cache:g} is not between 0 and "
                          f"{MAX_CACHE_SECONDS:.0f} seconds")
    return ExoSource(args.tenant, args.app_id, args.cert_key, args.cert_file, args.cert_pfx,
                     args.cert_pfx_passphrase_file, args.settings_cache,
                     args.authority_host.strip().rstrip("/"), args.admin_url.rstrip("/"))


def _ranges(args: argparse.Namespace) -> Mapping[str, tuple[str | None, str | None]]:
    ranges: dict[str, tuple[str | None, str | None]] = {}
    for metric in metrics.with_thresholds():
        pair = tuple(_range(flags, getattr(args, threshold_dest(metric, level), None))
                     for level, flags in (("warning", metric.warning),
                                          ("critical", metric.critical)))
        if pair != (None, None):
            ranges[metric.name] = (pair[0], pair[1])
    return MappingProxyType(ranges)


def _range(flags: tuple[str, ...], spec: str | None) -> str | None:
    """The Monitoring Plugins range syntax and start <= end; evaluate.ranges parses it in the
    run (a second check), so that an argument error does not import it."""
    if spec is None:
        return None
    text = spec.strip()
    if not _RANGE.fullmatch(text) or not _BOUND.search(text):
        raise ConfigError(f"{'/'.join(flags)}: invalid range {spec!r} (expected "
                          "[@][start:][end], e.g. 10, 5:, ~:10, @1:2)")
    start, _, end = text.lstrip("@").rpartition(":")
    low = float("-inf") if start == "~" else float(start or 0)
    high = float(end) if end else float("inf")
    if low > high:
        raise ConfigError(f"{'/'.join(flags)}: invalid range {spec!r} (start {start or 0} "
                          f"is greater than end {end})")
    return text


def _secret(file: str | None, env_name: str, plain: str | None, what: str,
            env: Mapping[str, str]) -> Secret | None:
    """From the --WHAT-file, the environment variable, or --WHAT, in that order."""
    if file:
        value = read_secret_file(file, f"{what.replace('-', ' ')} file")
        origin = f"--{what}-file {file}"
    elif env.get(env_name):
        value, origin = env[env_name], f"${env_name}"
    elif plain:
        value, origin = plain, f"--{what}"
    else:
        return None
    return Secret(clean_secret(value, origin, what.replace("-", " ")), origin)


def _auth(args: argparse.Namespace, env: Mapping[str, str]) -> AuthSpec:
    token = _secret(args.token_file, TOKEN_ENV, args.token, "token", env)
    method = args.auth or ("bearer" if token else "oauth" if args.oauth_login else "auto")
    oauth = {"tenant": args.tenant, "client_id": args.client_id,
             "authority_host": args.authority_host.strip().rstrip("/")}
    if method == "oauth":  # the refresh token is in the token store; no password
        return AuthSpec("oauth", args.username, None, **oauth)
    if method == "bearer":
        if token is None:
            raise ConfigError("--auth bearer needs a token: --token-file or CHECK_MAPI_TOKEN")
        return AuthSpec("bearer", None, token)
    password = _secret(args.password_file, PASSWORD_ENV, args.password, "password", env)
    if password is None and method != "kerberos":  # Kerberos may use the host's ticket
        raise ConfigError("no password: give --password-file, CHECK_MAPI_PASSWORD or an "
                          "--extra-opts section")
    return AuthSpec(method, args.username, password, args.allow_basic_over_http, **oauth)


def _connection(args: argparse.Namespace, env: Mapping[str, str]) -> ConnectionSettings:
    """TLS trust, proxy and its credentials, name resolution overrides, client certificate.

    --proxy-from-env is resolved here, from ``env``: the transport never reads the
    environment. Credentials in a proxy URL (http://user:password@host:port) are taken out
    of it, so that the URL can be shown.
    """
    proxy, proxy_option = args.proxy, "--proxy"
    no_proxy = _hosts(args.no_proxy)
    if args.proxy_from_env:
        if not proxy:
            name = next((n for n in PROXY_VARIABLES if env.get(n, "").strip()), None)
            proxy, proxy_option = (env[name].strip(), f"${name}") if name else (None, "")
        no_proxy += _hosts(env.get("no_proxy") or env.get("NO_PROXY"))
    url_user, url_secret = None, None
    if proxy:
        proxy, url_user, url_secret = _proxy_url(proxy_option, proxy)
    proxy_secret = _secret(args.proxy_password_file, PROXY_PASSWORD_ENV, args.proxy_password,
                           "proxy-password", env) or (url_secret if not args.proxy_user else None)
    proxy_user = args.proxy_user or url_user
    if proxy_secret is not None and not proxy_user:
        raise ConfigError("a proxy password needs --proxy-user")
    if args.proxy_user and not (args.proxy or args.proxy_from_env):
        raise ConfigError("--proxy-user needs --proxy or --proxy-from-env")
    if proxy_user and proxy_secret is None:
        raise ConfigError("--proxy-user needs a password: --proxy-password-file or "
                          f"{PROXY_PASSWORD_ENV}")
    key_secret = None
    if args.client_key_password_file:
        origin = f"--client-key-password-file {args.client_key_password_file}"
        key_secret = Secret(clean_secret(read_secret_file(args.client_key_password_file,
                                                          "client key password file"),
                                         origin, "client key passphrase"), origin)
    elif env.get(KEY_PASSWORD_ENV):
        origin = f"${KEY_PASSWORD_ENV}"
        key_secret = Secret(clean_secret(env[KEY_PASSWORD_ENV], origin,
                                         "client key passphrase"), origin)
    if (args.client_key or key_secret) and not args.client_cert:
        raise ConfigError("--client-key and its password need --client-cert")
    settings = ConnectionSettings(
        ca_file=args.ca_file, insecure=args.insecure, proxy=proxy,
        proxy_user=proxy_user, proxy_secret=proxy_secret, proxy_domain=args.proxy_domain,
        no_proxy=tuple(no_proxy), proxy_from_env=args.proxy_from_env, resolve=_resolve(args),
        family=args.family, client_cert=args.client_cert, client_key=args.client_key,
        client_key_secret=key_secret)
    for host, _ in settings.resolve:  # they name origins, which a proxy resolves itself
        if settings.proxied(host):
            option = "--ip" if host == "*" else f"--resolve {host}"
            raise ConfigError(f"{option} has no effect through the proxy {proxy}, which "
                              "resolves names itself: reach the host directly with --no-proxy")
    return settings


# One proxy for every request: the https one first (Exchange is https), lower case first.
PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "http_proxy",
                   "HTTP_PROXY")


def _hosts(text: str | None) -> list[str]:
    return [h.strip().lower() for h in (text or "").split(",") if h.strip()]


def _proxy_url(option: str, text: str) -> tuple[str, str | None, Secret | None]:
    """An http:// proxy URL without its credentials, and those credentials (percent-decoded).

    A value without a scheme (proxy:3128, as environments often have it) is http://.
    """
    if "://" not in text:
        if not re.fullmatch(r"[^/?#@\s]+:\d+/?|[^/?#\s]*@[^/?#@\s]+:\d+/?", text.strip()):
            shown = re.sub(r"^[^@]*@", "***@", text)
            raise ConfigError(f"{option} {shown[:200]!r} is not a proxy URL: give "
                              "http://HOST:PORT")
        text = f"http://{text.strip()}"
    from urllib.parse import unquote, urlsplit  # only with a proxy or a URL: see _http_url

    shown = re.sub(r"^([^:/?#]+://)[^/?#]*@", r"\1***@", text)  # never the password
    _http_url(option, shown)
    parts = urlsplit(text)
    if parts.scheme.lower() != "http":
        raise ConfigError(f"{option} {shown[:200]!r}: only http:// proxies are supported "
                          "(not TLS to the proxy itself)")
    user = unquote(parts.username) if parts.username else None
    password = None if parts.password is None else unquote(parts.password)
    secret = None if password is None else Secret(
        clean_secret(password, f"{option} URL", "proxy password") if password else "",
        f"{option} URL")
    url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return url, user, secret


def _resolve(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    """--ip ADDRESS (every host) and --resolve HOST:ADDRESS, addresses checked."""
    pairs = [("*", args.ip)] if args.ip else []
    for item in args.resolve:
        host, sep, address = item.partition(":")
        if not sep or not host or not address:
            raise ConfigError(f"--resolve {item!r} is not HOST:ADDRESS")
        pairs.append((host.strip().lower().rstrip("."), address))
    import ipaddress  # only with --ip/--resolve: ~2 ms at every start otherwise

    for host, address in pairs:
        try:
            ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            option = "--ip" if host == "*" else "--resolve"
            raise ConfigError(f"{option} {address!r} is not an IP address") from None
    return tuple((host, address.strip("[]")) for host, address in pairs)


def _check_mapihttp_settings(args: argparse.Namespace) -> resolver.Resolution | None:
    """The settings' resolution, compared with Autodiscover's answer; None if not given."""
    given = (args.org_mapihttp, args.mailbox_mapihttp, args.block_external, args.topology)
    online = args.platform == resolver.EXCHANGE_ONLINE
    if online or (any(value is not None for value in given)
                  and (args.org_mapihttp or args.topology)):
        if args.expect_protocol is not None:
            raise ConfigError("--expect-protocol and the MAPI over HTTP settings exclude each "
                              "other: the settings already say what to expect")
        return resolver.resolve(*given, mapi_enabled=args.mapi_enabled, platform=args.platform)
    if any(value is not None for value in given):
        raise ConfigError("--mailbox-mapihttp and --block-external need --org-mapihttp or "
                          "--topology")
    if args.mapi_enabled is not None:
        raise ConfigError("--mapi-enabled needs --org-mapihttp or --topology (on-premises) "
                          "or --platform exchange-online")
    return None


def _http_url(option: str, text: str) -> str:
    """An http(s) URL with a host; the standard library's reading (httpx's comes later)."""
    from urllib.parse import urlsplit  # not for an argument error, --help or --version

    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError for a port that is not a number or out of range
    except ValueError as err:
        raise ConfigError(f"{option} {text[:200]!r} is not a valid URL ({err})") from err
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{option} {text[:200]!r} is not an http(s) URL")
    if any(c.isspace() or ord(c) < 0x20 for c in text) or port == 0:
        raise ConfigError(f"{option} {text[:200]!r} is not a valid URL")
    return text


def _ascii_text(option: str, text: str, limit: int) -> None:
    """Visible ASCII and spaces, at most ``limit`` characters: for a value the protocol
    carries as ASCII (an HTTP header, a LegacyDN in Connect and RopLogon)."""
    if not all(" " <= c <= "~" for c in text):
        raise ConfigError(f"{option} {text[:200]!r} must be printable ASCII (it is sent in "
                          "an ASCII field of the protocol)")
    if len(text) > limit:
        raise ConfigError(f"{option} is {len(text)} characters long: at most {limit}")


def _endpoint_options(args: argparse.Namespace) -> None:
    """--url and --legacy-dn skip Autodiscover: both or neither, not with its own options.

    An internationalized address (non-ASCII) is fine; a control character is not: it
    would end a header or a line of the output."""
    if not args.mailbox.strip():
        raise ConfigError("missing -m/--mailbox")
    if not args.mailbox.isprintable():
        raise ConfigError(f"-m/--mailbox {args.mailbox[:200]!r} contains a control "
                          "character")
    if args.legacy_dn:
        _ascii_text("--legacy-dn", args.legacy_dn, MAX_LEGACY_DN)
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
