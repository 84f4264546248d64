"""NTLM/Negotiate as Exchange does it: the names in the CHALLENGE message, NTLMv1 refused,
a connection closed right after the challenge, Extended Protection with an ECDSA P-384 /
SHA-384 certificate (RFC 5929: the binding hash is then SHA-384)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import re
import socket
import ssl
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from spnego.channel_bindings import GssChannelBindings

from check_mapi.emulator import Emulator, loads
from check_mapi.emulator.auth import Account, AuthPolicy, AuthResult, ConnectionAuth
from check_mapi.emulator.ntlm import ChallengeNames, is_ntlmv1, tls_server_end_point
from check_mapi.errors import ConfigError
from check_mapi.wire import ConnectRequest

from ..conftest import Emulators
from .emu_helpers import BASE_CONFIG, PASSWORD, RULER_DN, TIMEOUT, Mapi
from .test_emulator_faults import REQUEST, faulty

ALICE = Account("alice@contoso.com", "alice", "Secret-1", ())
SCHEMES = {"ntlm": "NTLM", "negotiate": "Negotiate"}
TARGET_TYPE_DOMAIN, TARGET_TYPE_SERVER = 0x00010000, 0x00020000
NB_COMPUTER, NB_DOMAIN, DNS_COMPUTER, DNS_DOMAIN, DNS_TREE, TIMESTAMP = 1, 2, 3, 4, 5, 7
CBT = b"tls-server-end-point:" + bytes(range(48))


def b64(data: bytes | None) -> str:
    assert data is not None  # a token pyspnego has to give
    return base64.b64encode(data).decode()


def decode_challenge(token: bytes) -> tuple[int, str, dict[int, bytes]]:
    """(NegotiateFlags, TargetName, {AvId: value}) of the CHALLENGE_MESSAGE in ``token``, read
    by hand per [MS-NLMP] 2.2.1.2 (fields at 12, 20, 40) and 2.2.2.1 (AV_PAIR list)."""
    message = token[token.index(b"NTLMSSP\x00\x02\x00\x00\x00"):]
    name_len, _, name_offset = struct.unpack_from("<HHI", message, 12)
    (flags,) = struct.unpack_from("<I", message, 20)
    info_len, _, info_offset = struct.unpack_from("<HHI", message, 40)
    info = message[info_offset:info_offset + info_len]
    pairs: dict[int, bytes] = {}
    position = 0
    while True:
        av_id, av_len = struct.unpack_from("<HH", info, position)
        if av_id == 0:
            break
        pairs[av_id] = info[position + 4:position + 4 + av_len]
        position += 4 + av_len
    name = message[name_offset:name_offset + name_len].decode("utf-16-le")
    return flags, name, pairs


def text(pairs: dict[int, bytes]) -> dict[int, str]:
    return {k: v.decode("utf-16-le") for k, v in pairs.items() if k != TIMESTAMP}


@contextmanager
def lm_compat(monkeypatch: pytest.MonkeyPatch, level: int | None) -> Iterator[None]:
    """pyspnego reads LM_COMPAT_LEVEL when a context is made: 0-2 make an NTLMv1 client."""
    with monkeypatch.context() as patch:
        if level is not None:
            patch.setenv("LM_COMPAT_LEVEL", str(level))
        yield


def client(user: str, password: str, protocol: str, cbt: bytes | None = None,
           ) -> spnego.ContextProxy:
    bindings = GssChannelBindings(application_data=cbt) if cbt is not None else None
    return spnego.client(user, password, protocol=protocol, channel_bindings=bindings)


def handshake(auth: ConnectionAuth, context: spnego.ContextProxy,
              protocol: str) -> tuple[bytes, AuthResult]:
    """(challenge token, result of the AUTHENTICATE leg) on one ConnectionAuth."""
    scheme = SCHEMES[protocol]
    first = auth.authenticate(f"{scheme} {b64(context.step())}")
    assert (first.status, first.challenge) == (401, True)
    token = base64.b64decode(first.headers[0][1].removeprefix(scheme + " "))
    return token, auth.authenticate(f"{scheme} {b64(context.step(token))}")


# -- 1. the CHALLENGE names the configured domain and server -------------------------------


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
def test_challenge_names_the_configured_domain_and_server(protocol: str) -> None:
    policy = AuthPolicy(domain="fabrikam", server_name="excas09", dns_domain="fabrikam.test")
    token, result = handshake(ConnectionAuth(policy, (ALICE,), None),
                              client("FABRIKAM\\alice", "Secret-1", protocol), protocol)
    flags, target_name, pairs = decode_challenge(token)
    assert target_name == "FABRIKAM"
    assert (flags & TARGET_TYPE_DOMAIN, flags & TARGET_TYPE_SERVER) == (TARGET_TYPE_DOMAIN, 0)
    assert list(pairs) == [NB_DOMAIN, NB_COMPUTER, DNS_DOMAIN, DNS_COMPUTER, DNS_TREE, TIMESTAMP]
    assert text(pairs) == {NB_DOMAIN: "FABRIKAM", NB_COMPUTER: "EXCAS09",
                           DNS_DOMAIN: "fabrikam.test", DNS_COMPUTER: "excas09.fabrikam.test",
                           DNS_TREE: "fabrikam.test"}
    assert len(pairs[TIMESTAMP]) == 8
    host = socket.gethostname().encode("utf-16-le")
    assert host not in token and "WORKSTATION".encode("utf-16-le") not in token
    # The client's MIC covers the rewritten challenge: the acceptor must check the same bytes.
    assert (result.status, result.identity) == (200, "alice@contoso.com")


@pytest.mark.parametrize(("policy", "names"), [
    (AuthPolicy(), ChallengeNames("CONTOSO", "EXCAS01", "contoso.com", "EXCAS01.contoso.com")),
    (AuthPolicy(server_name="EXMBX01.Corp.Contoso.com", realm="contoso.com", domain="Corp"),
     ChallengeNames("CORP", "EXMBX01", "contoso.com", "EXMBX01.Corp.Contoso.com")),
    (AuthPolicy(server_name="a-very-long-server-name", realm="mail.eu.fabrikam.test"),
     ChallengeNames("CONTOSO", "A-VERY-LONG-SER", "eu.fabrikam.test",
                    "a-very-long-server-name.eu.fabrikam.test")),
])
def test_challenge_names_defaults(policy: AuthPolicy, names: ChallengeNames) -> None:
    assert policy.challenge_names == names


def ntlm_challenge(http: httpx.Client, url: str, **headers: str) -> tuple[bytes, httpx.Response]:
    context = client("probe", PASSWORD, "ntlm")
    response = http.post(url, content=b"", headers={
        "Authorization": "NTLM " + b64(context.step()), **headers})
    assert response.status_code == 401
    return base64.b64decode(response.headers["WWW-Authenticate"].removeprefix("NTLM ")), response


@pytest.mark.parametrize(("auth", "names"), [
    ("", ("CONTOSO", "EXCAS07", "contoso.com", "EXCAS07.contoso.com")),  # BASE_CONFIG
    ('server_name = "EXMBX07.contoso.test"\ndomain = "CONTOSOTEST"\nrealm = "mail.contoso.test"',
     ("CONTOSOTEST", "EXMBX07", "contoso.test", "EXMBX07.contoso.test")),
    ('dns_domain = "corp.contoso.test"',
     ("CONTOSO", "EXCAS07", "corp.contoso.test", "EXCAS07.corp.contoso.test")),
])
def test_emulator_challenge_names_come_from_the_configuration(
        start: Emulators, auth: str, names: tuple[str, str, str, str]) -> None:
    emulator = start(BASE_CONFIG.replace("[auth]", "[auth]\n" + auth))
    with httpx.Client(timeout=TIMEOUT) as http:
        token, _ = ntlm_challenge(http, emulator.mapi_url("probe@contoso.test"))
    _, target_name, pairs = decode_challenge(token)
    assert target_name == names[0]
    assert [text(pairs)[k] for k in (NB_DOMAIN, NB_COMPUTER, DNS_DOMAIN, DNS_COMPUTER)] == list(
        names)


@pytest.mark.parametrize(("setting", "message"), [
    ('server_name = "EX CAS"', "auth.server_name: 'EX CAS' is not a host or domain name"),
    ('server_name = ""', "auth.server_name: '' is not a host or domain name"),
    ('dns_domain = ".contoso.com"', "auth.dns_domain: '.contoso.com' is not a host or domain"),
    ('dns_domain = "bücher.de"', "auth.dns_domain: 'bücher.de' is not a host or domain name"),
    ("refuse_ntlmv1 = 1", "auth.refuse_ntlmv1: expected true or false, got int"),
])
def test_bad_auth_names_are_refused(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        loads(BASE_CONFIG.replace("[auth]", "[auth]\n" + setting))


# -- 2. NTLMv1 refused -------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0, 1, 2])
@pytest.mark.parametrize(("required", "refuse", "binding", "status"), [
    (False, None, None, 200),   # default without Extended Protection: accepted
    (True, None, None, 401),    # default follows require_channel_binding, plain HTTP too
    (True, False, None, 200),   # explicitly allowed (plain HTTP: nothing to bind)
    (False, True, None, 401),   # explicitly refused
    (False, True, CBT, 401),
    (True, False, CBT, 401),    # TLS + Require: NTLMv1 cannot carry the binding anyway
])
@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
def test_ntlmv1(monkeypatch: pytest.MonkeyPatch, protocol: str, level: int, required: bool,
                refuse: bool | None, binding: bytes | None, status: int) -> None:
    policy = AuthPolicy(require_channel_binding=required, refuse_ntlmv1=refuse)
    with lm_compat(monkeypatch, level):  # Negotiate makes its NTLM context on its first step
        _, result = handshake(ConnectionAuth(policy, (ALICE,), binding),
                              client("alice", "Secret-1", protocol), protocol)
    assert (result.status, result.handshake_completed) == (status, True)


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
def test_ntlmv2_passes_when_ntlmv1_is_refused(protocol: str) -> None:
    auth = ConnectionAuth(AuthPolicy(refuse_ntlmv1=True), (ALICE,), None)
    assert handshake(auth, client("alice", "Secret-1", protocol), protocol)[1].status == 200


def authenticate_message(nt_response: bytes) -> bytes:
    """A minimal AUTHENTICATE_MESSAGE ([MS-NLMP] 2.2.1.3): only NtChallengeResponseFields set."""
    header = b"NTLMSSP\x00\x03\x00\x00\x00" + struct.pack("<HHI", 0, 0, 88)
    header += struct.pack("<HHI", len(nt_response), len(nt_response), 88)
    return header.ljust(88, b"\x00") + nt_response


@pytest.mark.parametrize(("token", "expected"), [
    (authenticate_message(bytes(24)), True),   # NTLMv1 NtChallengeResponse
    (authenticate_message(b""), True),         # LM only
    (authenticate_message(bytes(25)), False),  # longer: NTLMv2
    (authenticate_message(bytes(24))[:-1], False),  # cut: not a message
    (b"NTLMSSP\x00\x01\x00\x00\x00" + bytes(40), False),
    (b"garbage", False),
])
def test_is_ntlmv1_reads_the_nt_response_length(token: bytes, expected: bool) -> None:
    assert is_ntlmv1(token) is expected
    assert is_ntlmv1(b"\xa1\x81\x90" + token) is expected  # inside a Negotiate token


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
@pytest.mark.parametrize(("level", "expected"), [(0, True), (1, True), (2, True), (3, False)])
def test_real_tokens_are_classified(monkeypatch: pytest.MonkeyPatch, protocol: str, level: int,
                                    expected: bool) -> None:
    scheme = SCHEMES[protocol]
    with lm_compat(monkeypatch, level):
        context = client("alice", "Secret-1", protocol)
        first = ConnectionAuth(AuthPolicy(), (ALICE,), None).authenticate(
            f"{scheme} {b64(context.step())}")
    type3 = context.step(base64.b64decode(first.headers[0][1].removeprefix(scheme + " ")))
    assert type3 is not None
    assert is_ntlmv1(type3) is expected


@pytest.mark.parametrize(("auth", "level", "status"), [
    ("refuse_ntlmv1 = true", 1, 401),
    ("refuse_ntlmv1 = true", None, 200),
    ("require_channel_binding = true", 1, 401),  # plain HTTP: the default follows it
    ("require_channel_binding = true\nrefuse_ntlmv1 = false", 1, 200),
    ("", 1, 200),
])
def test_emulator_refuses_ntlmv1_as_configured(start: Emulators, monkeypatch: pytest.MonkeyPatch,
                                               auth: str, level: int | None,
                                               status: int) -> None:
    emulator = start(BASE_CONFIG.replace("[auth]", "[auth]\n" + auth))
    with lm_compat(monkeypatch, level):
        context = client("probe", PASSWORD, "ntlm")
    with Mapi(httpx.Client(timeout=TIMEOUT), emulator.mapi_url("probe@contoso.test")) as m:
        assert ntlm_connect(m, context, "ntlm").status_code == status


def test_refuse_ntlmv1_setting_defaults_to_none() -> None:
    assert loads(BASE_CONFIG).auth.refuse_ntlmv1 is None
    setting = BASE_CONFIG.replace("[auth]", "[auth]\nrefuse_ntlmv1 = false")
    assert loads(setting).auth.refuse_ntlmv1 is False
    assert AuthPolicy(require_channel_binding=True).refuses_ntlmv1 is True
    assert AuthPolicy().refuses_ntlmv1 is False


def ntlm_connect(m: Mapi, context: spnego.ContextProxy, protocol: str) -> httpx.Response:
    """NEGOTIATE and AUTHENTICATE legs on m's connection, the second one carrying a Connect."""
    scheme = SCHEMES[protocol]
    first = m.http.post(m.url, content=b"", headers={"Authorization": f"{scheme} "
                                                     + b64(context.step())})
    assert first.status_code == 401
    token = base64.b64decode(first.headers["WWW-Authenticate"].removeprefix(scheme + " "))
    return m.http.post(m.url, content=ConnectRequest(RULER_DN).encode(), headers={
        **m.headers("Connect"), "Authorization": f"{scheme} " + b64(context.step(token))})


# -- 3. the connection closed right after the challenge ----------------------------------------


def raw_exchange(emulator: Emulator, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[bytes, dict[str, str], bool]:
    """One request on a new TCP connection: (status line, headers, closed by the server)."""
    host, port = emulator.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode() + body)
        data, closed = b"", False
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data:
                    sock.settimeout(0.5)  # a kept-alive connection stays silent
            closed = True
        except TimeoutError:
            pass
    status, _, rest = data.partition(b"\r\n")
    fields: dict[str, str] = {}
    for line in rest.partition(b"\r\n\r\n")[0].decode().split("\r\n"):
        name, _, value = line.partition(": ")
        fields.setdefault(name.lower(), value)  # the first of a repeated header
    return status, fields, closed


def connect_headers(context: spnego.ContextProxy) -> dict[str, str]:
    mapi = Mapi(httpx.Client(), "")
    try:
        return {**mapi.headers("Connect"), "Authorization": "NTLM " + b64(context.step())}
    finally:
        mapi.close()


def mapi_path(emulator: Emulator, smtp: str = "probe@contoso.test") -> str:
    return emulator.mapi_url(smtp).removeprefix(emulator.url)


def test_close_after_challenge_at_connect(start: Emulators) -> None:
    emulator = faulty(start, 'step = "connect"\nclose_after_challenge = true\ntimes = 1')
    context = client("probe", PASSWORD, "ntlm")
    status, headers, closed = raw_exchange(emulator, mapi_path(emulator),
                                           connect_headers(context), b"")
    assert status == b"HTTP/1.1 401 Unauthorized"
    assert headers["www-authenticate"].startswith("NTLM TlRMTVNTUAACAAAA")  # the challenge
    assert (headers["connection"], closed) == ("close", True)
    # The AUTHENTICATE leg on a new connection finds no handshake: a plain 401.
    token = base64.b64decode(headers["www-authenticate"][5:])
    status, headers, closed = raw_exchange(emulator, mapi_path(emulator), {
        **connect_headers(client("probe", PASSWORD, "ntlm")),
        "Authorization": "NTLM " + b64(context.step(token))}, b"")
    assert (status, closed) == (b"HTTP/1.1 401 Unauthorized", False)
    assert headers["www-authenticate"] == "Negotiate"
    # times = 1: the next handshake completes on its connection.
    with Mapi(httpx.Client(timeout=TIMEOUT), emulator.mapi_url("probe@contoso.test")) as m:
        response = ntlm_connect(m, client("probe", PASSWORD, "ntlm"), "ntlm")
        assert response.headers["X-ResponseCode"] == "0"
    stats = emulator.stats()
    assert (stats.faults_applied, stats.tcp_connections) == (1, 3)


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
def test_close_after_challenge_is_only_for_the_challenge(start: Emulators,
                                                         protocol: str) -> None:
    emulator = faulty(start, 'step = "connect"\nclose_after_challenge = true')
    path = mapi_path(emulator)
    connect = {k: v for k, v in connect_headers(client("probe", PASSWORD, "ntlm")).items()
               if k != "Authorization"}
    # No Authorization: the list of challenges, not an NTLM one; the connection stays.
    assert raw_exchange(emulator, path, connect, b"")[2] is False
    # Another mailbox, another request type: not this fault.
    other = mapi_path(emulator, "other@contoso.test")
    ntlm = connect_headers(client("probe", PASSWORD, "ntlm"))
    assert raw_exchange(emulator, other, ntlm, b"")[2] is False
    execute = {**ntlm, "X-RequestType": "Execute"}
    assert raw_exchange(emulator, path, execute, b"")[2] is False
    assert emulator.stats().faults_applied == 0
    # Basic is not a handshake: the Connect succeeds and does not use the fault up.
    with Mapi(httpx.Client(auth=("probe", PASSWORD), timeout=TIMEOUT),
              emulator.mapi_url("probe@contoso.test")) as m:
        m.connect()  # asserts X-ResponseCode 0
    scheme = SCHEMES[protocol]
    context = client("probe", PASSWORD, protocol)
    status, headers, closed = raw_exchange(emulator, path, {
        **connect, "Authorization": f"{scheme} " + b64(context.step())}, b"")
    assert (status, closed) == (b"HTTP/1.1 401 Unauthorized", True)
    assert headers["www-authenticate"].startswith(scheme + " ")


def test_close_after_challenge_at_autodiscover(start: Emulators) -> None:
    emulator = faulty(start, 'step = "autodiscover"\nclose_after_challenge = true')
    path = "/autodiscover/autodiscover.xml"
    headers = {"Content-Type": "text/xml",
               "Authorization": "NTLM " + b64(client("probe", PASSWORD, "ntlm").step())}
    status, answer, closed = raw_exchange(emulator, path, headers, REQUEST.encode())
    assert (status, answer["connection"], closed) == (b"HTTP/1.1 401 Unauthorized", "close", True)
    other = REQUEST.replace("probe@", "other@").encode()
    headers["Authorization"] = "NTLM " + b64(client("other", "x", "ntlm").step())
    assert raw_exchange(emulator, path, headers, other)[2] is False
    assert emulator.stats().faults_applied == 1


@pytest.mark.parametrize(("fault", "message"), [
    ('step = "logon"\nclose_after_challenge = true',
     "mailbox[0].fault[0].close_after_challenge: only for step autodiscover or connect"),
    ('step = "connect"\nclose_after_challenge = true\nhttp_status = 500',
     "mailbox[0].fault[0].close_after_challenge: goes with no other fault key but times"),
    ('step = "connect"\nclose_after_challenge = "yes"',
     "mailbox[0].fault[0].close_after_challenge: expected true or false, got str"),
])
def test_close_after_challenge_configuration_errors(fault: str, message: str) -> None:
    head, sep, tail = BASE_CONFIG.partition('[[mailbox]]\nsmtp = "other@contoso.test"')
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        loads(f"{head}[[mailbox.fault]]\n{fault}\n\n{sep}{tail}")


# -- 5. Extended Protection with an ECDSA P-384 / SHA-384 certificate ---------------------------


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
                 issuer_key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, issuer)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA384())


@pytest.fixture(scope="module")
def p384(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA, certificate, key) PEM files: ECDSA P-384 keys, signatures ecdsa-with-SHA384."""
    folder = tmp_path_factory.mktemp("p384")
    ca_key, key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    ca = _certificate("P-384 test CA", ca_key, "P-384 test CA", ca_key, ca=True)
    cert = _certificate("127.0.0.1", key, "P-384 test CA", ca_key, ca=False)
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_tls_server_end_point_of_a_p384_sha384_certificate(p384: tuple[Path, Path, Path]) -> None:
    der = ssl.PEM_cert_to_DER_cert(p384[1].read_text())
    cert = x509.load_der_x509_certificate(der)
    assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp384r1"
    assert tls_server_end_point(der) == b"tls-server-end-point:" + hashlib.sha384(der).digest()


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
@pytest.mark.parametrize(("digest", "status"), [(hashlib.sha384, 200), (hashlib.sha256, 401)])
def test_extended_protection_over_tls_with_a_p384_certificate(
        start: Emulators, p384: tuple[Path, Path, Path], protocol: str,
        digest: Callable[[bytes], Any], status: int) -> None:
    ca, cert, key = p384
    config = BASE_CONFIG.replace("[auth]", "[auth]\nrequire_channel_binding = true")
    emulator = start(config, tls_cert=cert, tls_key=key)
    http = httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=TIMEOUT)
    with Mapi(http, emulator.mapi_url("probe@contoso.test")) as m:
        probe = m.http.get(emulator.autodiscover_url)  # the certificate as the client sees it
        ssl_object = probe.extensions["network_stream"].get_extra_info("ssl_object")
        der = ssl_object.getpeercert(True)
        assert der == ssl.PEM_cert_to_DER_cert(cert.read_text())
        cbt = b"tls-server-end-point:" + digest(der).digest()
        response = ntlm_connect(m, client("CONTOSO\\probe", PASSWORD, protocol, cbt), protocol)
        assert response.status_code == status
        if status == 200:
            assert response.headers["X-ResponseCode"] == "0"
