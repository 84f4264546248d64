"""The identity provider's tokens: its signing key, the JWTs it issues (access and ID tokens,
``client_info``), the Bearer check of Exchange's side, and client assertions it verifies.

Access tokens look like Entra's v1 tokens for Exchange Online (``aud``
``https://outlook.office365.com``, ``iss`` ``https://sts.windows.net/<tid>/``): delegated ones
carry ``scp`` and ``upn``, app-only ones ``roles`` and no ``scp``. They are signed RS256 with a
key generated when the emulator starts, so tokens of another emulator run are refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .config import Mailbox
from .idp_config import MAPI_SCOPE, OFFICE_CLIENT_ID, IdentityApp, IdentitySettings

RESOURCE = "https://outlook.office365.com"
AUDIENCES = (RESOURCE, "https://outlook.office.com", "00000002-0000-0ff1-ce00-000000000000")
ASSERTION_ALGORITHMS = ("RS256", "PS256")
SKEW = 300  # seconds of clock skew allowed for client assertions, as Entra does


class IdpError(Exception):
    """An Entra-shaped OAuth error: ``error``, AADSTS ``code``, message, HTTP status."""

    def __init__(self, error: str, code: int, message: str, status: int = 400,
                 suberror: str | None = None, **extra: Any) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.error, self.code, self.message, self.status = error, code, message, status
        self.suberror, self.extra = suberror, extra


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def user_oid(mailbox: Mailbox) -> str:
    """The user's Entra object id (stable per SMTP address)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"oid:{mailbox.smtp.lower()}"))


def app_oid(client_id: str) -> str:
    """The object id of an application's service principal."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{client_id.lower()}"))


def utc_text(moment: float) -> str:
    """Entra's timestamp format: ``2026-01-09 02:02:12Z``."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


class Signer:
    """The provider's RSA key: signs tokens, publishes its JWKS, verifies its own tokens.

    The key is generated on first use (about 70 ms), so an emulator whose clients never
    come to the identity provider does not pay for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        self._kid = ""

    def _private(self) -> tuple[rsa.RSAPrivateKey, str]:
        with self._lock:
            if self._key is None:
                self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                der = self._key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
                self._kid = b64url(hashlib.sha1(der).digest())  # an identifier, like Entra's
            return self._key, self._kid

    def sign(self, claims: dict[str, Any]) -> str:
        key, kid = self._private()
        return jwt.encode(claims, key, algorithm="RS256",
                          headers={"typ": "JWT", "kid": kid, "x5t": kid})

    def jwks(self) -> dict[str, Any]:
        key, kid = self._private()
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update(use="sig", kid=kid, x5t=kid)
        return {"keys": [jwk]}

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a token this key signed; raises ``jwt.InvalidTokenError``."""
        key, _ = self._private()
        claims: dict[str, Any] = jwt.decode(token, key.public_key(), algorithms=["RS256"],
                                            options={"verify_exp": False, "verify_nbf": False,
                                                     "verify_iat": False, "verify_aud": False})
        return claims


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token is for: a mailbox user (delegated, ``scopes``) or an app (``roles``)."""

    client_id: str
    app_name: str
    mailbox: Mailbox | None = None
    scopes: tuple[str, ...] = ()  # short names, e.g. MapiHttp.AccessAsUser.All
    roles: tuple[str, ...] = ()
    amr: tuple[str, ...] = ("pwd",)


def app_name(client_id: str, app: IdentityApp | None) -> str:
    if app is not None:
        return app.display_name
    return "Microsoft Office" if client_id.lower() == OFFICE_CLIENT_ID else "Public client"


def access_token(signer: Signer, settings: IdentitySettings, grant: Grant, now: float) -> str:
    tid = str(settings.tenant_id)
    claims: dict[str, Any] = {
        "aud": RESOURCE, "iss": f"https://sts.windows.net/{tid}/", "iat": int(now),
        "nbf": int(now), "exp": int(now) + settings.access_token_seconds,
        "app_displayname": grant.app_name, "appid": grant.client_id, "tid": tid,
        "uti": b64url(secrets.token_bytes(16)), "ver": "1.0"}
    if grant.mailbox is None:
        oid = app_oid(grant.client_id)
        claims.update(appidacr="2", idp=claims["iss"], idtyp="app", oid=oid, sub=oid,
                      roles=list(grant.roles))
        return signer.sign(claims)
    box = grant.mailbox
    claims.update(acr="1", amr=list(grant.amr), appidacr="0", idtyp="user", ipaddr="127.0.0.1",
                  name=box.display_name, oid=user_oid(box), scp=" ".join(grant.scopes),
                  sub=b64url(hashlib.sha256(f"{user_oid(box)}|{grant.client_id}".encode())
                             .digest()), unique_name=box.upn, upn=box.upn)
    return signer.sign(claims)


def id_token(signer: Signer, issuer: str, settings: IdentitySettings, grant: Grant,
             now: float) -> str:
    """OpenID Connect ID token (v2): msal reads preferred_username, oid, sub, tid from it."""
    box = grant.mailbox
    assert box is not None
    return signer.sign({
        "aud": grant.client_id, "iss": issuer, "iat": int(now), "nbf": int(now),
        "exp": int(now) + 3600, "name": box.display_name, "oid": user_oid(box),
        "preferred_username": box.upn, "sub": b64url(hashlib.sha256(
            f"{user_oid(box)}|{grant.client_id}|id".encode()).digest()),
        "tid": str(settings.tenant_id), "uti": b64url(secrets.token_bytes(16)), "ver": "2.0"})


def client_info(settings: IdentitySettings, mailbox: Mailbox) -> str:
    """base64url JSON {uid, utid}: msal's home_account_id is "<uid>.<utid>"."""
    info = {"uid": user_oid(mailbox), "utid": str(settings.tenant_id)}
    return b64url(json.dumps(info, separators=(",", ":")).encode())


# -- Exchange's side: the Bearer check -----------------------------------------------------

def _diagnostics(reason: str, category: str = "invalid_token", code: int = 2000001) -> str:
    return f'{code};reason="{reason}";error_category="{category}"'


class _RefusedError(Exception):
    """A Bearer token Exchange refuses; ``str()`` is the x-ms-diagnostics value."""


def check_bearer(signer: Signer, settings: IdentitySettings, mailboxes: Collection[Mailbox],
                 token: str, now: float) -> tuple[str | None, str]:
    """(SMTP address, "") for a delegated MAPI token this provider issued; else (None,
    ``x-ms-diagnostics`` value saying why Exchange refuses it)."""
    try:
        return _mailbox_of(signer.claims(token), settings, mailboxes, now).smtp, ""
    except jwt.InvalidSignatureError:
        return None, _diagnostics("The token has an invalid signature.")
    except jwt.InvalidTokenError:
        return None, _diagnostics("OAuth token submitted with the request cannot be parsed.")
    except _RefusedError as refused:
        return None, str(refused)


def _mailbox_of(claims: dict[str, Any], settings: IdentitySettings,
                mailboxes: Collection[Mailbox], now: float) -> Mailbox:
    aud = claims.get("aud")
    if aud not in AUDIENCES:
        raise _RefusedError(_diagnostics(f"The audience claim value is invalid '{aud}'.",
                                    "invalid_resource", 2000003))
    if claims.get("iss") != f"https://sts.windows.net/{settings.tenant_id}/":
        raise _RefusedError(_diagnostics("The token issuer is not trusted."))
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int) or exp <= now:
        raise _RefusedError(_diagnostics("The token has expired."))
    if isinstance(nbf, int) and nbf > now + SKEW:
        raise _RefusedError(_diagnostics("The token is not yet valid."))
    scopes = str(claims.get("scp", "")).split()
    if not scopes:
        kind = "an app-only token (roles, no scp)" if "roles" in claims else "without scp"
        raise _RefusedError(_diagnostics(f"The token is {kind}: MAPI over HTTP needs a delegated "
                                    f"token with the scope {MAPI_SCOPE}."))
    if MAPI_SCOPE not in scopes:
        raise _RefusedError(_diagnostics(f"The token lacks the scope {MAPI_SCOPE} "
                                    f"(scp: {' '.join(scopes)})."))
    upn = str(claims.get("upn", "")).lower()
    mailbox = next((m for m in mailboxes if m.upn.lower() == upn), None)
    if mailbox is None:
        raise _RefusedError(_diagnostics(f"The user '{upn}' has no mailbox in this organization."))
    return mailbox


# -- client assertions (RFC 7523 client authentication with a certificate) -----------------

def verify_assertion(app: IdentityApp, assertion: str, audiences: Collection[str],
                     now: float) -> None:
    """Raise :class:`IdpError` unless ``assertion`` is a JWT signed with one of the app's
    certificates (x5t#S256 or x5t naming it), for a token endpoint of this provider, issued by
    and about the app itself, and not expired."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError:
        raise IdpError("invalid_client", 50027, "JWT token is invalid or malformed.",
                       401) from None
    alg = header.get("alg")
    if alg not in ASSERTION_ALGORITHMS:
        raise IdpError("invalid_client", 5002738, f"Invalid JWT token. '{alg}' is not a "
                       f"supported signature algorithm. Supported signing algorithms are: "
                       f"'{', '.join(ASSERTION_ALGORITHMS)}'", 401)
    cert = _certificate(app, header)
    try:
        claims = jwt.decode(assertion, cert.public_key, algorithms=[alg],
                            options={"verify_exp": False, "verify_nbf": False,
                                     "verify_iat": False, "verify_aud": False})
    except jwt.InvalidTokenError:
        raise _bad_signature(app, cert.sha1.hex().upper(), "The provided signature value did "
                             "not match the expected signature value.") from None
    if claims.get("aud") not in audiences:
        raise IdpError("invalid_client", 700023, "Client assertion audience claim does not "
                       "match Realm issuer.", 401)
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise IdpError("invalid_client", 700021, "Client assertion application identifier "
                       "doesn't match 'client_id' parameter.", 401)
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat", now))
    if not isinstance(exp, (int, float)) or exp + SKEW <= now or (
            isinstance(nbf, (int, float)) and nbf - SKEW > now):
        raise IdpError("invalid_client", 700024, f"Client assertion is not within its valid "
                       f"time range. Current time: {utc_text(now)}, expiry time of assertion "
                       f"{utc_text(exp) if isinstance(exp, (int, float)) else 'missing'}.", 401)


def _certificate(app: IdentityApp, header: dict[str, Any]) -> Any:
    for name, attr in (("x5t#S256", "sha256"), ("x5t", "sha1")):
        value = header.get(name)
        if not isinstance(value, str):
            continue
        try:
            thumbprint = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except ValueError:
            thumbprint = b""
        for cert in app.certificates:
            if getattr(cert, attr) == thumbprint:
                return cert
        raise _bad_signature(app, thumbprint.hex().upper(), "The key was not found.")
    raise _bad_signature(app, "", "The key was not found.")


def _bad_signature(app: IdentityApp, thumbprint: str, reason: str) -> IdpError:
    return IdpError("invalid_client", 700027, f"Client assertion contains an invalid "
                    f"signature. [Reason - {reason}, Thumbprint of key used by client: "
                    f"'{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly "
                    f"use MS Graph to see configured keys for app Id '{app.client_id}'.]", 401)
