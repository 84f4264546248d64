"""Mutual TLS: ssl_context() loads --client-cert/--client-key (with the key's passphrase)
into whichever context it builds; a file that cannot be used is UNKNOWN with a one-line
reason that never contains the passphrase. The emulator does not ask for client
certificates, so a small local TLS server that requires one stands in for Exchange."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from check_mapi.deadline import Deadline
from check_mapi.errors import ConfigError, TransportError
from check_mapi.settings import ConnectionSettings, Secret
from check_mapi.transport.client import Transport, ssl_context

from ..conftest import Emulators
from .conftest import PASSPHRASE, Pki, direct, toml


class Client:
    """A client certificate and its key, plain and encrypted, from a CA of its own."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        leaf = self.ca.issue_cert("monitoring.contoso.com",
                                  common_name="monitoring.contoso.com")
        self.ca_pem, self.cert, self.key = (folder / "client-ca.pem", folder / "client.pem",
                                            folder / "client.key")
        self.encrypted, self.both = folder / "client-enc.key", folder / "client-both.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_pem))
        leaf.cert_chain_pems[0].write_to_path(str(self.cert))
        leaf.private_key_pem.write_to_path(str(self.key))
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
        self.encrypted.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode())))
        self.both.write_bytes(self.cert.read_bytes() + self.key.read_bytes())


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(tmp_path)


@contextlib.contextmanager
def requiring_client_certs(pki: Pki, client_ca: Path) -> Iterator[str]:
    """An HTTPS server on loopback that refuses a client without a certificate from
    ``client_ca``; it answers with the subject of the certificate it got."""
    server_tls = pki.issue()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_tls.cert_pem, server_tls.key_pem)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(client_ca))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            with contextlib.suppress(OSError), context.wrap_socket(
                    raw, server_side=True) as conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                peer = x509.load_der_x509_certificate(conn.getpeercert(True) or b"")
                subject = peer.subject.rfc4514_string().encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: "
                             + str(len(subject)).encode() + b"\r\n\r\n" + subject)
            raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def get(settings: ConnectionSettings, url: str) -> bytes:
    with Transport(settings, ssl_context(settings)) as transport:
        reply = transport.request("GET", url, [], b"", Deadline.after(5), max_bytes=4096)
    assert reply.status == 200
    return reply.body


def secret(value: str = PASSPHRASE) -> Secret:
    return Secret(value, "$CHECK_MAPI_KEY_PASSWORD")


def test_mutual_tls(pki: Pki, client: Client) -> None:
    with requiring_client_certs(pki, client.ca_pem) as url:
        trust = str(pki.ca_pem)
        for settings in (
                ConnectionSettings(ca_file=trust, client_cert=str(client.cert),
                                   client_key=str(client.key)),
                ConnectionSettings(ca_file=trust, client_cert=str(client.both)),
                ConnectionSettings(ca_file=trust, client_cert=str(client.cert),
                                   client_key=str(client.encrypted),
                                   client_key_secret=secret()),
                ConnectionSettings(insecure=True, client_cert=str(client.both))):
            assert get(settings, url).startswith(b"CN=monitoring.contoso.com,")
        with pytest.raises(TransportError):  # no client certificate: the server refuses
            get(ConnectionSettings(ca_file=trust), url)


def test_default_verification_with_a_client_certificate(pki: Pki, client: Client) -> None:
    """Not ``True`` then: a context of its own, verifying as httpx would (certifi)."""
    verify = ssl_context(ConnectionSettings(client_cert=str(client.both)))
    assert isinstance(verify, ssl.SSLContext)
    assert verify.verify_mode is ssl.CERT_REQUIRED and verify.check_hostname
    assert verify.get_ca_certs() == []  # certifi's CAs come with the first TLS connection
    verify.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="mail.contoso.com")
    assert len(verify.get_ca_certs()) > 50  # certifi's
    with requiring_client_certs(pki, client.ca_pem) as url, pytest.raises(
            TransportError, match=r"^TLS certificate of 127\.0\.0\.1 is not trusted"):
        get(ConnectionSettings(client_cert=str(client.both)), url)
    assert ssl_context(ConnectionSettings(insecure=True)) is False


def problem(tmp_path: Path, client: Client, **settings: object) -> str:
    with pytest.raises(ConfigError) as caught:
        ssl_context(ConnectionSettings(**settings))  # type: ignore[arg-type]
    text = str(caught.value)
    assert caught.value.state == 3
    assert "\n" not in text and PASSPHRASE not in text and "wrong-one" not in text
    return text.replace(str(tmp_path), "D")


def test_errors(tmp_path: Path, client: Client) -> None:
    cert, key, enc = str(client.cert), str(client.key), str(client.encrypted)
    other = trustme.CA().issue_cert("x")
    other.private_key_pem.write_to_path(str(tmp_path / "other.key"))
    (tmp_path / "junk.pem").write_text("not PEM\n")
    assert problem(tmp_path, client, client_cert=str(tmp_path / "nope.pem")) == (
        "--client-cert D/nope.pem: cannot read it (No such file or directory)")
    assert problem(tmp_path, client, client_cert=cert, client_key="D/nope.key") == (
        "--client-key D/nope.key: cannot read it (No such file or directory)")
    assert problem(tmp_path, client, client_cert=cert) == (
        "--client-cert D/client.pem: no PEM private key in it; give the key with "
        "--client-key")
    assert problem(tmp_path, client, client_cert=str(tmp_path / "junk.pem"),
                   client_key=key) == "--client-cert D/junk.pem: no PEM certificate in it"
    assert problem(tmp_path, client, client_cert=cert, client_key=cert) == (
        "--client-key D/client.pem: no PEM private key in it")
    assert problem(tmp_path, client, client_cert=cert, client_key=enc) == (
        "--client-key D/client-enc.key is encrypted: give its passphrase with "
        "--client-key-password-file or $CHECK_MAPI_KEY_PASSWORD")
    assert problem(tmp_path, client, client_cert=cert, client_key=enc,
                   client_key_secret=secret("wrong-one")) == (
        "--client-key D/client-enc.key: wrong passphrase (from $CHECK_MAPI_KEY_PASSWORD), "
        "or the key is damaged")
    assert problem(tmp_path, client, client_cert=cert, client_key=str(tmp_path / "other.key")
                   ) == "--client-key D/other.key is not the key of --client-cert D/client.pem"
    assert problem(tmp_path, client, client_cert=cert, client_key=enc,
                   client_key_secret=secret("x" * 2000)) == (
        "the passphrase of --client-key D/client-enc.key is too long (from "
        "$CHECK_MAPI_KEY_PASSWORD)")
    assert problem(tmp_path, client, insecure=True, client_cert=cert, client_key=enc) == (
        "--client-key D/client-enc.key is encrypted: give its passphrase with "
        "--client-key-password-file or $CHECK_MAPI_KEY_PASSWORD")


def test_cli(start: Emulators, pki: Pki, client: Client, tmp_path: Path) -> None:
    """The emulator asks for no client certificate: loading it must not disturb the run."""
    emulator = start(toml(), tls=pki.issue())
    trust = ("--ca-file", str(pki.ca_pem), "--client-cert", str(client.cert),
             "--client-key", str(client.encrypted))
    outcome = direct(emulator, *trust, env={"CHECK_MAPI_KEY_PASSWORD": PASSPHRASE})
    assert outcome.code == 0, outcome.output
    password_file = tmp_path / "key.password"
    password_file.write_text(PASSPHRASE + "\n")
    os.chmod(password_file, 0o600)
    outcome = direct(emulator, *trust, "--client-key-password-file", str(password_file))
    assert outcome.code == 0, outcome.output
    outcome = direct(emulator, *trust, env={"CHECK_MAPI_KEY_PASSWORD": "wrong-one"})
    assert outcome.code == 3
    assert outcome.output == (f"MAPI UNKNOWN - --client-key {client.encrypted}: wrong "
                              "passphrase (from $CHECK_MAPI_KEY_PASSWORD), or the key is "
                              "damaged\n")
    assert PASSPHRASE not in outcome.output
