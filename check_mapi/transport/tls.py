"""TLS for the transport: the client's SSL context and why a server certificate was refused.

``client_context()`` builds what httpx verifies with (certifi's CAs, the --ca-file, or no
verification) and loads the client certificate for mutual TLS; a file that does not load
is a ConfigError (UNKNOWN) whose one-line reason never contains the key's passphrase.

Every context it builds wraps sockets in ``_ChainKeepingSocket``: when verification
fails, the chain the server sent is kept on the ``ssl.SSLCertVerificationError``, so that
``certificate_problem()`` can say which certificate was refused and why (expired, for
other names, untrusted issuer) instead of OpenSSL's words. ``cryptography`` reads that
chain, imported only then.
"""

from __future__ import annotations

import _ssl
import ssl
import threading
from datetime import datetime
from typing import Any

from ..errors import ConfigError
from ..settings import ConnectionSettings, Secret
from .facts import read_certificate

_CHAIN = "check_mapi_peer_chain"  # the attribute of the error that holds the DER chain
MAX_PEM = 1 << 20  # bytes of a certificate or key file read to check what it holds
KEY_PASSWORD_HINT = "--client-key-password-file or $CHECK_MAPI_KEY_PASSWORD"

# OpenSSL's X509_V_ERR_* codes (``verify_code``) that have a message of their own
NOT_YET_VALID, EXPIRED = 9, 10
UNKNOWN_ISSUER = (2, 20, 21, 27)  # issuer not found / not trusted, unable to verify leaf
SELF_SIGNED, SELF_SIGNED_IN_CHAIN = 18, 19
NAME_MISMATCH = (62, 63, 64)  # hostname, e-mail, IP address


def client_context(settings: ConnectionSettings, tls_expected: bool = True) -> ssl.SSLContext:
    """The context for ``settings``: trust (--insecure, --ca-file, certifi) and the
    client certificate; ConfigError for a file that cannot be used.

    ``tls_expected`` False (every URL of the run is plain http): certifi's bundle (~30 ms
    to load) is not loaded; the context still verifies, against no CA at all, so that a
    TLS connection nobody expected could never go unverified.
    """
    if settings.insecure or not tls_expected:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies; no CA loaded
    if settings.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif settings.ca_file and tls_expected:
        try:
            context = ssl.create_default_context(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(f"--ca-file {settings.ca_file}: cannot load it "
                              f"({getattr(err, 'strerror', None) or err})") from err
    elif tls_expected:  # what httpx's verify=True would be, certifi loaded when first used
        context = _DeferredTrust(ssl.PROTOCOL_TLS_CLIENT)
    context.sslsocket_class = _ChainKeepingSocket
    if settings.client_cert:
        load_client_certificate(context, settings.client_cert, settings.client_key,
                                settings.client_key_secret)
    return context


class _DeferredTrust(ssl.SSLContext):
    """httpx's default context (certifi's CAs, verified, host names checked), with the CA
    bundle loaded at the first TLS connection instead of at start: loading it costs
    ~30 ms, which a run whose Autodiscover and endpoint turn out to be plain http never
    needs. It verifies from the start: before the bundle is loaded nothing is trusted."""

    _lock = threading.Lock()

    def _trust(self) -> None:
        if not getattr(self, "_loaded", False):
            with self._lock:
                if not getattr(self, "_loaded", False):
                    import certifi

                    self.load_verify_locations(certifi.where())
                    self._loaded = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._trust()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._trust()
        return super().wrap_bio(*args, **kwargs)


# -- mutual TLS ------------------------------------------------------------------------


class _PassphraseNeededError(Exception):
    """The key is encrypted and no passphrase was given (never prompt on a terminal)."""


def load_client_certificate(context: ssl.SSLContext, cert: str, key: str | None,
                            secret: Secret | None) -> None:
    """``context.load_cert_chain`` with every failure a one-line ConfigError."""
    key_option, key_path = ("--client-key", key) if key else ("--client-cert", cert)
    cert_text = _read(cert, "--client-cert")
    key_text = cert_text if key_path == cert else _read(key_path, key_option)
    if b"-----BEGIN CERTIFICATE-----" not in cert_text:
        raise ConfigError(f"--client-cert {cert}: no PEM certificate in it")
    if b"PRIVATE KEY-----" not in key_text:
        raise ConfigError(f"{key_option} {key_path}: no PEM private key in it"
                          + ("" if key else "; give the key with --client-key"))
    encrypted = b"ENCRYPTED" in key_text

    def passphrase() -> str:
        if secret is None:
            raise _PassphraseNeededError
        return secret.value

    try:
        context.load_cert_chain(cert, key, password=passphrase)
    except _PassphraseNeededError:
        raise ConfigError(f"{key_option} {key_path} is encrypted: give its passphrase with "
                          f"{KEY_PASSWORD_HINT}") from None
    except ValueError:  # Python refuses a passphrase longer than OpenSSL's buffer
        raise ConfigError(f"the passphrase of {key_option} {key_path} is too long "
                          f"(from {_origin(secret)})") from None
    except ssl.SSLError as err:
        if err.reason == "KEY_VALUES_MISMATCH":
            reason = f"{key_option} {key_path} is not the key of --client-cert {cert}"
        elif encrypted and secret is not None:
            reason = (f"{key_option} {key_path}: wrong passphrase (from {_origin(secret)}), "
                      "or the key is damaged")
        else:
            reason = (f"--client-cert {cert}: cannot load the certificate and its key "
                      f"({_openssl_words(err)})")
        raise ConfigError(reason) from None
    except OSError as err:  # the file went away since it was read
        raise ConfigError(f"--client-cert {cert}: cannot load it ({err.strerror or err})"
                          ) from None


def _read(path: str, option: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_PEM)
    except OSError as err:
        raise ConfigError(f"{option} {path}: cannot read it ({err.strerror or err})"
                          ) from None


def _origin(secret: Secret | None) -> str:
    return secret.origin if secret is not None else "nowhere"


def _openssl_words(err: ssl.SSLError) -> str:
    text = str(err.reason or err).replace("_", " ").lower()
    return "PEM data not readable" if text in ("", "pem lib") else text


# -- why a certificate was refused -----------------------------------------------------


class _ChainKeepingSocket(ssl.SSLSocket):
    """An SSLSocket that keeps the server's chain on a failed verification's error."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except ssl.SSLCertVerificationError as err:
            setattr(err, _CHAIN, unverified_chain(self))
            raise


def unverified_chain(sock: ssl.SSLSocket) -> tuple[bytes, ...]:
    """The DER certificates the server sent, leaf first; () when they cannot be had."""
    # ssl's own SSLObject has it since Python 3.10 (SSLSocket.get_unverified_chain() only
    # since 3.13): _ssl.Certificate objects, or DER bytes
    try:
        ssl_object: Any = getattr(sock, "_sslobj", None)
        certificates = ssl_object.get_unverified_chain()
        return tuple(c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER)
                     for c in certificates or ())
    except (AttributeError, TypeError, ValueError, ssl.SSLError):
        return ()


def verification_error(err: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error in ``err``'s cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def certificate_problem(err: BaseException, host: str) -> str | None:
    """``TLS certificate of <host> ...``: why it was refused; None when ``err`` is no
    certificate verification failure."""
    found = verification_error(err)
    if found is None:
        return None
    chain = tuple(getattr(found, _CHAIN, ()))
    return f"TLS certificate of {host} {_refusal(found, chain)}"


def _refusal(err: ssl.SSLCertVerificationError, chain: tuple[bytes, ...]) -> str:
    code, hint = err.verify_code, "--ca-file to trust it"
    leaf = read_certificate(chain[0]) if chain else None
    if code in (EXPIRED, NOT_YET_VALID):
        if code == EXPIRED:
            return "expired" + (f" on {_when(leaf.not_after)}" if leaf else "")
        return "is not valid yet" + (f" (from {_when(leaf.not_before)})" if leaf else "")
    if code in NAME_MISMATCH:
        if leaf is None:
            return "is for other names"
        names = f"SAN: {', '.join(leaf.names)}" if leaf.names else (
            f"no SAN, subject {leaf.subject or '(empty)'}")
        return f"is for other names ({names})"
    if code in (SELF_SIGNED, SELF_SIGNED_IN_CHAIN, *UNKNOWN_ISSUER):
        top = read_certificate(chain[-1]) if chain else None  # the certificate nobody vouched for
        if code == SELF_SIGNED:
            why = "self-signed" + (f" {top.subject}" if top and top.subject else "")
        elif code == SELF_SIGNED_IN_CHAIN:
            why = (f"its root CA{f' {top.subject}' if top and top.subject else ''} is not "
                   "a trusted one")
        else:
            why = f"issuer{f' {top.issuer}' if top and top.issuer else ''} is unknown"
        return f"is not trusted ({why}; {hint})"
    return f"was refused: {err.verify_message or err.reason or 'not verified'}"


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
