"""Server-side HTTP authentication of the emulator: Basic, NTLM, Negotiate and Bearer.

Shaped like Exchange's ``/mapi`` virtual directory (mapi-http.md §6, RFC 7235 §4.1): one
``WWW-Authenticate`` per enabled method on a 401, NTLM/Negotiate ([MS-NLMP], RFC 4559)
authenticating the TCP connection, optional Extended Protection (RFC 5929 tls-server-end-point
channel binding), and a Bearer challenge with Exchange's parameters (mapi-http.md §6.3).

This module is the policy: challenges, Basic (RFC 7617), Bearer (RFC 6750: the configured
static tokens, then, with an ``[identity]`` section, the JWTs its provider issued, judged by a
``BearerCheck`` from :mod:`.idp`), which account a user name means, and what Exchange
refuses beyond a wrong password: missing channel bindings
(Extended Protection "Require") and NTLMv1 (``AuthPolicy.refuse_ntlmv1``). The NTLM/Negotiate
acceptor, its process-global user file, the names in its CHALLENGE message and the channel
bindings are :mod:`.ntlm`. User names: "user", "DOMAIN\\user" or the smtp address; a DOMAIN
other than ``AuthPolicy.domain`` is refused.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import ntlm

METHODS = ("negotiate", "ntlm", "basic", "bearer")
_SCHEME_NAMES = {"negotiate": "Negotiate", "ntlm": "NTLM", "basic": "Basic", "bearer": "Bearer"}
_TOKEN_TYPES = "app_asserted_user_v1 service_asserted_app_v1"
_BEARER_DIAGNOSTICS = (
    '2000001;reason="The token is invalid or has expired.";error_category="invalid_token"'
)
# token -> (SMTP address, "") when accepted, else (None, the x-ms-diagnostics value)
BearerCheck = Callable[[str], tuple["str | None", str]]


@dataclass(frozen=True, slots=True)
class Account:
    """A mailbox the emulator knows; ``smtp`` is the identity returned on success."""

    smtp: str
    username: str  # logon name: accepted as "user", "DOMAIN\\user", or the smtp address
    password: str | None  # None: no password logon (Basic/NTLM/Negotiate refuse it)
    tokens: tuple[str, ...] = ()  # accepted bearer tokens (exact match)


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """Enabled methods (order = ``WWW-Authenticate`` order) and challenge parameters."""

    methods: tuple[str, ...] = ("negotiate", "ntlm", "basic")
    require_channel_binding: bool = False
    realm: str = "mail.contoso.com"
    bearer_client_id: str = "00000002-0000-0ff1-ce00-000000000000"
    bearer_trusted_issuers: str = "00000001-0000-0000-c000-000000000000@*"
    bearer_authorization_uri: str = "https://login.microsoftonline.com/common/oauth2/authorize"
    domain: str = "CONTOSO"  # NetBIOS domain: DOMAIN\user, NTLM TargetName, MsvAvNbDomainName
    server_name: str = "EXCAS01"  # the NTLM CHALLENGE's computer: a host name or a FQDN
    dns_domain: str | None = None  # MsvAvDnsDomainName; None: the realm without its host label
    refuse_ntlmv1: bool | None = None  # None: refused when require_channel_binding is set

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods or len(set(self.methods)) != len(self.methods):
            raise ValueError(f"auth methods must be distinct names out of {METHODS}")

    @property
    def refuses_ntlmv1(self) -> bool:
        """Exchange with Extended Protection cannot take NTLMv1 (no AV pairs to bind)."""
        return self.require_channel_binding if self.refuse_ntlmv1 is None else self.refuse_ntlmv1

    @property
    def challenge_names(self) -> ntlm.ChallengeNames:
        """``dns_domain`` defaults to the realm less its first label when it has three or more
        (mail.contoso.com -> contoso.com), else to the realm."""
        dns_domain = self.dns_domain
        if dns_domain is None:
            dns_domain = self.realm.partition(".")[2] if self.realm.count(".") >= 2 else self.realm
        return ntlm.ChallengeNames.of(self.domain, self.server_name, dns_domain)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Outcome of one request: 200 (caller proceeds as ``identity``) or 401 with ``headers``."""

    identity: str | None
    status: int
    headers: tuple[tuple[str, str], ...]
    method: str | None
    handshake_completed: bool  # credentials were verified on this request (success or failure)
    challenge: bool = False  # a 401 carrying an NTLM/Negotiate challenge: the handshake goes on


def _logon_name(account: Account) -> str:
    return account.username.rpartition("\\")[2]


def _ntlm_users(accounts: Sequence[Account]) -> tuple[tuple[str, str], ...]:
    """(user name, password) for NTLM: each password account as "user" and as its smtp address."""
    return tuple(
        (name, account.password)
        for account in accounts if account.password is not None
        for name in dict.fromkeys((_logon_name(account), account.smtp))
    )


def _encode(text: str) -> bytes:
    # Header values may hold lone surrogates (e.g. from surrogateescape); compare them too.
    return text.encode("utf-8", "surrogatepass")


class ConnectionAuth:
    """Per TCP connection state: NTLM/Negotiate contexts are bound to the connection.

    One instance per connection, used by one thread at a time (requests on a connection are
    sequential); instances on different threads are independent.
    """

    def __init__(
        self, policy: AuthPolicy, accounts: Sequence[Account], channel_binding: bytes | None,
        bearer_check: BearerCheck | None = None,
    ) -> None:
        """``channel_binding``: :func:`.ntlm.tls_server_end_point` of the server cert, or None.
        ``bearer_check``: judges a Bearer token that is none of the static ones.

        With ``policy.require_channel_binding`` and TLS, NTLM/Negotiate must carry matching
        bindings (Require); otherwise bindings are not checked (ExtendedProtection None). On plain
        HTTP (None) there is nothing to bind to, so the requirement does not apply.
        """
        self._policy = policy
        self._bearer_check = bearer_check
        self._accounts = tuple(accounts)
        self._ntlm_users = _ntlm_users(self._accounts)
        self._names = policy.challenge_names
        self._bindings = (
            ntlm.channel_bindings(channel_binding)
            if channel_binding is not None and policy.require_channel_binding
            else None
        )
        self._context: Any = None  # spnego ContextProxy of the handshake in progress
        self._scheme: str | None = None
        self._identity: str | None = None
        self._identity_method: str | None = None

    @property
    def identity(self) -> str | None:
        """SMTP address established on this connection by NTLM/Negotiate, else None."""
        return self._identity

    def authenticate(self, authorization: str | None) -> AuthResult:
        """Judge one request's ``Authorization`` header; never raises."""
        value = (authorization or "").strip()
        if not value:
            if self._identity is not None:  # connection-oriented like IIS (mapi-http.md §6.1)
                return AuthResult(self._identity, 200, (), self._identity_method, False)
            return self._refuse()
        scheme, _, credentials = value.partition(" ")
        method = scheme.lower()
        credentials = credentials.strip()
        if method not in self._policy.methods:
            return self._refuse()
        if method == "basic":
            return self._basic(credentials)
        if method == "bearer":
            return self._bearer(credentials)
        return self._spnego(method, credentials)

    def _challenges(self, bearer_error: bool,
                    diagnostics: str | None = None) -> tuple[tuple[str, str], ...]:
        policy = self._policy
        headers: list[tuple[str, str]] = []
        for method in policy.methods:
            value = _SCHEME_NAMES[method]
            if method == "basic":
                value += f' realm="{policy.realm}"'
            elif method == "bearer":
                value += (
                    f' client_id="{policy.bearer_client_id}",'
                    f' trusted_issuers="{policy.bearer_trusted_issuers}",'
                    f' token_types="{_TOKEN_TYPES}",'
                    f' authorization_uri="{policy.bearer_authorization_uri}"'
                )
                value += ', error="invalid_token"' if bearer_error else ""
            headers.append(("WWW-Authenticate", value))
        if bearer_error:
            headers.append(("x-ms-diagnostics", diagnostics or _BEARER_DIAGNOSTICS))
        return tuple(headers)

    def _refuse(
        self, method: str | None = None, checked: bool = False, bearer_error: bool = False,
        diagnostics: str | None = None,
    ) -> AuthResult:
        return AuthResult(None, 401, self._challenges(bearer_error, diagnostics), method, checked)

    def _find(self, user: str) -> Account | None:
        """Account for "user", "DOMAIN\\user" or the smtp address; DOMAIN must be policy.domain."""
        domain, backslash, name = user.rpartition("\\")
        if backslash and domain.casefold() != self._policy.domain.casefold():
            return None
        wanted = name.casefold()
        for account in self._accounts:
            if wanted in (_logon_name(account).casefold(), account.smtp.casefold()):
                return account
        return None

    def _basic(self, credentials: str) -> AuthResult:
        """RFC 7617: base64("user:password"), UTF-8."""
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII str
            return self._refuse("basic")
        user, colon, password = decoded.partition(":")
        if not colon:
            return self._refuse("basic")
        account = self._find(user)
        if (
            account is None
            or account.password is None
            or not hmac.compare_digest(_encode(account.password), _encode(password))
        ):
            return self._refuse("basic", checked=True)
        return AuthResult(account.smtp, 200, (), "basic", True)

    def _bearer(self, token: str) -> AuthResult:
        """RFC 6750 §3; an empty ``Bearer`` (Outlook's probe, mapi-http.md §6.2) is challenged."""
        if not token:
            return self._refuse("bearer")
        presented = _encode(token)
        for account in self._accounts:
            if any(hmac.compare_digest(_encode(known), presented) for known in account.tokens):
                return AuthResult(account.smtp, 200, (), "bearer", True)
        if self._bearer_check is not None:
            identity, diagnostics = self._bearer_check(token)
            if identity is not None:
                return AuthResult(identity, 200, (), "bearer", True)
            return self._refuse("bearer", checked=True, bearer_error=True,
                                diagnostics=diagnostics)
        return self._refuse("bearer", checked=True, bearer_error=True)

    def _spnego(self, method: str, credentials: str) -> AuthResult:
        """RFC 4559 / [MS-NLMP]: one leg of an NTLM or Negotiate handshake on this connection."""
        try:
            token = base64.b64decode(credentials, validate=True)
        except ValueError:
            token = b""
        initial = ntlm.is_initial(token)
        if initial:
            self._restart(method)
        elif not token or self._context is None or self._scheme != method:
            self._context = None
            return self._refuse(method)
        elif (self._policy.refuses_ntlmv1 and ntlm.is_ntlmv1(token)) or (
            self._bindings is not None and not ntlm.carries_channel_binding(token)
        ):
            self._context = None
            return self._refuse(method, checked=True)
        with ntlm.user_file(self._ntlm_users, self._policy.domain):
            try:
                if initial:
                    self._context = ntlm.new_acceptor(method, self._bindings, self._names)
                output: bytes | None = self._context.step(token)
                complete = bool(self._context.complete)
                principal = self._context.client_principal if complete else None
            except ntlm.TOKEN_ERRORS:
                self._context = None
                return self._refuse(method, checked=not initial)
        return self._after_step(method, output, complete, principal)

    def _restart(self, method: str) -> None:
        # A new handshake supersedes whatever this connection had authenticated as.
        self._context, self._scheme = None, method
        self._identity = self._identity_method = None

    def _after_step(
        self, method: str, output: bytes | None, complete: bool, principal: str | None
    ) -> AuthResult:
        header = (
            (("WWW-Authenticate", f"{_SCHEME_NAMES[method]} {base64.b64encode(output).decode()}"),)
            if output else ()
        )
        if not complete:
            if not header:
                self._context = None
                return self._refuse(method)
            return AuthResult(None, 401, header, method, False, challenge=True)
        self._context = None
        account = self._find(principal or "")
        if account is None:
            return self._refuse(method, checked=True)
        self._identity, self._identity_method = account.smtp, method
        return AuthResult(account.smtp, 200, header, method, True)
