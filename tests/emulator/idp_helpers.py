"""Shared pieces of the identity-provider tests: a configuration with an ``[identity]``
section, an application certificate, and the ``requests`` session msal gets as its
``http_client`` (trusts only the test CA, routes msal's user-realm request, which goes to
port 443 of the authority's host, to the emulator's port, and records every request)."""

from __future__ import annotations

import datetime
import functools
import hashlib
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from check_mapi.emulator import Emulator

from ..conftest import Emulators, Tls
from .emu_helpers import PASSWORD, RULER_DN, RULER_GUID, TIMEOUT

OFFICE = "d3590ed6-52b3-4102-aeff-aad2292ab01c"
APP_ID = "0d5c5a2e-6f4b-4c1e-9a77-3b1f2a9e8c10"
UNKNOWN_CLIENT = "11111111-2222-3333-4444-555555555555"
SCOPE = "https://outlook.office365.com/.default"
TENANT = "contoso.onmicrosoft.com"
PROBE = "probe@contoso.test"
MFA_PASSWORD = "Mfa-Pass1"
REVOKED_PASSWORD = "Revoked-Pass1"


@dataclass(frozen=True)
class Credential:
    """An RSA key and its self-signed certificate, as PEM text, with its thumbprints."""

    key_pem: str
    cert_pem: str
    sha1: str  # hex

    def msal(self, sha256: bool = True) -> dict[str, str]:
        """msal's client_credential: PS256 + x5t#S256, or (deprecated form) RS256 + x5t."""
        if sha256:
            return {"private_key": self.key_pem, "public_certificate": self.cert_pem}
        return {"private_key": self.key_pem, "thumbprint": self.sha1}


@functools.cache
def credential(name: str = "app") -> Credential:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"check_mapi test {name}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    der = cert.public_bytes(serialization.Encoding.DER)
    return Credential(key_pem, cert.public_bytes(serialization.Encoding.PEM).decode(),
                      hashlib.sha1(der).hexdigest())  # x5t is SHA-1


def idp_config(identity: str = "", auth: str = '["basic", "bearer"]') -> str:
    """Three mailboxes (probe; mfa: MFA required; revoked: refresh tokens refused) and the
    application APP_ID with credential("app")."""
    return f'''
[server]
pending_period_ms = 50

[auth]
methods = {auth}

[identity]
tenant = "{TENANT}"
device_code_interval = 1
{identity}

[[identity.app]]
client_id = "{APP_ID}"
display_name = "Monitoring"
certificates = [\'\'\'{credential().cert_pem}\'\'\']

[[mailbox]]
smtp = "{PROBE}"
username = "probe"
password = "{PASSWORD}"
tokens = ["token-probe"]
legacy_dn = "{RULER_DN}"
mailbox_guid = "{RULER_GUID}"
display_name = "Probe"

[[mailbox]]
smtp = "mfa@contoso.test"
password = "{MFA_PASSWORD}"
mfa_required = true

[[mailbox]]
smtp = "revoked@contoso.test"
password = "{REVOKED_PASSWORD}"
refresh_tokens_revoked = true
'''


class RoutedSession(requests.Session):
    """msal's http_client: trusts the test CA only, ignores the environment, sends the
    portless ``https://127.0.0.1/`` URLs (user realm discovery) to the emulator's port, and
    records (method, URL as msal built it, form data) of every request."""

    def __init__(self, emulator: Emulator, tls: Tls) -> None:
        super().__init__()
        self.verify = str(tls.ca_pem)
        self.trust_env = False
        self.port_base = emulator.url
        self.log: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        assert isinstance(method, str) and isinstance(url, str)
        data = kwargs.get("data")
        self.log.append((method, url, dict(data) if isinstance(data, dict) else {}))
        if url.startswith("https://127.0.0.1/"):
            url = self.port_base + url[len("https://127.0.0.1"):]
        return super().request(method, url, *args, **kwargs)

    def paths(self) -> list[str]:
        """(method path) of each request, query and host left out."""
        return [f"{m} {u.split('://', 1)[1].split('/', 1)[1].split('?')[0]}"
                for m, u, _ in self.log]


@pytest.fixture
def idp(start: Emulators, tls: Tls) -> Emulator:
    """An emulator on TLS with the identity provider of idp_config()."""
    return start(idp_config(), tls=tls)


def public_app(emu: Emulator, tls: Tls, client_id: str = OFFICE,
               cache: msal.TokenCache | None = None,
               **kwargs: Any) -> tuple[msal.PublicClientApplication, RoutedSession]:
    session = RoutedSession(emu, tls)
    app = msal.PublicClientApplication(client_id, authority=emu.authority,
                                       instance_discovery=False, http_client=session,
                                       token_cache=cache, **kwargs)
    return app, session


def claims(token: str) -> dict[str, Any]:
    """A JWT's claims, without verification (the tests verify against the JWKS elsewhere)."""
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def http(tls: Tls) -> httpx.Client:
    return httpx.Client(verify=tls.context(), timeout=TIMEOUT)


def token_url(emu: Emulator, tenant: str = TENANT) -> str:
    return f"{emu.url}/{tenant}/oauth2/v2.0/token"


def password_grant(client: httpx.Client, emu: Emulator, user: str = PROBE,
                   password: str = PASSWORD, client_id: str = OFFICE,
                   scope: str = f"{SCOPE} offline_access openid profile",
                   **extra: str) -> httpx.Response:
    """The password grant as msal sends it, straight to the token endpoint."""
    return client.post(token_url(emu), data={
        "client_id": client_id, "grant_type": "password", "username": user,
        "password": password, "scope": scope, "client_info": "1", **extra})


def user_token(client: httpx.Client, emu: Emulator) -> dict[str, Any]:
    answer = password_grant(client, emu)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body
