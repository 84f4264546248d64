"""The ``[identity]`` section: the built-in identity provider that stands in for Entra ID.

Only present when the configuration has an ``[identity]`` table; parsed strictly like the
rest (:class:`.tables.Table`). Applications (``[[identity.app]]``) are confidential clients
with certificates for the client-credentials grant; public clients (``public_client_ids``)
get delegated Exchange tokens.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .tables import Table

OFFICE_CLIENT_ID = "d3590ed6-52b3-4102-aeff-aad2292ab01c"  # "Microsoft Office", public client
EXCHANGE_SCOPES = ("EWS.AccessAsUser.All", "MapiHttp.AccessAsUser.All")
MAPI_SCOPE = "MapiHttp.AccessAsUser.All"


@dataclass(frozen=True, slots=True)
class Certificate:
    """A public certificate registered on an application (Entra: "Certificates & secrets")."""

    pem: str
    sha1: bytes  # x5t
    sha256: bytes  # x5t#S256
    public_key: Any  # an RSA public key of ``cryptography``

    @classmethod
    def from_pem(cls, pem: str) -> Certificate:
        from cryptography import x509  # only a configuration with certificates needs it
        from cryptography.hazmat.primitives import serialization

        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        der = cert.public_bytes(serialization.Encoding.DER)
        return cls(pem, hashlib.sha1(der).digest(), hashlib.sha256(der).digest(),
                   cert.public_key())


@dataclass(frozen=True, slots=True)
class IdentityApp:
    """A confidential client: app-only tokens carry ``roles``, never ``scp``."""

    client_id: str
    display_name: str
    certificates: tuple[Certificate, ...]
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    tenant: str  # e.g. contoso.onmicrosoft.com
    tenant_id: uuid.UUID
    access_token_seconds: int = 3600
    refresh_token_seconds: int = 90 * 86400  # Entra: 90 days of inactivity
    device_code_seconds: int = 900
    device_code_interval: int = 5
    reuse_refresh_tokens: bool = True  # Entra: a used refresh token stays valid
    public_client_ids: tuple[str, ...] = (OFFICE_CLIENT_ID,)
    delegated_scopes: tuple[str, ...] = EXCHANGE_SCOPES
    apps: tuple[IdentityApp, ...] = ()

    def app(self, client_id: str) -> IdentityApp | None:
        wanted = client_id.strip().lower()
        return next((a for a in self.apps if a.client_id.lower() == wanted), None)

    def is_public_client(self, client_id: str) -> bool:
        return client_id.strip().lower() in (c.lower() for c in self.public_client_ids)


def _seconds(t: Table, name: str, default: int) -> int:
    value: int = t.get(name, int, default)
    if value < 1:
        raise ConfigError(f"{t.key(name)}: must be at least 1")
    return value


def _strings(t: Table, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    values = t.get(name, list, list(default))
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(f"{t.key(name)}: must be an array of non-empty strings")
    return tuple(v.strip() for v in values)


def _client_id(t: Table, name: str, value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ConfigError(f"{t.key(name)}: {value!r} is not a GUID") from None


def _certificate(t: Table, n: int, text: str) -> Certificate:
    key = f"{t.key('certificates')}[{n}]"
    if "-----BEGIN" not in text:
        try:
            text = Path(text).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{key}: cannot read {text}: {err}") from None
    try:
        return Certificate.from_pem(text)
    except ValueError:
        raise ConfigError(f"{key}: not a PEM X.509 certificate") from None


def _app(t: Table) -> IdentityApp:
    client_id = _client_id(t, "client_id", t.require("client_id", str))
    texts = _strings(t, "certificates", ())
    if not texts:
        raise ConfigError(f"{t.key('certificates')}: at least one certificate is needed")
    app = IdentityApp(client_id=client_id, display_name=t.get("display_name", str, "Monitoring"),
                      certificates=tuple(_certificate(t, n, x) for n, x in enumerate(texts)),
                      roles=_strings(t, "roles", ("full_access_as_app",)))
    t.done()
    return app


def parse_identity(t: Table) -> IdentitySettings:
    tenant = t.require("tenant", str).strip().lower()
    if not tenant or "/" in tenant or any(c.isspace() for c in tenant):
        raise ConfigError(f"{t.key('tenant')}: {tenant!r} is not a tenant name")
    default_id = uuid.uuid5(uuid.NAMESPACE_DNS, tenant)
    tenant_id = t.get("tenant_id", str)
    d = IdentitySettings(tenant, default_id)
    settings = IdentitySettings(
        tenant=tenant,
        tenant_id=uuid.UUID(_client_id(t, "tenant_id", tenant_id)) if tenant_id else default_id,
        access_token_seconds=_seconds(t, "access_token_seconds", d.access_token_seconds),
        refresh_token_seconds=_seconds(t, "refresh_token_seconds", d.refresh_token_seconds),
        device_code_seconds=_seconds(t, "device_code_seconds", d.device_code_seconds),
        device_code_interval=_seconds(t, "device_code_interval", d.device_code_interval),
        reuse_refresh_tokens=t.get("reuse_refresh_tokens", bool, d.reuse_refresh_tokens),
        public_client_ids=tuple(_client_id(t, "public_client_ids", c) for c in _strings(
            t, "public_client_ids", d.public_client_ids)),
        delegated_scopes=_strings(t, "delegated_scopes", d.delegated_scopes),
        apps=tuple(_app(a) for a in t.tables("app")))
    seen: set[str] = set()
    for n, app in enumerate(settings.apps):
        if app.client_id in seen or app.client_id in settings.public_client_ids:
            raise ConfigError(f"{t.key('app')}[{n}].client_id: {app.client_id} is used twice")
        seen.add(app.client_id)
    t.done()
    return settings
