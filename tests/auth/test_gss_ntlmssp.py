"""NTLM/Negotiate with channel binding against gss-ntlmssp, an acceptor that is not pyspnego.

``gss_acceptor.py`` (run by the system python3, which has python3-gssapi) serves HTTPS on
loopback and authenticates with Debian's gss-ntlmssp; in ``require`` mode it answers 200
only to a complete context that is channel-bound (RFC 5929 tls-server-end-point, computed
by the server from its own certificate). Its ``/_stats`` counters show how many TCP
connections and handshakes a logon took.

Two clients: the plugin's own flow (``check_mapi.auth.flow_for`` over ``Transport``), and a
minimal pyspnego client written here over ``http.client`` on one connection, which checks
the harness itself (right bindings accepted; none, or a wrong hash, refused) and is the only
way to send NO bindings, since the plugin's flow always sends them.

Certificates: RSA signed with SHA-256 (trustme), and ECDSA P-384 signed with SHA-384 (made
here with ``cryptography``: trustme always signs with SHA-256), so that the hash of the
binding really follows the certificate's signature algorithm.

Without gss-ntlmssp or python3-gssapi the module is skipped, except on CI (``$CI`` set),
where that is a failure.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import ipaddress
import json
import os
import select
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import spnego
import spnego.channel_bindings
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from check_mapi.auth import flow_for
from check_mapi.deadline import Deadline
from check_mapi.settings import AuthSpec, ConnectionSettings, Secret
from check_mapi.transport.client import HttpReply, Transport

SYSTEM_PYTHON = "/usr/bin/python3"
ACCEPTOR = Path(__file__).with_name("gss_acceptor.py")
NTLMSSP_OID = "1.3.6.1.4.1.311.2.2.10"
START_TIMEOUT = 10.0

DOMAIN_USER = "CONTOSO\\probe"  # gss-ntlmssp keys NTLMv2 with the FILE's domain spelling
UPN = "probe@contoso.com"  # a UPN logs on only against a line with an empty domain
PASSWORD = "Corr3ct-Horse-Battery"
WRONG_PASSWORD = "Corr3ct-Horse-Batterz"
USER_FILE = f"CONTOSO:probe:{PASSWORD}\n:{UPN}:{PASSWORD}\n"

_PROBE = f"""
import sys
try:
    import gssapi
except ImportError as error:
    sys.exit(f"python3-gssapi is missing ({{error}})")
if gssapi.OID.from_int_seq("{NTLMSSP_OID}") not in gssapi.raw.indicate_mechs():
    sys.exit("gss-ntlmssp is missing (GSSAPI knows no NTLMSSP mechanism {NTLMSSP_OID})")
"""


def _missing() -> str | None:
    """Why the acceptor cannot run here, or None."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} is missing"
    proc = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True,
                          timeout=30, check=False)
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    return None


@pytest.fixture(scope="module", autouse=True)
def _gss_ntlmssp() -> None:
    """Skip without the system packages; on CI (``$CI``) fail instead."""
    why = _missing()
    if why is None:
        return
    advice = "apt-get install gss-ntlmssp python3-gssapi"
    if os.environ.get("CI"):
        pytest.fail(f"NTLM acceptor tests cannot run on CI: {why} ({advice})")
    pytest.skip(f"NTLM acceptor unavailable: {why} ({advice})")


# --- certificates ----------------------------------------------------------------------

@dataclass(frozen=True)
class Certs:
    """A CA and the server certificate (for 127.0.0.1 and localhost) it signed."""

    name: str
    cbt_hash: str  # what RFC 5929 makes of its signature algorithm
    ca_pem: Path
    cert_pem: Path
    key_pem: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_pem))


def _rsa_sha256(folder: Path) -> Certs:
    ca = trustme.CA(key_type=trustme.KeyType.RSA)  # trustme 1.2's default is ECDSA P-256
    cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
    certs = Certs("rsa-sha256", "sha256", folder / "ca.pem", folder / "cert.pem",
                  folder / "key.pem")
    ca.cert_pem.write_to_path(str(certs.ca_pem))
    cert.cert_chain_pems[0].write_to_path(str(certs.cert_pem))
    cert.private_key_pem.write_to_path(str(certs.key_pem))
    return certs


def _ecdsa_p384_sha384(folder: Path) -> Certs:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "check_mapi tests"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "P-384 test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA384())
    )
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA384())
    )
    certs = Certs("ecdsa-p384-sha384", "sha384", folder / "ca.pem", folder / "cert.pem",
                  folder / "key.pem")
    certs.ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    certs.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    certs.key_pem.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return certs


@pytest.fixture(scope="module")
def rsa(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return _rsa_sha256(tmp_path_factory.mktemp("rsa"))


@pytest.fixture(scope="module")
def ecdsa(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return _ecdsa_p384_sha384(tmp_path_factory.mktemp("ecdsa"))


@pytest.fixture(params=["rsa", "ecdsa"])
def certs(request: pytest.FixtureRequest) -> Certs:
    value: Certs = request.getfixturevalue(request.param)
    return value


def tls_server_end_point(der: bytes, hash_name: str | None = None) -> bytes:
    """RFC 5929 with ``cryptography`` (the acceptor has its own, stdlib-only reading):
    the signature's hash, SHA-256 for MD5/SHA-1/none; ``hash_name`` forces one."""
    if hash_name is None:
        algorithm = x509.load_der_x509_certificate(der).signature_hash_algorithm
        hash_name = "sha256" if algorithm is None or algorithm.name in {"md5", "sha1"} \
            else algorithm.name
    return hashlib.new(hash_name, der).digest()


def test_the_ecdsa_certificate_really_is_signed_with_sha384(ecdsa: Certs, rsa: Certs) -> None:
    for certs, expected in ((ecdsa, "sha384"), (rsa, "sha256")):
        cert = x509.load_pem_x509_certificate(certs.cert_pem.read_bytes())
        assert cert.signature_hash_algorithm is not None
        assert cert.signature_hash_algorithm.name == expected
    public = x509.load_pem_x509_certificate(ecdsa.cert_pem.read_bytes()).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp384r1"


# --- the acceptor ----------------------------------------------------------------------

@dataclass
class Acceptor:
    """A running ``gss_acceptor.py``."""

    proc: subprocess.Popen[bytes]
    port: int
    certs: Certs

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/mapi/emsmdb/"

    def stats(self) -> dict[str, Any]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                           context=self.certs.context(), timeout=5)
        try:
            conn.request("GET", "/_stats")
            response = conn.getresponse()
            assert response.status == 200
            value: dict[str, Any] = json.loads(response.read())
            return value
        finally:
            conn.close()


StartAcceptor = Callable[..., Acceptor]


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ntlm") / "users"
    path.write_text(USER_FILE)
    path.chmod(0o600)
    return path


@pytest.fixture
def start_acceptor(user_file: Path) -> Iterator[StartAcceptor]:
    """``start_acceptor(certs, schemes="NTLM", binding="require") -> Acceptor``; every
    acceptor started is stopped (SIGTERM) afterwards, and must have written nothing but
    its port and ended no connection with an exception."""
    started: list[Acceptor] = []

    def start(certs: Certs, schemes: str = "NTLM", binding: str = "require") -> Acceptor:
        proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(ACCEPTOR), "--cert", str(certs.cert_pem), "--key",
             str(certs.key_pem), "--schemes", schemes, "--channel-binding", binding,
             "--watch-stdin"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "NTLM_USER_FILE": str(user_file)})
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        line = proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            proc.kill()
            out, err = proc.communicate(timeout=10)
            pytest.fail(f"gss_acceptor.py did not start: stdout {line + out!r}, "
                        f"stderr {err.decode(errors='replace')}")
        acceptor = Acceptor(proc, int(line), certs)
        started.append(acceptor)
        return acceptor

    yield start
    for acceptor in started:
        errors = acceptor.stats() if acceptor.proc.poll() is None else {
            "handler_errors": 0}
        acceptor.proc.terminate()
        out, err = acceptor.proc.communicate(timeout=10)
        assert (out, err) == (b"", b""), "the acceptor wrote more than its port"
        assert acceptor.proc.returncode == 0
        assert errors["handler_errors"] == 0, errors["last_handler_error"]


# --- a minimal pyspnego client: the harness check --------------------------------------

@dataclass(frozen=True)
class Logon:
    status: int
    body: bytes
    legs: int  # requests sent, the anonymous one included


def spnego_logon(acceptor: Acceptor, username: str, password: str, *,
                 bindings: str | None = "rfc5929", protocol: str = "ntlm",
                 scheme: str = "NTLM") -> Logon:
    """Log on with pyspnego over ONE ``http.client`` connection.

    ``bindings``: "rfc5929" (the right hash), None (send none), or a hashlib name to hash
    the server's certificate with instead of the right one.
    """
    conn = http.client.HTTPSConnection("127.0.0.1", acceptor.port,
                                       context=acceptor.certs.context(), timeout=10)
    try:
        conn.request("GET", "/mapi/emsmdb/")
        response = conn.getresponse()
        body, legs = response.read(), 1
        offered = [v.split(" ", 1)[0] for v in response.headers.get_all("WWW-Authenticate")
                   or ()]
        assert response.status == 401, body
        assert scheme in offered, offered
        assert conn.sock is not None
        sock = conn.sock
        der = sock.getpeercert(True)
        assert der is not None
        channel_bindings = None
        if bindings is not None:
            digest = tls_server_end_point(der, None if bindings == "rfc5929" else bindings)
            channel_bindings = spnego.channel_bindings.GssChannelBindings(
                application_data=b"tls-server-end-point:" + digest)
        context = spnego.client(username, password, protocol=protocol,
                                channel_bindings=channel_bindings)
        token = context.step()
        while token is not None:
            conn.request("GET", "/mapi/emsmdb/",
                         headers={"Authorization": f"{scheme} {base64.b64encode(token).decode()}"})
            response = conn.getresponse()
            body, legs = response.read(), legs + 1
            assert conn.sock is sock, "the connection changed during the handshake"
            answers = [v.split(" ", 1)[1] for v in response.headers.get_all("WWW-Authenticate")
                       or () if v.startswith(f"{scheme} ")]
            if response.status != 401 or not answers or context.complete:
                break
            token = context.step(base64.b64decode(answers[0]))
        return Logon(response.status, body, legs)
    finally:
        conn.close()


@pytest.mark.parametrize(("protocol", "scheme"), [
    ("ntlm", "NTLM"),  # raw NTLMSSP
    ("ntlm", "Negotiate"),  # raw NTLMSSP under Negotiate (what IIS accepts too)
    ("negotiate", "Negotiate"),  # SPNEGO wrapping NTLMSSP (pyspnego without gssapi)
])
def test_harness_pyspnego_with_bindings_is_accepted(start_acceptor: StartAcceptor,
                                                    certs: Certs, protocol: str,
                                                    scheme: str) -> None:
    acceptor = start_acceptor(certs, schemes="Negotiate,NTLM")
    logon = spnego_logon(acceptor, DOMAIN_USER, PASSWORD, protocol=protocol, scheme=scheme)
    stats = acceptor.stats()
    assert logon.status == 200, (logon, stats)
    assert logon.legs == 3  # anonymous, NEGOTIATE, AUTHENTICATE
    assert json.loads(logon.body)["user"] == DOMAIN_USER
    assert stats["cbt_hash"] == certs.cbt_hash  # the acceptor read the algorithm as we did
    assert (stats["connections"], stats["handshakes"], stats["accepted"]) == (1, 1, 1)
    assert stats["channel_bound"] is True
    assert stats["last_mech"] == NTLMSSP_OID


def test_harness_refuses_missing_bindings(start_acceptor: StartAcceptor, rsa: Certs) -> None:
    acceptor = start_acceptor(rsa)
    logon = spnego_logon(acceptor, DOMAIN_USER, PASSWORD, bindings=None)
    stats = acceptor.stats()
    assert logon.status == 401
    assert (stats["handshakes"], stats["accepted"], stats["refused"]) == (1, 0, 1)
    assert "not channel-bound" in stats["last_error"]


def test_without_require_gss_ntlmssp_accepts_missing_bindings(
        start_acceptor: StartAcceptor, rsa: Certs) -> None:
    """Why ``require`` exists: gss-ntlmssp alone lets an unbound initiator in."""
    acceptor = start_acceptor(rsa, binding="allow")
    logon = spnego_logon(acceptor, DOMAIN_USER, PASSWORD, bindings=None)
    assert logon.status == 200
    assert acceptor.stats()["channel_bound"] is False


def test_harness_refuses_the_wrong_hash_algorithm(start_acceptor: StartAcceptor,
                                                  ecdsa: Certs) -> None:
    """A SHA-384-signed certificate hashed with SHA-256 is a mismatch, refused by
    gss-ntlmssp itself (in any mode that gives it bindings)."""
    acceptor = start_acceptor(ecdsa, binding="allow")
    logon = spnego_logon(acceptor, DOMAIN_USER, PASSWORD, bindings="sha256")
    stats = acceptor.stats()
    assert logon.status == 401
    assert (stats["handshakes"], stats["accepted"], stats["refused"]) == (1, 0, 1)
    assert stats["last_error"].startswith("GSS error")


@pytest.mark.parametrize(("protocol", "scheme"), [("ntlm", "NTLM"), ("negotiate", "Negotiate")])
def test_harness_refuses_a_wrong_password(start_acceptor: StartAcceptor, rsa: Certs,
                                          protocol: str, scheme: str) -> None:
    acceptor = start_acceptor(rsa, schemes=scheme)
    logon = spnego_logon(acceptor, DOMAIN_USER, WRONG_PASSWORD, protocol=protocol,
                         scheme=scheme)
    stats = acceptor.stats()
    assert logon.status == 401
    assert (stats["handshakes"], stats["accepted"], stats["refused"]) == (1, 0, 1)


# --- the plugin's flow -----------------------------------------------------------------

OFFERS = {"ntlm": "NTLM", "negotiate": "Negotiate", "auto": "Negotiate,NTLM"}


def flow_request(acceptor: Acceptor, method: str, username: str | None,
                 password: str) -> HttpReply:
    flow = flow_for(AuthSpec(method, username, Secret(password, "test")), UPN)
    with Transport(ConnectionSettings(), acceptor.certs.context()) as transport:
        return transport.request("GET", acceptor.url, [], b"", Deadline.after(5),
                                 max_bytes=65536, auth=flow)


@pytest.mark.parametrize("method", ["ntlm", "negotiate", "auto"])
def test_flow_logs_on_with_channel_binding(start_acceptor: StartAcceptor, certs: Certs,
                                           method: str) -> None:
    acceptor = start_acceptor(certs, schemes=OFFERS[method])
    reply = flow_request(acceptor, method, DOMAIN_USER, PASSWORD)
    stats = acceptor.stats()
    assert reply.status == 200, (reply.status, reply.body, stats)
    assert json.loads(reply.body)["user"] == DOMAIN_USER
    assert stats["channel_bound"] is True
    assert (stats["connections"], stats["handshakes"], stats["accepted"]) == (1, 1, 1), stats


def test_flow_logs_on_with_the_mailbox_upn(start_acceptor: StartAcceptor, rsa: Certs) -> None:
    """No username: the logon name is the mailbox address (a UPN, empty NTLM domain)."""
    acceptor = start_acceptor(rsa)
    reply = flow_request(acceptor, "ntlm", None, PASSWORD)
    stats = acceptor.stats()
    assert reply.status == 200, (reply.status, reply.body, stats)
    assert stats["last_user"] == f"\\{UPN}"
    assert (stats["connections"], stats["handshakes"], stats["accepted"]) == (1, 1, 1), stats


@pytest.mark.parametrize("method", ["ntlm", "negotiate", "auto"])
def test_flow_with_a_wrong_password_is_refused(start_acceptor: StartAcceptor, rsa: Certs,
                                               method: str) -> None:
    acceptor = start_acceptor(rsa, schemes=OFFERS[method])
    reply = flow_request(acceptor, method, DOMAIN_USER, WRONG_PASSWORD)
    stats = acceptor.stats()
    assert reply.status == 401, (reply.status, reply.body, stats)
    assert (stats["handshakes"], stats["accepted"], stats["refused"]) == (1, 0, 1), stats
