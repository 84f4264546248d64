"""What one connection was, as the client saw it: addresses, TLS version and cipher, and the
peer certificate (DER) with its expiry, for channel binding ([MS-NLMP] and RFC 5929
``tls-server-end-point`` hash the certificate the client actually received) and for a
certificate metric.

Pure: the standard library only, so that results carrying it stay plain data.
"""

from __future__ import annotations

import ssl
from datetime import datetime, timezone
from typing import Any

from ..values import Value


class ConnectionFacts(Value):
    """One connection as the client saw it (None where not applicable, e.g. plain http)."""

    local: str | None
    remote: str | None
    tls_version: str | None
    cipher: str | None
    peer_certificate: bytes | None  # DER, the leaf certificate the server presented
    not_after: float | None  # the certificate's expiry (epoch seconds), when verified


def connection_facts(stream: Any) -> ConnectionFacts | None:
    """The facts of an httpcore network stream (``response.extensions["network_stream"]``)."""
    if stream is None:
        return None
    try:
        return _facts(stream)
    except OSError:  # the connection is already gone
        return None


def _facts(stream: Any) -> ConnectionFacts:
    ssl_object = stream.get_extra_info("ssl_object")
    certificate, not_after, version, cipher = None, None, None, None
    if ssl_object is not None:
        certificate = ssl_object.getpeercert(True)  # the C object: no keywords
        verified = ssl_object.getpeercert()  # {} when the certificate was not verified
        if verified and verified.get("notAfter"):
            not_after = float(ssl.cert_time_to_seconds(verified["notAfter"]))
        version = ssl_object.version()
        cipher = (ssl_object.cipher() or (None,))[0]
    return ConnectionFacts(_address(stream.get_extra_info("client_addr")),
                           _address(stream.get_extra_info("server_addr")), version, cipher,
                           certificate, not_after)


def _address(value: object) -> str | None:
    if isinstance(value, tuple) and len(value) >= 2:
        host = str(value[0])
        return f"[{host}]:{value[1]}" if ":" in host else f"{host}:{value[1]}"
    return None


class CertificateInfo(Value):
    """What a DER certificate says about itself (for the trace and for refusal reasons)."""

    subject: str
    issuer: str
    names: tuple[str, ...]  # DNS names and IP addresses of the subjectAltName, in order
    not_before: datetime
    not_after: datetime


def read_certificate(der: bytes) -> CertificateInfo | None:
    """Subject, issuer, names and validity (None: unreadable); ``cryptography`` is imported
    only here, when a certificate has to be shown or explained."""
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - installed with msal
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = tuple(str(n.value) for n in san
                          if isinstance(n, x509.DNSName | x509.IPAddress))
        except x509.ExtensionNotFound:
            names = ()
        return CertificateInfo(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                               names, _utc(cert, "not_valid_before"),
                               _utc(cert, "not_valid_after"))
    except ValueError:
        return None


def _utc(cert: object, name: str) -> datetime:
    aware = getattr(cert, f"{name}_utc", None)  # cryptography >= 42
    if isinstance(aware, datetime):
        return aware
    naive: datetime = getattr(cert, name)
    return naive.replace(tzinfo=timezone.utc)
