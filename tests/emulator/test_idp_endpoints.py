"""The identity provider's endpoints over plain HTTP requests: discovery documents, the
token endpoint's errors that msal cannot be made to produce, the emulator's own hooks, and
the ``[identity]`` configuration."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from check_mapi.emulator import Emulator, loads
from check_mapi.errors import ConfigError

from ..conftest import Emulators, Tls
from .emu_helpers import BASE_CONFIG, PASSWORD
from .idp_helpers import (
    APP_ID,
    OFFICE,
    PROBE,
    SCOPE,
    TENANT,
    credential,
    http,
    idp,
    idp_config,
    password_grant,
    token_url,
    user_token,
)

__all__ = ["idp"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def tid(emu: Emulator) -> str:
    assert emu.config.identity is not None
    return str(emu.config.identity.tenant_id)


@pytest.mark.parametrize("tenant", [TENANT, "CONTOSO.onmicrosoft.com", "contoso.test", "guid"])
def test_openid_configuration_of_the_tenant(idp: Emulator, tls: Tls, tenant: str) -> None:
    tenant = tid(idp) if tenant == "guid" else tenant
    with http(tls) as client:
        answer = client.get(f"{idp.url}/{tenant}/v2.0/.well-known/openid-configuration")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    doc = answer.json()
    root = f"{idp.url}/{tid(idp)}"
    assert doc["issuer"] == f"{root}/v2.0"
    assert (doc["token_endpoint"], doc["device_authorization_endpoint"], doc["jwks_uri"]) == (
        f"{root}/oauth2/v2.0/token", f"{root}/oauth2/v2.0/devicecode",
        f"{root}/discovery/v2.0/keys")
    assert doc["authorization_endpoint"] == f"{root}/oauth2/v2.0/authorize"
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]


def test_multi_tenant_and_unknown_tenants(idp: Emulator, tls: Tls) -> None:
    with http(tls) as client:
        doc = client.get(f"{idp.url}/organizations/v2.0/.well-known/openid-configuration")
        unknown = client.get(f"{idp.url}/fabrikam.com/v2.0/.well-known/openid-configuration")
        token = client.post(f"{idp.url}/fabrikam.com/oauth2/v2.0/token",
                            data={"grant_type": "password"})
    assert doc.json()["issuer"] == f"{idp.url}/{{tenantid}}/v2.0"
    assert doc.json()["token_endpoint"] == f"{idp.url}/organizations/oauth2/v2.0/token"
    for answer in (unknown, token):
        assert answer.status_code == 400
        assert (answer.json()["error"], answer.json()["error_codes"]) == ("invalid_tenant",
                                                                          [90002])
    assert idp.stats().identity_requests == {"openid_configuration": 2, "token:password": 1}
    assert idp.stats().requests == {"identity": 3}


def test_user_realm(idp: Emulator, tls: Tls) -> None:
    with http(tls) as client:
        managed = client.get(f"{idp.url}/common/userrealm/{PROBE}?api-version=1.0").json()
        other = client.get(f"{idp.url}/common/UserRealm/x%40fabrikam.com?api-version=1.0")
    assert managed == {"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.test",
                       "cloud_instance_name": "microsoftonline.com",
                       "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
    assert other.json()["account_type"] == "Unknown"


@pytest.mark.parametrize(("form", "error", "code"), [
    ({}, "invalid_request", 900144),
    ({"grant_type": "authorization_code", "client_id": OFFICE}, "unsupported_grant_type", 70003),
    ({"grant_type": "password", "client_id": OFFICE, "username": PROBE, "password": PASSWORD,
      "scope": SCOPE, "client_secret": "s"}, "invalid_client", 700025),
    ({"grant_type": "password", "client_id": OFFICE, "username": PROBE, "password": PASSWORD,
      "scope": "https://graph.microsoft.com/.default"}, "invalid_resource", 500011),
    ({"grant_type": "password", "client_id": OFFICE, "username": PROBE, "password": PASSWORD,
      "scope": "openid profile"}, "invalid_scope", 70011),
    ({"grant_type": "refresh_token", "client_id": OFFICE, "refresh_token": "1.AQnope"},
     "invalid_grant", 70000),
    ({"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": OFFICE,
      "device_code": "nope"}, "invalid_grant", 70000),
    ({"grant_type": "client_credentials", "client_id": APP_ID, "scope": SCOPE},
     "invalid_client", 7000218),
    ({"grant_type": "client_credentials", "client_id": APP_ID, "scope": SCOPE,
      "client_secret": "s"}, "invalid_client", 7000215),
    ({"grant_type": "client_credentials", "client_id": OFFICE, "scope": SCOPE},
     "invalid_client", 7000218),
])
def test_token_endpoint_errors(idp: Emulator, tls: Tls, form: dict[str, str], error: str,
                               code: int) -> None:
    with http(tls) as client:
        answer = client.post(token_url(idp), data=form,
                             headers={"client-request-id": "c0ffee00-0000-4000-8000-0000000000aa"})
    status = 401 if error == "invalid_client" else 400
    assert answer.status_code == status
    body = answer.json()
    assert (body["error"], body["error_codes"]) == (error, [code])
    assert body["correlation_id"] == "c0ffee00-0000-4000-8000-0000000000aa"
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert body["error_uri"] == f"{idp.url}/error?code={code}"
    assert answer.headers["x-ms-request-id"] == body["trace_id"]


def test_token_endpoint_takes_only_post(idp: Emulator, tls: Tls) -> None:
    with http(tls) as client:
        answer = client.get(token_url(idp))
    assert (answer.status_code, answer.json()["error_codes"]) == (400, [900561])


def test_device_code_is_redeemed_once(idp: Emulator, tls: Tls) -> None:
    with http(tls) as client:
        flow = client.post(f"{idp.url}/{TENANT}/oauth2/v2.0/devicecode",
                           data={"client_id": OFFICE, "scope": f"{SCOPE} offline_access"}).json()
        idp.approve_device_code(flow["user_code"], PROBE)
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "client_id": OFFICE, "device_code": flow["device_code"]}
        first = client.post(token_url(idp), data=form)
        second = client.post(token_url(idp), data=form)
    body = first.json()
    assert first.status_code == 200 and "refresh_token" in body
    assert "id_token" not in body and "client_info" not in body  # neither was asked for
    assert (second.status_code, second.json()["error_codes"]) == (400, [54005])


def assertion(emu: Emulator, **override: Any) -> str:
    now = int(time.time())
    claims = {"aud": f"{emu.url}/{tid(emu)}/oauth2/v2.0/token", "iss": APP_ID, "sub": APP_ID,
              "exp": now + 600, "iat": now, "nbf": now, "jti": str(uuid.uuid4())}
    headers = {"x5t": jwt.utils.base64url_encode(bytes.fromhex(credential().sha1)).decode()}
    headers.update(override.pop("headers", {}))
    alg = override.pop("alg", "RS256")
    claims.update(override)
    return jwt.encode(claims, credential().key_pem, algorithm=alg, headers=headers)


@pytest.mark.parametrize(("made", "code"), [
    ({}, None),
    ({"alg": "PS256"}, None),
    ({"aud": f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"}, 700023),
    ({"iss": OFFICE}, 700021),
    ({"exp": int(time.time()) - 3600}, 700024),
    ({"headers": {"x5t": "AAAA"}}, 700027),
    ({"alg": "HS256"}, 5002738),
    ("garbage", 50027),
])
def test_client_assertion_checks(idp: Emulator, tls: Tls, made: Any, code: int | None) -> None:
    if made == "garbage":
        token = "not.a.jwt"
    elif made.get("alg") == "HS256":
        token = jwt.encode({"iss": APP_ID}, "a-shared-secret-of-32-bytes-long!", "HS256")
    else:
        token = assertion(idp, **made)
    with http(tls) as client:
        answer = client.post(token_url(idp), data={
            "grant_type": "client_credentials", "client_id": APP_ID, "scope": SCOPE,
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": token})
    if code is None:
        assert answer.status_code == 200, answer.text
        assert jwt.decode(answer.json()["access_token"], options={"verify_signature": False}
                          )["roles"] == ["full_access_as_app"]
    else:
        assert (answer.status_code, answer.json()["error_codes"]) == (401, [code]), answer.text


def test_client_credentials_scope_must_be_a_default(idp: Emulator, tls: Tls) -> None:
    with http(tls) as client:
        answer = client.post(token_url(idp), data={
            "grant_type": "client_credentials", "client_id": APP_ID,
            "scope": "https://outlook.office365.com/MapiHttp.AccessAsUser.All",
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion(idp)})
    assert (answer.status_code, answer.json()["error_codes"]) == (400, [1002012])


def test_approve_and_revoke_over_http(idp: Emulator, tls: Tls) -> None:
    with http(tls) as client:
        flow = client.post(f"{idp.url}/organizations/oauth2/v2.0/devicecode",
                           data={"client_id": OFFICE, "scope": SCOPE}).json()
        page = client.get(f"{idp.url}/_emulator/device")
        assert page.status_code == 200 and flow["user_code"] in page.text
        missing = client.post(f"{idp.url}/_emulator/device/approve", data={"smtp": PROBE})
        unknown = client.post(f"{idp.url}/_emulator/device/approve",
                              data={"user_code": "ZZZZZZZZZ", "smtp": PROBE})
        stranger = client.post(f"{idp.url}/_emulator/device/approve",
                               json={"user_code": flow["user_code"], "smtp": "x@contoso.test"})
        approved = client.post(f"{idp.url}/_emulator/device/approve",
                               json={"user_code": flow["user_code"], "smtp": PROBE.upper()})
        tokens = user_token(client, idp)
        revoked = client.post(f"{idp.url}/_emulator/identity/revoke", data={"smtp": PROBE})
        refresh = client.post(token_url(idp), data={
            "grant_type": "refresh_token", "client_id": OFFICE, "scope": SCOPE,
            "refresh_token": tokens["refresh_token"]})
        nobody = client.post(f"{idp.url}/_emulator/identity/revoke", data={"smtp": "x@y.z"})
    assert [a.status_code for a in (missing, unknown, stranger, approved, revoked, nobody)] == [
        400, 404, 404, 200, 200, 404]
    assert approved.json() == {"approved": flow["user_code"], "smtp": PROBE}
    assert revoked.json() == {"smtp": PROBE, "revoked": 1}
    assert (refresh.status_code, refresh.json()["error_codes"]) == (400, [50173])
    stats = idp.stats()
    assert stats.requests == {"identity": 3}  # the /_emulator/ hooks are not requests
    assert stats.identity_requests == {
        "devicecode": 1, "device_page": 1, "device_approve": 4, "token:password": 1,
        "revoke": 2, "token:refresh_token": 1}


def test_python_hooks(idp: Emulator, tls: Tls) -> None:
    assert idp.authority == f"{idp.url}/{TENANT}"
    with pytest.raises(KeyError):
        idp.approve_device_code("NOPE", PROBE)
    with pytest.raises(KeyError):
        idp.revoke_refresh_tokens("nobody@contoso.test")
    assert idp.revoke_refresh_tokens(PROBE) == 0
    with http(tls) as client:
        password_grant(client, idp)
        password_grant(client, idp, scope=SCOPE)  # no offline_access: no refresh token
    assert idp.revoke_refresh_tokens(PROBE) == 1
    assert idp.revoke_refresh_tokens(PROBE) == 0


def test_without_identity_section(start: Emulators, tls: Tls) -> None:
    emu = start(BASE_CONFIG, tls=tls)
    with http(tls) as client:
        answer = client.get(f"{emu.url}/{TENANT}/v2.0/.well-known/openid-configuration")
        approve = client.post(f"{emu.url}/_emulator/device/approve")
    assert (answer.status_code, approve.status_code) == (404, 404)
    assert emu.app.identity is None
    for call in (lambda: emu.authority, lambda: emu.revoke_refresh_tokens(PROBE),
                 lambda: emu.approve_device_code("X", PROBE), emu.pending_device_codes,
                 lambda: emu.advance_identity_clock(1)):
        with pytest.raises(RuntimeError, match=r"\[identity\]"):
            call()


def test_identity_configuration() -> None:
    config = loads(idp_config('tenant_id = "c0ffee00-0000-4000-8000-000000000001"\n'
                              "access_token_seconds = 60"))
    identity = config.identity
    assert identity is not None
    assert str(identity.tenant_id) == "c0ffee00-0000-4000-8000-000000000001"
    assert (identity.access_token_seconds, identity.refresh_token_seconds) == (60, 7776000)
    assert identity.public_client_ids == (OFFICE,)
    [app] = identity.apps
    assert (app.client_id, app.roles) == (APP_ID, ("full_access_as_app",))
    assert app.certificates[0].sha1.hex() == credential().sha1
    assert [m.mfa_required for m in config.mailboxes] == [False, True, False]
    assert [m.refresh_tokens_revoked for m in config.mailboxes] == [False, False, True]


MAILBOX = '[[mailbox]]\nsmtp = "a@contoso.test"\n'


@pytest.mark.parametrize(("text", "message"), [
    (MAILBOX + "mfa_required = true\n", "mailbox[0].mfa_required: needs an [identity] section"),
    ("[identity]\n" + MAILBOX, "identity.tenant: missing"),
    ('[identity]\ntenant = "t"\ntenant_id = "x"\n' + MAILBOX, "identity.tenant_id: 'x' is not"),
    ('[identity]\ntenant = "t"\ntypo = 1\n' + MAILBOX, "identity.typo: unknown key"),
    ('[identity]\ntenant = "t"\naccess_token_seconds = 0\n' + MAILBOX,
     "identity.access_token_seconds: must be at least 1"),
    (f'[identity]\ntenant = "t"\n[[identity.app]]\nclient_id = "{APP_ID}"\n' + MAILBOX,
     "identity.app[0].certificates: at least one certificate is needed"),
    (f'[identity]\ntenant = "t"\n[[identity.app]]\nclient_id = "{APP_ID}"\n'
     'certificates = ["-----BEGIN CERTIFICATE-----\\nxx"]\n' + MAILBOX,
     "identity.app[0].certificates[0]: not a PEM X.509 certificate"),
    (f'[identity]\ntenant = "t"\n[[identity.app]]\nclient_id = "{OFFICE}"\n'
     f"certificates = ['''{credential().cert_pem}''']\n" + MAILBOX,
     f"identity.app[0].client_id: {OFFICE} is used twice"),
])
def test_identity_configuration_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        loads(text)
