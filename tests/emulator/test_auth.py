"""Server-side authentication of the emulator, driven by pyspnego's real NTLM/Negotiate client."""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import os
import ssl
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import spnego
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spnego.channel_bindings import GssChannelBindings

from check_mapi.emulator.auth import Account, AuthPolicy, AuthResult, ConnectionAuth
from check_mapi.emulator.ntlm import carries_channel_binding, certificate_hash, tls_server_end_point

from ..conftest import Tls

PASSWORD = "Pa:ss w0rd!é"
ALICE = Account("alice@contoso.com", "alice", PASSWORD, ("tok-alice",))
BOB = Account("bob@contoso.com", "bob", None, ("tok-bob",))
ACCOUNTS = (ALICE, BOB)
CBT = b"tls-server-end-point:" + bytes(range(32))
WRONG_CBT = b"tls-server-end-point:" + bytes(32)
NEGOTIATE = ("WWW-Authenticate", "Negotiate")
NTLM = ("WWW-Authenticate", "NTLM")
BASIC = ("WWW-Authenticate", 'Basic realm="mail.contoso.com"')
BEARER_VALUE = (
    'Bearer client_id="00000002-0000-0ff1-ce00-000000000000",'
    ' trusted_issuers="00000001-0000-0000-c000-000000000000@*",'
    ' token_types="app_asserted_user_v1 service_asserted_app_v1",'
    ' authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'
)
BEARER = ("WWW-Authenticate", BEARER_VALUE)
DEFAULT_CHALLENGES = (NEGOTIATE, NTLM, BASIC)
ALL = ("negotiate", "ntlm", "basic", "bearer")
SCHEMES = {"ntlm": "NTLM", "negotiate": "Negotiate"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def basic(text: str) -> str:
    return "Basic " + b64(text.encode())


def make_auth(
    methods: tuple[str, ...] = ALL,
    required: bool = False,
    binding: bytes | None = CBT,
    accounts: tuple[Account, ...] = ACCOUNTS,
) -> ConnectionAuth:
    return ConnectionAuth(AuthPolicy(methods=methods, require_channel_binding=required),
                          accounts, binding)


def make_client(user: str, password: str, protocol: str, cbt: bytes | None = None):
    bindings = GssChannelBindings(application_data=cbt) if cbt is not None else None
    return spnego.client(user, password, protocol=protocol, channel_bindings=bindings)


def handshake(auth: ConnectionAuth, client, protocol: str) -> tuple[AuthResult, AuthResult]:
    """Type-1 -> 401 + Type-2, then Type-3 -> the result under test."""
    scheme = SCHEMES[protocol]
    first = auth.authenticate(f"{scheme} {b64(client.step())}")
    assert first.status == 401
    assert first.identity is None
    assert first.handshake_completed is False
    assert len(first.headers) == 1
    name, value = first.headers[0]
    assert name == "WWW-Authenticate"
    assert value.startswith(scheme + " ")
    type3 = client.step(base64.b64decode(value[len(scheme) + 1:]))
    second = auth.authenticate(f"{scheme} {b64(type3)}")
    return first, second


def all_challenges(bearer_error: bool = False) -> tuple[tuple[str, str], ...]:
    if not bearer_error:
        return (*DEFAULT_CHALLENGES, BEARER)
    diagnostics = (
        '2000001;reason="The token is invalid or has expired.";error_category="invalid_token"'
    )
    return (*DEFAULT_CHALLENGES, ("WWW-Authenticate", BEARER_VALUE + ', error="invalid_token"'),
            ("x-ms-diagnostics", diagnostics))


# -- challenges and method selection --------------------------------------------------------


def test_missing_header_gets_one_challenge_per_enabled_method_in_policy_order():
    auth = ConnectionAuth(AuthPolicy(), ACCOUNTS, None)
    assert auth.authenticate(None) == AuthResult(None, 401, DEFAULT_CHALLENGES, None, False)
    assert auth.authenticate("  ") == AuthResult(None, 401, DEFAULT_CHALLENGES, None, False)
    reordered = make_auth(methods=("bearer", "basic", "ntlm"))
    assert reordered.authenticate(None).headers == (BEARER, BASIC, NTLM)


def test_realm_and_bearer_parameters_come_from_the_policy():
    policy = AuthPolicy(methods=("basic", "bearer"), realm="mx.example.org",
                        bearer_client_id="cid", bearer_trusted_issuers="iss@tenant",
                        bearer_authorization_uri="https://sts.example/authorize")
    result = ConnectionAuth(policy, ACCOUNTS, None).authenticate(None)
    assert result.headers == (
        ("WWW-Authenticate", 'Basic realm="mx.example.org"'),
        ("WWW-Authenticate", 'Bearer client_id="cid", trusted_issuers="iss@tenant",'
         ' token_types="app_asserted_user_v1 service_asserted_app_v1",'
         ' authorization_uri="https://sts.example/authorize"'),
    )


@pytest.mark.parametrize("methods", [(), ("digest",), ("ntlm", "ntlm"), ("NTLM",)])
def test_policy_rejects_bad_method_lists(methods):
    with pytest.raises(ValueError, match="auth methods must be distinct names"):
        AuthPolicy(methods=methods)


@pytest.mark.parametrize("header", [
    basic("alice:" + PASSWORD), "Bearer tok-alice", "Digest username=alice", "NTLM",
])
def test_method_not_enabled_is_refused_with_the_enabled_challenges(header):
    auth = make_auth(methods=("negotiate",))
    result = auth.authenticate(header)
    assert result.status == 401
    assert result.identity is None
    assert result.headers == (NEGOTIATE,)


# -- Basic ----------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["alice", "ALICE", "CONTOSO\\alice", "contoso\\Alice",
                                  "alice@contoso.com", "Alice@Contoso.com"])
def test_basic_accepts_logon_name_domain_form_and_smtp(user):
    auth = make_auth()
    assert auth.authenticate(basic(f"{user}:{PASSWORD}")) == AuthResult(
        "alice@contoso.com", 200, (), "basic", True)
    assert auth.identity is None  # Basic is judged per request


@pytest.mark.parametrize("credentials", [
    "alice:wrong", "alice:", f"OTHER\\alice:{PASSWORD}", f"carol:{PASSWORD}", "bob:", "bob:x",
    f"alice:{PASSWORD.upper()}",
])
def test_basic_wrong_credentials_are_refused_without_echoing_them(credentials):
    result = make_auth().authenticate(basic(credentials))
    assert result == AuthResult(None, 401, all_challenges(), "basic", True)


@pytest.mark.parametrize("header", [
    "Basic", "Basic !!!!", "Basic YWxpY2U", "Basic " + b64(b"alice"), "Basic " + b64(b"\xff:\xfe"),
    "Basic é",
])
def test_basic_malformed_is_refused_unchecked(header):
    expected = AuthResult(None, 401, all_challenges(), "basic", False)
    assert make_auth().authenticate(header) == expected


# -- Bearer ---------------------------------------------------------------------------------


def test_bearer_tokens_map_to_their_accounts():
    auth = make_auth()
    assert auth.authenticate("Bearer tok-alice") == AuthResult(
        "alice@contoso.com", 200, (), "bearer", True)
    assert auth.authenticate("bearer   tok-bob ") == AuthResult(
        "bob@contoso.com", 200, (), "bearer", True)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "bearer\t"])
def test_empty_bearer_elicits_the_plain_challenge(header):
    assert make_auth().authenticate(header) == AuthResult(None, 401, all_challenges(), "bearer",
                                                          False)


@pytest.mark.parametrize("token", ["tok-alicE", "tok-alice2", "tok", "\ud800"])
def test_rejected_bearer_token_gets_invalid_token_and_diagnostics(token):
    result = make_auth().authenticate("Bearer " + token)
    assert result == AuthResult(None, 401, all_challenges(bearer_error=True), "bearer", True)


# -- NTLM / Negotiate -----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
@pytest.mark.parametrize("user", ["alice", "CONTOSO\\alice", "contoso\\ALICE", "alice@contoso.com"])
def test_spnego_good_password_authenticates_the_connection(protocol, user):
    auth = make_auth()
    client = make_client(user, PASSWORD, protocol)
    _, result = handshake(auth, client, protocol)
    assert (result.identity, result.status, result.method, result.handshake_completed) == (
        "alice@contoso.com", 200, protocol, True)
    assert auth.identity == "alice@contoso.com"
    if protocol == "ntlm":
        assert result.headers == ()
    else:  # the final SPNEGO token (accept-complete + mechListMIC) completes the client
        ((name, value),) = result.headers
        assert name == "WWW-Authenticate"
        assert client.step(base64.b64decode(value.removeprefix("Negotiate "))) is None
    assert client.complete


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
@pytest.mark.parametrize(("user", "password"), [
    ("alice", "wrong"), ("alice", PASSWORD.upper()), ("carol", PASSWORD),
    ("OTHER\\alice", PASSWORD), ("bob", ""), ("bob", "x"),
])
def test_spnego_bad_credentials_are_refused(protocol, user, password):
    auth = make_auth()
    _, result = handshake(auth, make_client(user, password, protocol), protocol)
    assert result == AuthResult(None, 401, all_challenges(), protocol, True)
    assert auth.identity is None


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
@pytest.mark.parametrize(("required", "server_cbt", "client_cbt", "status"), [
    (True, CBT, CBT, 200),         # Extended Protection satisfied
    (True, CBT, None, 401),        # required and missing
    (True, CBT, WRONG_CBT, 401),   # required and another certificate's hash
    (False, CBT, CBT, 200),        # not required but sent
    (False, CBT, WRONG_CBT, 200),  # not required: not checked (ExtendedProtection None)
    (True, None, None, 200),       # plain HTTP: nothing to bind to
])
def test_channel_binding(protocol, required, server_cbt, client_cbt, status):
    auth = make_auth(required=required, binding=server_cbt)
    _, result = handshake(auth, make_client("alice", PASSWORD, protocol, client_cbt), protocol)
    assert result.status == status
    assert result.handshake_completed is True
    assert auth.identity == ("alice@contoso.com" if status == 200 else None)
    if status == 401:
        assert result.headers == all_challenges()


@pytest.mark.parametrize("required", [True, False])
def test_ntlmv1_cannot_satisfy_required_channel_binding(monkeypatch, required):
    # pyspnego's acceptor would skip the binding check for NTLMv1; Require mode must not.
    with monkeypatch.context() as patch:
        patch.setenv("LM_COMPAT_LEVEL", "1")
        client = make_client("alice", PASSWORD, "ntlm", CBT)
    _, result = handshake(make_auth(required=required), client, "ntlm")
    assert result.status == (401 if required else 200)


def test_all_zero_channel_binding_is_not_a_binding():
    client = make_client("alice", PASSWORD, "ntlm", CBT)
    auth = make_auth()
    first = auth.authenticate("NTLM " + b64(client.step()))
    token = client.step(base64.b64decode(first.headers[0][1][5:]))
    digest = hashlib.md5(GssChannelBindings(application_data=CBT).pack()).digest()
    assert token.count(digest) == 1
    assert carries_channel_binding(token) is True
    assert carries_channel_binding(token.replace(digest, bytes(16))) is False
    assert carries_channel_binding(token[:60]) is False
    assert carries_channel_binding(b"garbage") is False


@pytest.mark.parametrize("username", ["eve:x", "eve\nalice:0:00:00:[U]:LCT-0", "eve\u2028alice"])
def test_names_that_do_not_fit_the_user_file_are_skipped(username):
    eve = Account("eve@contoso.com", username, "pw", ())
    auth = make_auth(accounts=(eve,))
    _, result = handshake(auth, make_client("eve@contoso.com", "pw", "ntlm"), "ntlm")
    assert result.identity == "eve@contoso.com"
    _, result = handshake(auth, make_client("alice", "pw", "ntlm"), "ntlm")
    assert result.status == 401


def test_identity_persists_on_the_connection_only():
    auth = make_auth()
    handshake(auth, make_client("alice", PASSWORD, "ntlm"), "ntlm")
    assert auth.authenticate(None) == AuthResult("alice@contoso.com", 200, (), "ntlm", False)
    assert auth.authenticate("Bearer tok-bob").identity == "bob@contoso.com"  # per request
    assert auth.authenticate(basic("alice:wrong")).status == 401
    assert auth.identity == "alice@contoso.com"
    assert make_auth().authenticate(None).status == 401  # another connection
    # A new handshake supersedes the old identity, even before it completes.
    restarted = auth.authenticate("NTLM " + b64(make_client("bob", "x", "ntlm").step()))
    assert restarted.status == 401
    assert auth.identity is None
    assert auth.authenticate(None).status == 401


def test_handshake_state_does_not_cross_connections_or_schemes():
    client = make_client("alice", PASSWORD, "ntlm")
    first = make_auth().authenticate("NTLM " + b64(client.step()))
    type3 = b64(client.step(base64.b64decode(first.headers[0][1][5:])))
    assert make_auth().authenticate("NTLM " + type3) == AuthResult(
        None, 401, all_challenges(), "ntlm", False)
    auth = make_auth()
    client = make_client("alice", PASSWORD, "ntlm")
    first = auth.authenticate("NTLM " + b64(client.step()))
    type3 = b64(client.step(base64.b64decode(first.headers[0][1][5:])))
    assert auth.authenticate("Negotiate " + type3).status == 401
    assert auth.authenticate("NTLM " + type3).status == 401  # the context was dropped


@pytest.mark.parametrize("header", ["NTLM", "NTLM !!", "Negotiate " + b64(b"\x60\x00"),
                                    "NTLM " + b64(b"NTLMSSP\x00\x01\x00\x00\x00")])
def test_malformed_spnego_tokens_are_refused(header):
    result = make_auth().authenticate(header)
    assert (result.status, result.identity, result.headers) == (401, None, all_challenges())


def test_accounts_with_different_passwords_share_the_process_safely():
    def run(index: int) -> tuple[int, int]:
        mine = (Account(f"alice{index}@contoso.com", "alice", f"pw-{index}", ()),)
        results = []
        for password in (f"pw-{index}", f"pw-{index + 1}"):
            auth = make_auth(accounts=mine)
            results.append(handshake(auth, make_client("alice", password, "negotiate"),
                                     "negotiate")[1].status)
        return results[0], results[1]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(run, range(16))) == [(200, 401)] * 16
    path = os.environ["NTLM_USER_FILE"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    with open(path, encoding="utf-8") as handle:
        assert "pw-" not in handle.read()  # hashes only


# -- robustness -----------------------------------------------------------------------------

PREFIXES = st.sampled_from(["", "NTLM ", "Negotiate ", "Basic ", "Bearer ", "ntlm", "NEGOTIATE  "])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(PREFIXES, st.text()), min_size=1, max_size=4))
def test_any_text_header_gives_a_result(headers):
    auth = make_auth(required=True)
    for prefix, text in headers:
        result = auth.authenticate(prefix + text)
        assert isinstance(result, AuthResult)
        assert result.status == 401 or result.identity is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol=st.sampled_from(["ntlm", "negotiate"]), leg=st.sampled_from([1, 3]),
       edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 400))
def test_mutated_real_tokens_give_a_result(protocol, leg, edits, cut):
    scheme = SCHEMES[protocol]
    auth = make_auth(required=True)
    client = make_client("alice", PASSWORD, protocol, CBT)
    token = bytearray(client.step())
    if leg == 3:
        first = auth.authenticate(f"{scheme} {b64(bytes(token))}")
        token = bytearray(client.step(base64.b64decode(first.headers[0][1][len(scheme) + 1:])))
    for position, value in edits:
        token[position % len(token)] = value
    result = auth.authenticate(f"{scheme} {b64(bytes(token[:max(cut, 1)]))}")
    assert result.status in (200, 401)
    assert (result.identity is None) == (result.status == 401)


# -- tls-server-end-point -------------------------------------------------------------------


def der_of(tls: Tls) -> bytes:
    """The test certificate (tests/conftest.py's ``tls``, issued by trustme) as DER."""
    return ssl.PEM_cert_to_DER_cert(tls.cert_pem.read_text())


def self_signed(key, algorithm) -> bytes:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "test")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(7).not_valid_before(start)
               .not_valid_after(start + datetime.timedelta(days=1)))
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)


def test_tls_server_end_point_of_a_trustme_certificate(tls):
    der = der_of(tls)
    assert certificate_hash(der) == hashlib.sha256(der).digest()
    assert tls_server_end_point(der) == b"tls-server-end-point:" + hashlib.sha256(der).digest()


def test_tls_server_end_point_hash_selection():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sha384 = self_signed(rsa_key, hashes.SHA384())
    assert certificate_hash(sha384) == hashlib.sha384(sha384).digest()
    sha512 = self_signed(rsa_key, hashes.SHA512())
    assert certificate_hash(sha512) == hashlib.sha512(sha512).digest()
    # cryptography no longer signs with SHA-1/MD5: relabel the algorithm OIDs (same length).
    sha256_rsa = bytes.fromhex("2a864886f70d01010b")
    original = self_signed(rsa_key, hashes.SHA256())
    for last, label in ((b"\x05", "sha1"), (b"\x04", "md5"), (b"\x7f", None)):
        relabelled = original.replace(sha256_rsa, sha256_rsa[:-1] + last)
        if label is not None:  # sha1WithRSAEncryption, md5WithRSAEncryption
            algorithm = x509.load_der_x509_certificate(relabelled).signature_hash_algorithm
            assert algorithm is not None
            assert algorithm.name == label
        else:  # 1.2.840.113549.1.1.127: unknown to cryptography
            with pytest.raises(UnsupportedAlgorithm):
                _ = x509.load_der_x509_certificate(relabelled).signature_hash_algorithm
        assert certificate_hash(relabelled) == hashlib.sha256(relabelled).digest()
    ed = self_signed(ed25519.Ed25519PrivateKey.generate(), None)
    assert certificate_hash(ed) == hashlib.sha256(ed).digest()
    with pytest.raises(ValueError):
        certificate_hash(b"not a certificate")


# -- over a real TLS connection -------------------------------------------------------------


@pytest.fixture
def tls_server(tls: Tls) -> Iterator[tuple[int, ssl.SSLContext]]:
    """HTTP/1.1 over TLS on 127.0.0.1; one ConnectionAuth per TCP connection, EPA required."""
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(tls.cert_pem, tls.key_pem)
    binding = tls_server_end_point(der_of(tls))
    policy = AuthPolicy(methods=("negotiate", "ntlm"), require_channel_binding=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 5

        def setup(self):
            self.request.settimeout(5)
            self.request = server_tls.wrap_socket(self.request, server_side=True)
            super().setup()
            self.auth = ConnectionAuth(policy, ACCOUNTS, binding)

        def finish(self):
            super().finish()
            self.request.close()  # wrap_socket detached the socket socketserver will close

        def do_GET(self):
            result = self.auth.authenticate(self.headers.get("Authorization"))
            body = (result.identity or "").encode()
            self.send_response(result.status)
            for name, value in result.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # keep stderr clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_tls = tls.context()
    try:
        yield server.server_address[1], client_tls
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def get(connection: http.client.HTTPSConnection, authorization: str | None):
    connection.request("GET", "/mapi/emsmdb/", headers={"Authorization": authorization}
                       if authorization else {})
    response = connection.getresponse()
    challenges = response.headers.get_all("WWW-Authenticate") or []
    return response.status, challenges, response.read().decode()


@pytest.mark.parametrize("send_cbt", [True, False])
def test_ntlm_with_extended_protection_over_tls(tls_server, send_cbt):
    port, client_tls = tls_server
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=client_tls, timeout=5)
    try:
        status, challenge, _ = get(connection, None)
        assert (status, challenge) == (401, ["Negotiate", "NTLM"])
        assert connection.sock is not None
        peer = connection.sock.getpeercert(True)  # the client's own view of the certificate
        assert peer is not None
        cbt = b"tls-server-end-point:" + hashlib.sha256(peer).digest() if send_cbt else None
        client = make_client("CONTOSO\\alice", PASSWORD, "negotiate", cbt)
        status, (challenge,), _ = get(connection, "Negotiate " + b64(client.step()))
        assert status == 401
        type3 = client.step(base64.b64decode(challenge.removeprefix("Negotiate ")))
        status, _, body = get(connection, "Negotiate " + b64(type3))
        assert (status, body) == ((200, "alice@contoso.com") if send_cbt else (401, ""))
        assert get(connection, None)[0] == (200 if send_cbt else 401)  # same TCP connection
    finally:
        connection.close()
    other = http.client.HTTPSConnection("127.0.0.1", port, context=client_tls, timeout=5)
    try:
        assert get(other, None)[0] == 401
    finally:
        other.close()
