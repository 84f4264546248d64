"""Server-side HTTP authentication of the emulator: Basic, NTLM, Negotiate and Bearer.

Shaped like Exchange's ``/mapi`` virtual directory (mapi-http.md §6, RFC 7235 §4.1): one
``WWW-Authenticate`` per enabled method on a 401, NTLM/Negotiate ([MS-NLMP], RFC 4559)
authenticating the TCP connection, optional Extended Protection (RFC 5929 tls-server-end-point
channel binding), and a Bearer challenge with Exchange's parameters (mapi-http.md §6.3).

Process-global state: pyspnego's NTLM acceptor has no credential argument; it reads the file named
by the environment variable ``NTLM_USER_FILE`` on every Authenticate message. :class:`_NtlmUserFile`
points that variable once at a private 0600 file and swaps the file's content under a lock for each
acceptor step, so emulators with different accounts can share a process. User names: "user",
"DOMAIN\\user" or the smtp address; a DOMAIN other than ``AuthPolicy.domain`` is refused.
"""

from __future__ import annotations

import atexit
import base64
import hmac
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import spnego
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

# Private module, stable since pyspnego 0.1: the only public way to feed the acceptor is the user
# file, and its smbpasswd format (hashes instead of passwords) copes with ':' in passwords.
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

METHODS = ("negotiate", "ntlm", "basic", "bearer")
_SCHEME_NAMES = {"negotiate": "Negotiate", "ntlm": "NTLM", "basic": "Basic", "bearer": "Bearer"}
_TOKEN_TYPES = "app_asserted_user_v1 service_asserted_app_v1"
_BEARER_DIAGNOSTICS = (
    '2000001;reason="The token is invalid or has expired.";error_category="invalid_token"'
)
# pyspnego 0.12.4 parsers let these escape on malformed tokens (found by fuzzing the acceptor);
# ValueError covers binascii.Error and UnicodeDecodeError.
_TOKEN_ERRORS = (SpnegoError, struct.error, ValueError, KeyError, IndexError, OverflowError,
                 StopIteration)
_NTLM_AUTHENTICATE = b"NTLMSSP\x00\x03\x00\x00\x00"
_NTLM_NEGOTIATE = b"NTLMSSP\x00\x01\x00\x00\x00"
_AV_EOL, _AV_CHANNEL_BINDINGS = 0x0000, 0x000A


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
    domain: str = "CONTOSO"

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods or len(set(self.methods)) != len(self.methods):
            raise ValueError(f"auth methods must be distinct names out of {METHODS}")


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Outcome of one request: 200 (caller proceeds as ``identity``) or 401 with ``headers``."""

    identity: str | None
    status: int
    headers: tuple[tuple[str, str], ...]
    method: str | None
    handshake_completed: bool  # credentials were verified on this request (success or failure)


def certificate_hash(der_cert: bytes) -> bytes:
    """RFC 5929 §4.1: hash the certificate with its signature hash, SHA-256 for MD5/SHA-1.

    Signatures without a separate hash (Ed25519, Ed448) or unknown to ``cryptography`` also get
    SHA-256, which is what Windows and pyspnego-based clients do. Raises ValueError on bad DER.
    """
    cert = x509.load_der_x509_certificate(der_cert)
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if algorithm is None or isinstance(algorithm, (hashes.MD5, hashes.SHA1)):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(der_cert)
    return digest.finalize()


def tls_server_end_point(der_cert: bytes) -> bytes:
    """The channel-binding application data for ``ConnectionAuth(channel_binding=...)``.

    ``b"tls-server-end-point:" + certificate_hash(der)`` (RFC 5929 §4; [MS-NLMP] 3.1.5.1.2 hashes
    the packed gss_channel_bindings_struct carrying it).
    """
    return b"tls-server-end-point:" + certificate_hash(der_cert)


class _NtlmUserFile:
    """The one NTLM_USER_FILE of this process; its content follows the acceptor being stepped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: str | None = None
        self._content: bytes | None = None

    @contextmanager
    def holding(self, content: bytes) -> Iterator[None]:
        """Serialise pyspnego acceptor work: the file holds ``content`` until the block ends."""
        with self._lock:
            path = self._ensure_path()
            if content != self._content:
                self._write(path, content)
                self._content = content
            # Set only when it differs: setenv while other threads read the environment is risky.
            if os.environ.get("NTLM_USER_FILE") != path:
                os.environ["NTLM_USER_FILE"] = path
            yield

    def _ensure_path(self) -> str:
        if self._path is None:
            directory = tempfile.mkdtemp(prefix="check_mapi-ntlm-")  # mode 0700
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            self._path = os.path.join(directory, "users")
        return self._path

    @staticmethod
    def _write(path: str, content: bytes) -> None:
        # Replace atomically so that no reader ever sees a half-written file.
        temp = path + ".new"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temp, path)


_USER_FILE = _NtlmUserFile()


def _file_safe(text: str) -> bool:
    """True when ``text`` fits one smbpasswd field (pyspnego splits on ':' and on lines)."""
    return bool(text) and ":" not in text and "\\" not in text and text.splitlines() == [text]


def _logon_name(account: Account) -> str:
    return account.username.rpartition("\\")[2]


@lru_cache(maxsize=64)
def _user_file_content(accounts: tuple[Account, ...], domain: str) -> bytes:
    """smbpasswd lines for every accepted NTLM user name, without and with ``domain``.

    pyspnego matches user and domain of the Authenticate message against each line, so other
    domains are refused: the NTLM equivalent of the Basic rule in :meth:`ConnectionAuth._find`.
    """
    lines: list[str] = []
    for account in accounts:
        if account.password is None:
            continue
        hashes_field = f"{lmowfv1(account.password).hex()}:{ntowfv1(account.password).hex()}"
        for name in dict.fromkeys((_logon_name(account), account.smtp)):
            if not _file_safe(name):
                continue
            prefixes = [""] + ([domain + "\\"] if _file_safe(domain) else [])
            lines += [f"{prefix}{name}:0:{hashes_field}:[U]:LCT-00000000" for prefix in prefixes]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _carries_channel_binding(token: bytes) -> bool:
    """True if the NTLM AUTHENTICATE_MESSAGE in ``token`` has a non-zero MsvAvChannelBindings.

    [MS-NLMP] 2.2.1.3, 2.2.2.7, 2.2.2.1. pyspnego's acceptor accepts NTLMv1/LM responses (no
    AV pairs) and all-zero bindings ("unknown") even with bindings set; Extended Protection in
    Require mode refuses both. A Negotiate token is searched for the embedded NTLM message.
    """
    message = token[token.find(_NTLM_AUTHENTICATE):] if _NTLM_AUTHENTICATE in token else b""
    if len(message) < 28:
        return False
    length, _, offset = struct.unpack_from("<HHI", message, 20)
    response = message[offset:offset + length]
    if length <= 24 or len(response) != length:
        return False  # NTLMv1 or LM: no room for AV pairs
    position = 16 + 28  # NTProofStr, then the NTLMv2_CLIENT_CHALLENGE header before AvPairs
    while position + 4 <= len(response):
        av_id, av_len = struct.unpack_from("<HH", response, position)
        value = response[position + 4:position + 4 + av_len]
        if av_id == _AV_EOL:
            break
        if av_id == _AV_CHANNEL_BINDINGS:
            return len(value) == 16 and value != bytes(16)
        position += 4 + av_len
    return False


def _is_initial(token: bytes) -> bool:
    """NTLM NEGOTIATE_MESSAGE or a GSS-API InitialContextToken (RFC 2743 3.1, tag 0x60)."""
    return token.startswith(_NTLM_NEGOTIATE) or token[:1] == b"\x60"


def _encode(text: str) -> bytes:
    # Header values may hold lone surrogates (e.g. from surrogateescape); compare them too.
    return text.encode("utf-8", "surrogatepass")


class ConnectionAuth:
    """Per TCP connection state: NTLM/Negotiate contexts are bound to the connection.

    One instance per connection, used by one thread at a time (requests on a connection are
    sequential); instances on different threads are independent.
    """

    def __init__(
        self, policy: AuthPolicy, accounts: Sequence[Account], channel_binding: bytes | None
    ) -> None:
        """``channel_binding``: :func:`tls_server_end_point` of the server certificate, or None.

        With ``policy.require_channel_binding`` and TLS, NTLM/Negotiate must carry matching
        bindings (Require); otherwise bindings are not checked (ExtendedProtection None). On plain
        HTTP (None) there is nothing to bind to, so the requirement does not apply.
        """
        self._policy = policy
        self._accounts = tuple(accounts)
        self._bindings = (
            GssChannelBindings(application_data=channel_binding)
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

    def _challenges(self, bearer_error: bool) -> tuple[tuple[str, str], ...]:
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
            headers.append(("x-ms-diagnostics", _BEARER_DIAGNOSTICS))
        return tuple(headers)

    def _refuse(
        self, method: str | None = None, checked: bool = False, bearer_error: bool = False
    ) -> AuthResult:
        return AuthResult(None, 401, self._challenges(bearer_error), method, checked)

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
        return self._refuse("bearer", checked=True, bearer_error=True)

    def _spnego(self, method: str, credentials: str) -> AuthResult:
        """RFC 4559 / [MS-NLMP]: one leg of an NTLM or Negotiate handshake on this connection."""
        try:
            token = base64.b64decode(credentials, validate=True)
        except ValueError:
            token = b""
        initial = _is_initial(token)
        if initial:
            self._restart(method)
        elif not token or self._context is None or self._scheme != method:
            self._context = None
            return self._refuse(method)
        elif self._bindings is not None and not _carries_channel_binding(token):
            self._context = None
            return self._refuse(method, checked=True)
        content = _user_file_content(self._accounts, self._policy.domain)
        with _USER_FILE.holding(content):
            try:
                if initial:
                    self._context = self._new_acceptor(method)
                output: bytes | None = self._context.step(token)
                complete = bool(self._context.complete)
                principal = self._context.client_principal if complete else None
            except _TOKEN_ERRORS:
                self._context = None
                return self._refuse(method, checked=not initial)
        return self._after_step(method, output, complete, principal)

    def _restart(self, method: str) -> None:
        # A new handshake supersedes whatever this connection had authenticated as.
        self._context, self._scheme = None, method
        self._identity = self._identity_method = None

    def _new_acceptor(self, method: str) -> Any:
        # Force pyspnego's own implementations: no gssapi/SSPI, Negotiate wraps NTLM only.
        options = (
            spnego.NegotiateOptions.use_ntlm if method == "ntlm"
            else spnego.NegotiateOptions.use_negotiate
        )
        return spnego.server(
            hostname="unspecified", service="HTTP", channel_bindings=self._bindings,
            protocol=method, options=options,
        )

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
            return AuthResult(None, 401, header, method, False)
        self._context = None
        account = self._find(principal or "")
        if account is None:
            return self._refuse(method, checked=True)
        self._identity, self._identity_method = account.smtp, method
        return AuthResult(account.smtp, 200, header, method, True)
