"""The emulator's NTLM/Negotiate acceptor: pyspnego, its smbpasswd user file, channel bindings.

NTLM and Negotiate ([MS-NLMP], RFC 4559) authenticate the TCP connection; Extended Protection
binds them to the TLS certificate (RFC 5929 tls-server-end-point, [MS-NLMP] 3.1.5.1.2). The
policy around them (which methods, challenges, Basic, Bearer) is :mod:`.auth`.

Process-global state: pyspnego's NTLM acceptor has no credential argument; it reads the file named
by the environment variable ``NTLM_USER_FILE`` on every Authenticate message. :class:`_NtlmUserFile`
points that variable once at a private 0600 file and swaps the file's content under a lock for each
acceptor step (:func:`user_file`), so emulators with different accounts can share a process.
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


def carries_channel_binding(token: bytes) -> bool:
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


def is_initial(token: bytes) -> bool:
    """NTLM NEGOTIATE_MESSAGE or a GSS-API InitialContextToken (RFC 2743 3.1, tag 0x60)."""
    return token.startswith(_NTLM_NEGOTIATE) or token[:1] == b"\x60"


def new_acceptor(method: str, bindings: GssChannelBindings | None) -> Any:
    """A pyspnego acceptor for ``method`` ("ntlm" or "negotiate"); step it inside :func:`user_file`.

    Forces pyspnego's own implementations: no gssapi/SSPI, Negotiate wraps NTLM only.
    """
    options = (
        spnego.NegotiateOptions.use_ntlm if method == "ntlm"
        else spnego.NegotiateOptions.use_negotiate
    )
    return spnego.server(
        hostname="unspecified", service="HTTP", channel_bindings=bindings,
        protocol=method, options=options,
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
