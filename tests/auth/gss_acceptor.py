"""An HTTPS server that authenticates NTLM/Negotiate with gss-ntlmssp, with channel binding.

A test acceptor that is not pyspnego: the C NTLMSSP mechanism of Debian's ``gss-ntlmssp``
(OID 1.3.6.1.4.1.311.2.2.10) through ``python3-gssapi``. It is a SCRIPT for the system
``/usr/bin/python3`` (which has ``gssapi``; the project's venv does not) and uses only the
standard library besides ``gssapi``::

    NTLM_USER_FILE=users /usr/bin/python3 gss_acceptor.py --cert cert.pem --key key.pem \\
        [--schemes NTLM,Negotiate] [--channel-binding require|allow|none] [--watch-stdin]

``NTLM_USER_FILE`` (read by gss-ntlmssp itself) holds ``DOMAIN:user:password`` lines.

When it listens it prints its port (127.0.0.1, chosen by the kernel) and a newline on
stdout, then writes nothing else; SIGTERM (or, with ``--watch-stdin``, the end of stdin)
stops it.

HTTP/1.1 with keep-alive, one handler thread per TCP connection, and the authentication
belongs to the connection, as with IIS:

- a request without ``Authorization`` on an unauthenticated connection: 401 with one
  ``WWW-Authenticate`` header per offered scheme (``--schemes``, in that order);
- ``Authorization: <scheme> <base64>`` with an NTLM NEGOTIATE message (raw NTLMSSP, under
  ``NTLM`` or ``Negotiate``) or a GSS initial token (SPNEGO, under ``Negotiate``) starts a
  new security context (one "handshake"); the next token continues it; a challenge
  answers 401 with ``WWW-Authenticate: <scheme> <base64>``;
- when the context is complete the request gets 200 (a JSON body: user, whether the
  context is channel-bound, the mechanism) and the connection is authenticated: later
  requests on it without ``Authorization`` get 200 too;
- any GSS error (wrong password, mismatching channel bindings...), or in ``require`` mode
  a complete context WITHOUT ``GSS_C_CHANNEL_BOUND_FLAG`` (0x800) in ``actual_flags``,
  answers 401 with the plain offers again and counts as refused.

Channel binding (RFC 5929 ``tls-server-end-point``): the server hashes its OWN certificate
(the first one of ``--cert``) with the certificate's signature hash algorithm, SHA-256
when that is MD5 or SHA-1 (or when the algorithm names no hash, e.g. Ed25519), and gives
``b"tls-server-end-point:" + hash`` to every accepting context (modes ``require`` and
``allow``; ``none`` gives no bindings). gss-ntlmssp refuses an initiator whose bindings
differ, but accepts one that sends none: ``require`` is what makes missing bindings fail,
like ``-ExtendedProtectionTokenChecking Require`` on Exchange.

``GET /_stats`` (no authentication, not counted) answers the counters as JSON:
``tcp_connections`` (every accepted TCP connection, ``/_stats`` ones included),
``connections`` (connections that carried a request other than ``/_stats``), ``requests``,
``handshakes`` (security contexts started), ``accepted``, ``refused``, ``last_error``,
``last_user``, ``channel_bound``, ``last_mech`` (dotted OID) and ``last_scheme`` (of the last
accepted context), ``handler_errors`` and ``last_handler_error`` (exceptions that ended a
connection, TLS handshake failures included) and ``cbt_hash`` (the hash name used for the
bindings).
"""
# This file runs under the system python3 with python3-gssapi; mypy sees gssapi as missing.

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import gssapi  # type: ignore[import-not-found, unused-ignore]

NTLMSSP_OID = "1.3.6.1.4.1.311.2.2.10"
SPNEGO_OID = "1.3.6.1.5.5.2"
CHANNEL_BOUND_FLAG = 0x800  # GSS_C_CHANNEL_BOUND_FLAG
MAX_BODY = 1 << 20
SOCKET_TIMEOUT = 30.0

# Signature algorithm OID -> hash name (hashlib), RFC 5929 section 4.1 applied: MD5 and
# SHA-1 become SHA-256. RSASSA-PSS names its hash in its parameters (see _pss_hash).
_SIGNATURE_HASHES = {
    "1.2.840.113549.1.1.4": "sha256",  # md5WithRSAEncryption
    "1.2.840.113549.1.1.5": "sha256",  # sha1WithRSAEncryption
    "1.2.840.113549.1.1.14": "sha224",  # sha224WithRSAEncryption
    "1.2.840.113549.1.1.11": "sha256",  # sha256WithRSAEncryption
    "1.2.840.113549.1.1.12": "sha384",  # sha384WithRSAEncryption
    "1.2.840.113549.1.1.13": "sha512",  # sha512WithRSAEncryption
    "1.2.840.10045.4.1": "sha256",  # ecdsa-with-SHA1
    "1.2.840.10045.4.3.1": "sha224",  # ecdsa-with-SHA224
    "1.2.840.10045.4.3.2": "sha256",  # ecdsa-with-SHA256
    "1.2.840.10045.4.3.3": "sha384",  # ecdsa-with-SHA384
    "1.2.840.10045.4.3.4": "sha512",  # ecdsa-with-SHA512
    "1.2.840.10040.4.3": "sha256",  # dsa-with-sha1
    "2.16.840.1.101.3.4.3.1": "sha224",  # dsa-with-sha224
    "2.16.840.1.101.3.4.3.2": "sha256",  # dsa-with-sha256
    "1.3.101.112": "sha256",  # Ed25519: no separate hash
    "1.3.101.113": "sha256",  # Ed448: no separate hash
}
_RSASSA_PSS = "1.2.840.113549.1.1.10"
_DIGESTS = {
    "1.3.14.3.2.26": "sha256",  # SHA-1
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}


# --- RFC 5929 tls-server-end-point, with a minimal DER reader ---------------------------

def _der_item(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER item at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, pos, end


def _oid(content: bytes) -> str:
    first = content[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(str(arc) for arc in arcs)


def _pss_hash(der: bytes, start: int, end: int) -> str:
    """The hash of RSASSA-PSS-params (SEQUENCE {[0] hashAlgorithm DEFAULT sha1, ...})."""
    if start == end:
        return "sha256"  # absent parameters: the SHA-1 default
    tag, pos, params_end = _der_item(der, start)
    if tag != 0x30:
        raise ValueError("RSASSA-PSS parameters are not a SEQUENCE")
    if pos < params_end and der[pos] == 0xA0:  # [0] EXPLICIT AlgorithmIdentifier
        _, inner, _ = _der_item(der, pos)
        _, alg, _ = _der_item(der, inner)
        tag, oid_start, oid_end = _der_item(der, alg)
        if tag != 0x06:
            raise ValueError("RSASSA-PSS hash algorithm is not an OID")
        oid = _oid(der[oid_start:oid_end])
        if oid not in _DIGESTS:
            raise ValueError(f"unknown RSASSA-PSS hash {oid}")
        return _DIGESTS[oid]
    return "sha256"


def signature_hash_name(der: bytes) -> str:
    """The hashlib name RFC 5929 prescribes for the certificate ``der``."""
    tag, cert_start, _ = _der_item(der, 0)  # Certificate ::= SEQUENCE {
    if tag != 0x30:
        raise ValueError("not a DER certificate")
    tag, _, tbs_end = _der_item(der, cert_start)  # tbsCertificate,
    if tag != 0x30:
        raise ValueError("no tbsCertificate")
    tag, alg_start, alg_end = _der_item(der, tbs_end)  # signatureAlgorithm, ...}
    if tag != 0x30:
        raise ValueError("no signatureAlgorithm")
    tag, oid_start, oid_end = _der_item(der, alg_start)
    if tag != 0x06:
        raise ValueError("signatureAlgorithm has no OID")
    oid = _oid(der[oid_start:oid_end])
    if oid == _RSASSA_PSS:
        return _pss_hash(der, oid_end, alg_end)
    if oid not in _SIGNATURE_HASHES:
        raise ValueError(f"unknown signature algorithm {oid}")
    return _SIGNATURE_HASHES[oid]


def first_certificate_der(pem_path: str) -> bytes:
    with open(pem_path, encoding="ascii") as handle:
        text = handle.read()
    end_marker = "-----END CERTIFICATE-----"
    end = text.index(end_marker) + len(end_marker)
    return ssl.PEM_cert_to_DER_cert(text[text.index("-----BEGIN CERTIFICATE-----"):end])


# --- the server ------------------------------------------------------------------------

class Stats:
    def __init__(self, cbt_hash: str) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {
            "tcp_connections": 0, "connections": 0, "requests": 0, "handshakes": 0,
            "accepted": 0, "refused": 0, "last_error": None, "last_user": None,
            "channel_bound": None, "last_mech": None, "last_scheme": None,
            "handler_errors": 0, "last_handler_error": None, "cbt_hash": cbt_hash,
        }

    def bump(self, name: str, **also: Any) -> None:
        with self._lock:
            self._values[name] += 1
            self._values.update(also)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext, schemes: list[str], mode: str,
                 bindings: Any, stats: Stats) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.tls, self.schemes, self.mode = tls, schemes, mode
        self.bindings, self.stats = bindings, stats
        self.ntlm_creds = gssapi.Credentials(usage="accept",
                                             mechs=[gssapi.OID.from_int_seq(NTLMSSP_OID)])

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS in the connection's own thread; the TLS socket is closed whatever happens
        (``wrap_socket`` detaches ``request``: closing that one would close nothing)."""
        self.stats.bump("tcp_connections")
        raw: socket.socket = request
        raw.settimeout(SOCKET_TIMEOUT)
        with self.tls.wrap_socket(raw, server_side=True) as tls_socket:
            Handler(tls_socket, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Not on stderr: counted, and the last one shown by ``/_stats``."""
        error = sys.exc_info()[1]
        self.stats.bump("handler_errors", last_handler_error=repr(error))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.context: Any = None
        self.scheme = ""
        self.user: str | None = None
        self.mech: str | None = None
        self.bound = False
        self.counted = False

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: stdout carries the port only, stderr nothing."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    # -- answers

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _challenge(self, why: str) -> None:
        self._send(401, why.encode() + b"\n",
                   [("WWW-Authenticate", scheme) for scheme in self.server.schemes])

    def _refuse(self, why: str) -> None:
        self.context = None
        self.server.stats.bump("refused", last_error=why)
        self._challenge(why)

    # -- the handshake

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._send(413, b"too large\n", [])
            return
        if length:
            self.rfile.read(length)
        if self.path.split("?", 1)[0] == "/_stats":
            self._send(200, json.dumps(self.server.stats.snapshot()).encode(), [])
            return
        if not self.counted:
            self.counted = True
            self.server.stats.bump("connections")
        self.server.stats.bump("requests")
        header = self.headers.get("Authorization")
        if header is None:
            if self.user is not None:
                self._ok(None)
            else:
                self._challenge("authentication required")
            return
        scheme, _, encoded = header.strip().partition(" ")
        offered = {s.lower(): s for s in self.server.schemes}
        if scheme.lower() not in offered:
            self._refuse(f"scheme {scheme!r} not offered")
            return
        try:
            token = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            self._refuse("token is not base64")
            return
        if not token:
            self._refuse("empty token")
            return
        self._step(offered[scheme.lower()], token)

    def _step(self, scheme: str, token: bytes) -> None:
        ntlm_negotiate = token.startswith(b"NTLMSSP\0\x01\0\0\0")
        gss_initial = token[:1] == b"\x60"
        if ntlm_negotiate or gss_initial:
            if gss_initial and scheme != "Negotiate":
                self._refuse("a GSS/SPNEGO token under NTLM")
                return
            self.user, self.scheme = None, scheme
            self.server.stats.bump("handshakes")
            creds = self.server.ntlm_creds if ntlm_negotiate else None
            self.context = gssapi.SecurityContext(usage="accept", creds=creds,
                                                  channel_bindings=self.server.bindings)
        elif self.context is None or scheme != self.scheme:
            self._refuse("no handshake in progress on this connection")
            return
        try:
            out = self.context.step(token)
            # python-gssapi keeps a failure that came with an output token (SPNEGO's
            # reject) and raises it at the next use of the context: this one.
            complete = self.context.complete
        except gssapi.exceptions.GSSError as error:
            self._refuse(f"GSS error: {error}")
            return
        if not complete:
            self._send(401, b"continue\n",
                       [("WWW-Authenticate", f"{scheme} {base64.b64encode(out or b'').decode()}")])
            return
        bound = bool(int(self.context.actual_flags) & CHANNEL_BOUND_FLAG)
        if self.server.mode == "require" and not bound:
            self._refuse("context complete but not channel-bound (channel binding required)")
            return
        # gss-ntlmssp's display name ends with the C string's NUL: drop it
        self.user = str(self.context.initiator_name).rstrip("\0")
        self.mech = str(self.context.mech.dotted_form)
        self.bound = bound
        self.server.stats.bump("accepted", last_user=self.user, channel_bound=bound,
                               last_mech=self.mech, last_scheme=scheme, last_error=None)
        self.context = None
        self._ok(out and f"{scheme} {base64.b64encode(out).decode()}")

    def _ok(self, final: str | None) -> None:
        body = {"user": self.user, "channel_bound": self.bound, "mech": self.mech,
                "path": self.path}
        self._send(200, json.dumps(body).encode(),
                   [("WWW-Authenticate", final)] if final else [])


def _stop_on_stdin_eof(stop: Callable[[], None]) -> None:
    def watch() -> None:
        while os.read(0, 4096):  # the raw fd: no buffered reader's lock held at exit
            pass
        stop()
    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cert", required=True, help="PEM: the certificate (chain)")
    parser.add_argument("--key", required=True, help="PEM: its private key")
    parser.add_argument("--schemes", default="NTLM",
                        help="offered WWW-Authenticate schemes, comma-separated: NTLM,Negotiate")
    parser.add_argument("--channel-binding", choices=("require", "allow", "none"),
                        default="require")
    parser.add_argument("--watch-stdin", action="store_true",
                        help="exit when stdin reaches its end (the parent went away)")
    args = parser.parse_args()
    if not os.environ.get("NTLM_USER_FILE"):
        parser.error("NTLM_USER_FILE is not set")
    schemes = [s.strip() for s in args.schemes.split(",") if s.strip()]
    if not schemes or set(schemes) - {"NTLM", "Negotiate"}:
        parser.error("--schemes: NTLM and/or Negotiate")

    der = first_certificate_der(args.cert)
    hash_name = signature_hash_name(der)
    bindings = None
    if args.channel_binding != "none":
        bindings = gssapi.raw.ChannelBindings(
            application_data=b"tls-server-end-point:" + hashlib.new(hash_name, der).digest())
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(args.cert, args.key)

    server = Server(tls, schemes, args.channel_binding, bindings, Stats(hash_name))

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    if args.watch_stdin:
        _stop_on_stdin_eof(lambda: os.kill(os.getpid(), signal.SIGTERM))
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except SystemExit:  # SIGTERM
        server.server_close()
        sys.stdout.flush()
        # Handler threads may sit in a read on their connection: leave without finalizing
        # the interpreter, whose teardown could otherwise report them on stderr.
        os._exit(0)


if __name__ == "__main__":
    main()
