"""NTLM, Negotiate, auto and guarded Basic against the emulator over TLS with Extended
Protection (channel binding required), end to end through the plugin; the RFC 5929 hash
anchored to hashes computed here, not by the code under test."""

from __future__ import annotations

import datetime
import hashlib
import re
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from check_mapi.auth.basic import GuardedBasicAuth
from check_mapi.auth.bearer import BearerAuth
from check_mapi.auth.binding import certificate_hash
from check_mapi.emulator import Emulator
from check_mapi.errors import ConfigError
from check_mapi.plugin.main import run

from ..conftest import Emulators, Tls
from ..plugin_output import Outcome

PASSWORD = "Ntlm-S3ntinel-pw!"
SMTP = "probe@contoso.com"
CONFIG = f'''
[server]
pending_period_ms = 200
[auth]
methods = {{methods}}
require_channel_binding = true
domain = "CONTOSO"
[[mailbox]]
smtp = "{SMTP}"
username = "probe"
password = "{PASSWORD}"
display_name = "Probe Mailbox"
'''
OK = re.compile(rf"MAPI OK - {re.escape(SMTP)} logged on in \d+\.\d\d s, Inbox 0 items \| "
                r"availability=1;;;0;1 cert_days=[\d.]+ connect_time=[\d.]+s;;;0 "
                r"disconnect_time=[\d.]+s;;;0 "
                r"inbox_items=0;;;0 inbox_time=[\d.]+s;;;0 logon_time=[\d.]+s;;;0 "
                r"total_time=[\d.]+s;;;0")


def self_signed(folder: Path, key: object, algorithm: hashes.HashAlgorithm) -> tuple[Path,
                                                                                     Path]:
    """A certificate for 127.0.0.1 signed with ``algorithm`` (trustme signs with SHA-256)."""
    import ipaddress

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key())  # type: ignore[attr-defined]
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                   .sign(key, algorithm))  # type: ignore[arg-type]
    cert_pem, key_pem = folder / "cert.pem", folder / "key.pem"
    cert_pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_pem, key_pem


@pytest.fixture(scope="module")
def p384(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """An ECDSA P-384 certificate signed with SHA-384: the binding must hash with SHA-384."""
    folder = tmp_path_factory.mktemp("p384")
    cert_pem, key_pem = self_signed(folder, ec.generate_private_key(ec.SECP384R1()),
                                    hashes.SHA384())
    return Tls(cert_pem, cert_pem, key_pem)  # self-signed: it is its own CA


def probe(emulator: Emulator, ca: Path, *argv: str, password: str = PASSWORD) -> Outcome:
    return Outcome(*run(["-m", SMTP, "--url", emulator.mapi_url(SMTP), "--legacy-dn",
                         emulator.config.by_smtp(SMTP).legacy_dn,  # type: ignore[union-attr]
                         "--ca-file", str(ca), *argv], env={"CHECK_MAPI_PASSWORD": password}))


@pytest.mark.parametrize("certificate", ["rsa-sha256", "ecdsa-p384-sha384"])
@pytest.mark.parametrize(("method", "user", "used"), [
    ("ntlm", "CONTOSO\\probe", "NTLM"), ("negotiate", "probe@contoso.com", "Negotiate (NTLM)"),
    ("auto", "CONTOSO\\probe", "NTLM"), ("auto", None, "NTLM")])
def test_logon_with_channel_binding(start: Emulators, tls: Tls, p384: Tls, certificate: str,
                                    method: str, user: str | None, used: str) -> None:
    chosen = tls if certificate == "rsa-sha256" else p384
    emulator = start(CONFIG.format(methods='["negotiate", "ntlm"]'), tls=chosen)
    outcome = probe(emulator, chosen.ca_pem, "--auth", method, "-v",
                    *(["-u", user] if user else []))
    assert outcome.code == 0, outcome.output
    assert OK.fullmatch(outcome.first_line)
    stats = emulator.stats()
    assert (stats.tcp_connections, stats.auth_handshakes, stats.open_sessions) == (1, 1, 0)
    connect = next(line for line in outcome.long if line.startswith("connect: OK"))
    assert connect.endswith(f"(HTTP 200, X-ResponseCode 0, {used}, 3 legs (server offers "
                            "Negotiate, NTLM)), display name 'Probe Mailbox'")
    shown = used.lower() if method != "auto" else f"auto: {used.lower()}"
    logon = f" as {user}" if user and user != SMTP else ""  # the logon name, when not -m's
    assert outcome.long[0].endswith(f"(auth {shown}{logon})")
    assert PASSWORD not in outcome.output


def test_without_channel_binding_the_same_client_is_refused(
        start: Emulators, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves the tests above can fail: no binding, no logon."""
    emulator = start(CONFIG.format(methods='["ntlm"]'), tls=tls)
    monkeypatch.setattr("check_mapi.auth.negotiate.peer_certificate", lambda response: None)
    outcome = probe(emulator, tls.ca_pem, "--auth", "ntlm", "-u", "CONTOSO\\probe")
    assert outcome.code == 2
    assert outcome.status == (
        f"MAPI CRITICAL - {SMTP}: connect failed: HTTP 401 Unauthorized: NTLM credentials "
        "refused for CONTOSO\\probe after a complete handshake (wrong user name or password, "
        "locked account)")


def test_wrong_password_names_extended_protection_too(start: Emulators, tls: Tls) -> None:
    emulator = start(CONFIG.format(methods='["negotiate", "ntlm"]'), tls=tls)
    outcome = probe(emulator, tls.ca_pem, "-u", "CONTOSO\\probe", "-vvv", password="wrong")
    assert outcome.code == 2
    assert outcome.status == (
        f"MAPI CRITICAL - {SMTP}: connect failed: HTTP 401 Unauthorized: NTLM credentials "
        "refused for CONTOSO\\probe after a complete handshake (wrong user name or password, "
        "locked account, or Extended Protection refusing the channel binding behind a "
        "TLS-inspecting proxy or TLS offloader)")
    assert "wrong" not in outcome.output.replace("wrong user name", "")


@pytest.mark.parametrize(("methods", "auth", "message"), [
    ('["basic"]', "ntlm", "the server does not offer NTLM (it offers Basic)"),
    ('["ntlm"]', "negotiate", "the server does not offer Negotiate (it offers NTLM)"),
    ('["bearer"]', "auto", "the server does not offer Negotiate, NTLM or Basic (it offers "
                           "Bearer)"),
])
def test_method_not_offered(start: Emulators, tls: Tls, methods: str, auth: str,
                            message: str) -> None:
    emulator = start(CONFIG.format(methods=methods), tls=tls)
    outcome = probe(emulator, tls.ca_pem, "--auth", auth)
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: connect failed: HTTP 401 "
                              f"Unauthorized: {message}")


def test_auto_prefers_ntlm_to_basic_and_uses_basic_when_alone(start: Emulators,
                                                              tls: Tls) -> None:
    both = start(CONFIG.format(methods='["basic", "ntlm"]'), tls=tls)
    assert probe(both, tls.ca_pem, "-v").long[0].endswith("(auth auto: ntlm)")
    basic = start(CONFIG.format(methods='["basic"]'), tls=tls)
    outcome = probe(basic, tls.ca_pem, "-v")
    assert outcome.code == 0
    assert outcome.long[0].endswith("(auth auto: basic)")
    assert basic.stats().auth_challenges == 1  # the anonymous leg only; then Basic at once


def test_basic_never_goes_in_clear_text_to_a_remote_host() -> None:
    request = httpx.Request("POST", "http://mail.contoso.example/mapi/emsmdb/")
    with pytest.raises(ConfigError, match=r"^refusing to send Basic credentials over plain "
                                          r"http to mail.contoso.example: anyone on the "):
        next(GuardedBasicAuth("probe", PASSWORD, consent=False).auth_flow(request))
    signed = next(GuardedBasicAuth("probe", PASSWORD, consent=True).auth_flow(request))
    assert signed.headers["Authorization"].startswith("Basic ")
    for url in ("http://127.0.0.1:8080/x", "http://[::1]/x", "http://localhost/x",
                "https://mail.contoso.example/x"):
        request = httpx.Request("POST", url)
        assert next(GuardedBasicAuth("p", "x", consent=False).auth_flow(request)).headers[
            "Authorization"]


def test_refused_basic_is_unknown_and_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard runs before any byte leaves: the name is not even looked up."""
    looked_up: list[object] = []

    def lookup(*args: object, **kwargs: object) -> list[object]:
        looked_up.append(args)
        return []

    monkeypatch.setattr("socket.getaddrinfo", lookup)
    outcome = Outcome(*run(["-m", SMTP, "--url", "http://mail.contoso.example/mapi/emsmdb/",
                            "--legacy-dn", "/o=Contoso/cn=probe", "--auth", "basic"],
                           env={"CHECK_MAPI_PASSWORD": PASSWORD}))
    assert outcome.code == 3
    assert outcome.status == (
        f"MAPI UNKNOWN - {SMTP}: connect failed: refusing to send Basic credentials over "
        "plain http to mail.contoso.example: anyone on the network could read them (use "
        "https, or consent with --allow-basic-over-http)")
    assert looked_up == []


@pytest.mark.parametrize(("make_key", "algorithm", "expected"), [
    (lambda: rsa.generate_private_key(65537, 2048), hashes.SHA256(), hashlib.sha256),
    (lambda: ec.generate_private_key(ec.SECP384R1()), hashes.SHA384(), hashlib.sha384),
    (lambda: rsa.generate_private_key(65537, 2048), hashes.SHA512(), hashlib.sha512),
])
def test_rfc5929_hash_rule(tmp_path: Path, make_key: object, algorithm: hashes.HashAlgorithm,
                           expected: object) -> None:
    cert_pem, _ = self_signed(tmp_path, make_key(), algorithm)  # type: ignore[operator]
    der = x509.load_pem_x509_certificate(cert_pem.read_bytes()).public_bytes(
        serialization.Encoding.DER)
    assert certificate_hash(der) == expected(der).digest()  # type: ignore[operator]


def test_sha1_and_md5_signatures_hash_with_sha256(tmp_path: Path) -> None:
    """OpenSSL no longer signs with them: rewrite the algorithm OIDs of a SHA-256 RSA
    certificate (same length; nothing here checks the signature) to sha1/md5WithRSA."""
    cert_pem, _ = self_signed(tmp_path, rsa.generate_private_key(65537, 2048),
                              hashes.SHA256())
    der = x509.load_pem_x509_certificate(cert_pem.read_bytes()).public_bytes(
        serialization.Encoding.DER)
    sha256_with_rsa = bytes.fromhex("2a864886f70d01010b")  # 1.2.840.113549.1.1.11
    assert der.count(sha256_with_rsa) == 2  # tbsCertificate.signature, signatureAlgorithm
    for last, name in ((0x05, "sha1"), (0x04, "md5")):
        weak = der.replace(sha256_with_rsa, sha256_with_rsa[:-1] + bytes([last]))
        algorithm = x509.load_der_x509_certificate(weak).signature_hash_algorithm
        assert algorithm is not None and algorithm.name == name
        assert certificate_hash(weak) == hashlib.sha256(weak).digest()


def test_trustme_certificates_hash_with_sha256() -> None:
    der = x509.load_pem_x509_certificate(
        trustme.CA().issue_cert("127.0.0.1").cert_chain_pems[0].bytes()).public_bytes(
        serialization.Encoding.DER)
    assert certificate_hash(der) == hashlib.sha256(der).digest()


def test_server_closing_during_the_handshake_is_not_a_wrong_password(start: Emulators,
                                                                     tls: Tls) -> None:
    emulator = start(CONFIG.format(methods='["ntlm"]') + '[[mailbox.fault]]\nstep = "connect"'
                     "\nclose_after_challenge = true\n", tls=tls)
    outcome = probe(emulator, tls.ca_pem, "--auth", "ntlm", "-u", "CONTOSO\\probe")
    assert outcome.code == 2
    assert outcome.status == (
        f"MAPI CRITICAL - {SMTP}: connect failed: HTTP 401 Unauthorized: the server closed "
        "the connection during the NTLM handshake (it authenticates one connection: a load "
        "balancer or proxy in between must keep it open)")


def test_a_token_never_goes_in_clear_text_to_a_remote_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 6750 5.3: a bearer token over TLS only (or to loopback); whoever reads it can
    use it. Refused before any request: no name is even looked up."""
    looked_up: list[object] = []

    def lookup(*args: object, **kwargs: object) -> list[object]:
        looked_up.append(args)
        return []

    monkeypatch.setattr("socket.getaddrinfo", lookup)
    outcome = Outcome(*run(["-m", SMTP, "--url", "http://mail.contoso.example/mapi/emsmdb/",
                            "--legacy-dn", "/o=Contoso/cn=probe", "--auth", "bearer"],
                           env={"CHECK_MAPI_TOKEN": "s3ntinel-token"}))
    assert outcome.code == 3
    assert outcome.status == (
        f"MAPI UNKNOWN - {SMTP}: connect failed: refusing to send the OAuth token over plain "
        "http to mail.contoso.example: anyone on the network could use it (use https)")
    assert looked_up == []
    assert "s3ntinel-token" not in outcome.output
    request = httpx.Request("POST", "http://127.0.0.1:8080/mapi/emsmdb/")
    assert next(BearerAuth("t").auth_flow(request)).headers["Authorization"] == "Bearer t"
