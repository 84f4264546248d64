"""Channel binding for Extended Protection: RFC 5929 ``tls-server-end-point``.

The binding is ``b"tls-server-end-point:" + H(certificate)``, where the certificate is the
one the client actually received on this connection (a TLS-inspecting proxy or offloader
presents another one, which is why Extended Protection refuses NTLM through them) and H is
the certificate's signature hash algorithm, except that MD5 and SHA-1 become SHA-256, and
so does a signature without a separate hash (Ed25519, Ed448) (RFC 5929 section 4.1).
"""

from __future__ import annotations

import hashlib
from typing import Any

PREFIX = b"tls-server-end-point:"
_WEAK = frozenset({"md5", "sha1"})


def certificate_hash(der: bytes) -> bytes:
    """H(certificate) by the RFC 5929 rule (``cryptography`` is imported only here)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    certificate = x509.load_der_x509_certificate(der)
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    name = algorithm.name if algorithm is not None else "sha256"
    if name in _WEAK:
        name = "sha256"
    return hashlib.new(name.replace("-", "_"), der).digest()


def application_data(der: bytes) -> bytes:
    return PREFIX + certificate_hash(der)


def peer_certificate(response: Any) -> bytes | None:
    """The DER certificate of the connection ``response`` came on (None: no TLS, or a test
    transport without a network stream)."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    der: bytes | None = ssl_object.getpeercert(True)  # positional: the C object has no kw
    return der
