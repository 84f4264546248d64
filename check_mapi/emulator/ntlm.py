"""The emulator's NTLM/Negotiate acceptor: pyspnego, its smbpasswd user file, channel bindings.

NTLM and Negotiate ([MS-NLMP], RFC 4559) authenticate the TCP connection; Extended Protection
binds them to the TLS certificate (RFC 5929 tls-server-end-point, [MS-NLMP] 3.1.5.1.2). The
policy around them (which methods, challenges, Basic, Bearer) is :mod:`.auth`.

What pyspnego 0.12.4 offers an acceptor, and what this module therefore does (the one place
that uses pyspnego's private parts; the block "pyspnego private API" below):

- Credentials: no argument. The only supported input is the file named by the environment
  variable ``NTLM_USER_FILE``, read on every AUTHENTICATE message (``spnego._ntlm``
  ``_NTLMCredential``). :class:`_NtlmUserFile` points that variable once at a private 0600
  file and swaps the file's content under a lock for each acceptor step (:func:`user_file`),
  so that emulators with different accounts can share a process. The file holds password
  hashes (smbpasswd lines): the other supported format, ``DOMAIN:USER:PASSWORD``, cannot hold
  a password with ':'. The hashes come from the private ``spnego._ntlm_raw.crypto`` (MD4 is
  not in hashlib on OpenSSL 3, LM needs DES).
- The CHALLENGE message: pyspnego names the machine (``socket.gethostname()``) and the
  domain "WORKSTATION", with no setting. :class:`_ExchangeNtlm` (a subclass of the private
  ``NTLMProxy``) rewrites it with Exchange's names (:class:`ChallengeNames`) and hands it to
  pyspnego's Negotiate wrapper through its private ``_negotiate_contexts`` argument.
- NTLMv1: refused only by ``LM_COMPAT_LEVEL=5``, another process-wide variable; the emulator
  looks at the AUTHENTICATE message itself instead (:func:`is_ntlmv1`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import spnego
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

# -- pyspnego private API (why: the module docstring), checked with pyspnego 0.12.4; a release
# that changes it fails tests/emulator/test_ntlm_exchange.py (the challenge is decoded there).
from spnego._context import GSSMech
from spnego._ntlm import NTLMProxy
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
from spnego._ntlm_raw.messages import AvId, Challenge, NegotiateFlags, TargetInfo

# -- public API ---------------------------------------------------------------------------------
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

# pyspnego 0.12.4 parsers let these escape on malformed tokens (found by fuzzing the acceptor);
# ValueError covers binascii.Error and UnicodeDecodeError.
TOKEN_ERRORS = (SpnegoError, struct.error, ValueError, KeyError, IndexError, OverflowError,
                StopIteration)
_NTLM_AUTHENTICATE = b"NTLMSSP\x00\x03\x00\x00\x00"
_NTLM_NEGOTIATE = b"NTLMSSP\x00\x01\x00\x00\x00"
_AV_EOL, _AV_CHANNEL_BINDINGS = 0x0000, 0x000A


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


def channel_bindings(application_data: bytes) -> GssChannelBindings:
    """The gss_channel_bindings_struct an acceptor in Require mode checks (RFC 5929 §4)."""
    return GssChannelBindings(application_data=application_data)


def _nt_response(token: bytes) -> bytes | None:
    """NtChallengeResponse of the NTLM AUTHENTICATE_MESSAGE in ``token`` ([MS-NLMP] 2.2.1.3).

    None when there is no such message; a Negotiate token is searched for the embedded one.
    """
    message = token[token.find(_NTLM_AUTHENTICATE):] if _NTLM_AUTHENTICATE in token else b""
    if len(message) < 28:
        return None
    length, _, offset = struct.unpack_from("<HHI", message, 20)
    response = message[offset:offset + length]
    return response if len(response) == length else None


def is_ntlmv1(token: bytes) -> bool:
    """True if ``token`` is an AUTHENTICATE_MESSAGE answered with NTLMv1 or LM only.

    [MS-NLMP] 3.3.1: an NTLMv1 NtChallengeResponse is 24 bytes (0 when only LM is sent); an
    NTLMv2 one is NTProofStr (16 bytes) plus the NTLMv2_CLIENT_CHALLENGE, always longer.
    """
    response = _nt_response(token)
    return response is not None and len(response) <= 24


def carries_channel_binding(token: bytes) -> bool:
    """True if the NTLM AUTHENTICATE_MESSAGE in ``token`` has a non-zero MsvAvChannelBindings.

    [MS-NLMP] 2.2.1.3, 2.2.2.7, 2.2.2.1. pyspnego's acceptor accepts NTLMv1/LM responses (no
    AV pairs) and all-zero bindings ("unknown") even with bindings set; Extended Protection in
    Require mode refuses both. A Negotiate token is searched for the embedded NTLM message.
    """
    response = _nt_response(token)
    if response is None or len(response) <= 24:
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


def is_initial(token: bytes) -> bool:
    """NTLM NEGOTIATE_MESSAGE or a GSS-API InitialContextToken (RFC 2743 3.1, tag 0x60)."""
    return token.startswith(_NTLM_NEGOTIATE) or token[:1] == b"\x60"


@dataclass(frozen=True, slots=True)
class ChallengeNames:
    """Who the CHALLENGE_MESSAGE says the server is ([MS-NLMP] 2.2.1.2, 2.2.2.1).

    Like a domain-joined Exchange server: TargetName is the NetBIOS domain (with
    NTLMSSP_TARGET_TYPE_DOMAIN), and the AV pairs name the domain and the computer.
    """

    nb_domain: str  # MsvAvNbDomainName and TargetName, e.g. CONTOSO
    nb_computer: str  # MsvAvNbComputerName, e.g. EXCAS01
    dns_domain: str  # MsvAvDnsDomainName and MsvAvDnsTreeName, e.g. contoso.com
    dns_computer: str  # MsvAvDnsComputerName, e.g. EXCAS01.contoso.com

    @classmethod
    def of(cls, domain: str, server_name: str, dns_domain: str) -> ChallengeNames:
        """``server_name``: a host name (EXCAS01) or a FQDN (its first label is the NetBIOS
        name); NetBIOS names are upper case and at most 15 characters."""
        host, dot, _ = server_name.partition(".")
        fqdn = server_name if dot else f"{server_name}.{dns_domain}"
        return cls(domain.upper()[:15], host.upper()[:15], dns_domain, fqdn)


class _ExchangeNtlm(NTLMProxy):
    """pyspnego's NTLM acceptor with the CHALLENGE_MESSAGE naming :class:`ChallengeNames`.

    Private hooks (see the module docstring): ``_step_accept_negotiate`` builds the challenge
    and ``_temp_challenge`` keeps it for the MIC check of the AUTHENTICATE_MESSAGE, which then
    covers the rewritten bytes the client saw.
    """

    def __init__(self, names: ChallengeNames, bindings: GssChannelBindings | None) -> None:
        super().__init__(hostname="unspecified", service="HTTP", channel_bindings=bindings,
                         usage="accept", protocol="ntlm")
        self._names = names

    def _step_accept_negotiate(self, token: bytes) -> bytes:
        original: Challenge = Challenge.unpack(super()._step_accept_negotiate(token))
        names, original_info = self._names, original.target_info or TargetInfo()
        info = TargetInfo()  # in the order Windows sends them
        info[AvId.nb_domain_name] = names.nb_domain
        info[AvId.nb_computer_name] = names.nb_computer
        info[AvId.dns_domain_name] = names.dns_domain
        info[AvId.dns_computer_name] = names.dns_computer
        info[AvId.dns_tree_name] = names.dns_domain
        info[AvId.timestamp] = original_info[AvId.timestamp]  # pyspnego's FileTime.now()
        flags = original.flags & ~NegotiateFlags.target_type_server
        challenge = Challenge(flags | NegotiateFlags.target_type_domain,
                              original.server_challenge, target_name=names.nb_domain,
                              target_info=info, version=original.version)
        self._temp_challenge = challenge
        return challenge.pack()


def new_acceptor(method: str, bindings: GssChannelBindings | None, names: ChallengeNames) -> Any:
    """A pyspnego acceptor for ``method`` ("ntlm" or "negotiate"); step it inside :func:`user_file`.

    pyspnego's own implementations only: no gssapi/SSPI, Negotiate wraps NTLM only.
    """
    ntlm = _ExchangeNtlm(names, bindings)
    if method == "ntlm":
        return ntlm
    ntlm._is_wrapped = True  # what pyspnego's Negotiate sets on the contexts it makes itself
    return spnego.server(
        hostname="unspecified", service="HTTP", channel_bindings=bindings,
        protocol="negotiate", options=spnego.NegotiateOptions.use_negotiate,
        _negotiate_contexts={GSSMech.ntlm: ntlm},
    )


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


@lru_cache(maxsize=64)
def _user_file_content(users: tuple[tuple[str, str], ...], domain: str) -> bytes:
    """smbpasswd lines for every (user name, password) of ``users``, without and with ``domain``.

    pyspnego matches user and domain of the Authenticate message against each line, so other
    domains are refused: the NTLM equivalent of the Basic rule of ``ConnectionAuth._find``. A
    name that does not fit the file is skipped.
    """
    lines: list[str] = []
    prefixes = [""] + ([domain + "\\"] if _file_safe(domain) else [])
    for name, password in users:
        if not _file_safe(name):
            continue
        hashes_field = f"{lmowfv1(password).hex()}:{ntowfv1(password).hex()}"
        lines += [f"{prefix}{name}:0:{hashes_field}:[U]:LCT-00000000" for prefix in prefixes]
    return "".join(line + "\n" for line in lines).encode("utf-8")


@contextmanager
def user_file(users: tuple[tuple[str, str], ...], domain: str) -> Iterator[None]:
    """Step acceptors in this block: NTLM_USER_FILE accepts ``users`` until it ends.

    ``users`` are (user name, password) pairs; blocks of all threads are serialised.
    """
    with _USER_FILE.holding(_user_file_content(users, domain)):
        yield
