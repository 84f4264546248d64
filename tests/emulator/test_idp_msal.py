"""The identity provider driven by the real msal library (1.39): device code, refresh after a
cache round trip (a later process), the password grant, client credentials with a
certificate, and the errors msal reports for each."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import msal
import pytest

from check_mapi.emulator import Emulator

from ..conftest import Emulators, Tls
from .emu_helpers import PASSWORD
from .idp_helpers import (
    APP_ID,
    MFA_PASSWORD,
    OFFICE,
    PROBE,
    REVOKED_PASSWORD,
    SCOPE,
    TENANT,
    UNKNOWN_CLIENT,
    RoutedSession,
    claims,
    credential,
    idp,
    idp_config,
    public_app,
)

__all__ = ["idp"]


def device_login(emu: Emulator, app: msal.PublicClientApplication,
                 smtp: str = PROBE) -> dict[str, Any]:
    flow = app.initiate_device_flow([SCOPE])
    assert "user_code" in flow, flow
    emu.approve_device_code(flow["user_code"], smtp)
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    return result


def tid(emu: Emulator) -> str:
    assert emu.config.identity is not None
    return str(emu.config.identity.tenant_id)


def test_device_code_flow(idp: Emulator, tls: Tls) -> None:
    app, session = public_app(idp, tls)
    flow = app.initiate_device_flow([SCOPE])
    code = flow["user_code"]
    assert len(code) == 9 and code.isalnum() and code.isupper()
    assert flow["verification_uri"] == f"{idp.url}/_emulator/device"
    assert flow["interval"] == 1 and flow["expires_in"] == 900
    assert code in flow["message"] and flow["verification_uri"] in flow["message"]
    assert idp.pending_device_codes() == [code]

    pending = app.acquire_token_by_device_flow(flow, exit_condition=lambda flow: True)
    assert (pending["error"], pending["error_codes"]) == ("authorization_pending", [70016])
    assert pending["error_description"].startswith("AADSTS70016: ")

    idp.approve_device_code(code.lower(), PROBE)  # user codes are case-insensitive
    result = app.acquire_token_by_device_flow(flow)
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3600
    assert set(result["scope"].split()) == {
        "https://outlook.office365.com/EWS.AccessAsUser.All",
        "https://outlook.office365.com/MapiHttp.AccessAsUser.All", SCOPE}
    at = claims(result["access_token"])
    assert at["aud"] == "https://outlook.office365.com"
    assert at["scp"] == "EWS.AccessAsUser.All MapiHttp.AccessAsUser.All"
    assert (at["upn"], at["unique_name"], at["appid"], at["tid"]) == (PROBE, PROBE, OFFICE,
                                                                      tid(idp))
    assert at["amr"] == ["pwd", "mfa"] and "roles" not in at
    assert at["exp"] - at["iat"] == 3600 and at["nbf"] == at["iat"]
    assert result["id_token_claims"]["preferred_username"] == PROBE
    info = json.loads(base64.urlsafe_b64decode(result["client_info"] + "=="))
    assert info == {"uid": at["oid"], "utid": tid(idp)}

    [account] = app.get_accounts(username=PROBE)
    assert account["home_account_id"] == f"{at['oid']}.{tid(idp)}"
    assert account["environment"] == "127.0.0.1" and account["realm"] == tid(idp)
    base = f"{tid(idp)}/oauth2/v2.0"
    assert session.paths() == [f"GET {TENANT}/v2.0/.well-known/openid-configuration",
                               f"POST {base}/devicecode", f"POST {base}/token",
                               f"POST {base}/token"]
    assert session.log[1][2].keys() >= {"client_id", "scope"}
    assert session.log[2][2]["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
    assert idp.stats().identity_requests == {"openid_configuration": 1, "devicecode": 1,
                                             "token:device_code": 2}
    assert idp.stats().identity_errors == {"70016": 1}
    assert idp.pending_device_codes() == []


def test_tokens_verify_with_the_published_keys(idp: Emulator, tls: Tls) -> None:
    app, session = public_app(idp, tls)
    result = device_login(idp, app)
    config = session.get(f"{idp.authority}/v2.0/.well-known/openid-configuration").json()
    keys = jwt.PyJWKSet.from_dict(session.get(config["jwks_uri"]).json())
    [key] = keys.keys
    verified = jwt.decode(result["access_token"], key.key, algorithms=["RS256"],
                          audience="https://outlook.office365.com",
                          issuer=f"https://sts.windows.net/{tid(idp)}/")
    assert verified["upn"] == PROBE
    id_claims = jwt.decode(result["id_token"], key.key, algorithms=["RS256"], audience=OFFICE,
                           issuer=f"{idp.url}/{tid(idp)}/v2.0")
    assert id_claims["ver"] == "2.0"


def test_refresh_in_a_later_process_rotates_the_refresh_token(idp: Emulator, tls: Tls) -> None:
    first_cache = msal.SerializableTokenCache()
    app, _ = public_app(idp, tls, cache=first_cache)
    device_login(idp, app)
    saved = first_cache.serialize()
    [old_rt] = [e["secret"] for e in json.loads(saved)["RefreshToken"].values()]
    idp.reset_stats()

    cache = msal.SerializableTokenCache()  # a new process: only the serialized cache
    cache.deserialize(saved)
    later, session = public_app(idp, tls, cache=cache)
    [account] = later.get_accounts(username=PROBE)
    cached = later.acquire_token_silent([SCOPE], account=account)
    assert cached is not None and cached["token_source"] == "cache"
    assert idp.stats().identity_requests == {"openid_configuration": 1}

    fresh = later.acquire_token_silent([SCOPE], account=account, force_refresh=True)
    assert fresh is not None and fresh["token_source"] == "identity_provider", fresh
    assert claims(fresh["access_token"])["amr"] == ["pwd", "mfa"]  # as at the sign-in
    refresh = session.log[-1][2]
    assert (refresh["grant_type"], refresh["refresh_token"]) == ("refresh_token", old_rt)
    [new_rt] = [e["secret"] for e in json.loads(cache.serialize())["RefreshToken"].values()]
    assert new_rt != old_rt
    assert idp.stats().identity_requests == {"openid_configuration": 1,
                                             "token:refresh_token": 1}
    again = later.acquire_token_by_refresh_token(old_rt, [SCOPE])  # Entra keeps it valid
    assert "access_token" in again, again


def test_password_grant_asks_the_user_realm_first(idp: Emulator, tls: Tls) -> None:
    app, session = public_app(idp, tls)
    with pytest.warns(DeprecationWarning):
        result = app.acquire_token_by_username_password(PROBE, PASSWORD, [SCOPE])
    assert "access_token" in result, result
    assert claims(result["access_token"])["amr"] == ["pwd"]
    assert [u for _, u, _ in session.log][1] == (
        f"https://127.0.0.1/common/userrealm/{PROBE}?api-version=1.0")  # port 443: routed
    form = session.log[2][2]
    assert (form["grant_type"], form["username"], form["client_info"]) == (
        "password", PROBE, 1)
    assert set(form["scope"].split()) == {SCOPE, "offline_access", "openid", "profile"}
    assert idp.stats().identity_requests == {"openid_configuration": 1, "userrealm": 1,
                                             "token:password": 1}
    assert [a["username"] for a in app.get_accounts()] == [PROBE]


@pytest.mark.parametrize(("user", "password", "client_id", "error", "code", "suberror"), [
    (PROBE, "wrong", OFFICE, "invalid_grant", 50126, None),
    ("mfa@contoso.test", MFA_PASSWORD, OFFICE, "interaction_required", 50076, "basic_action"),
    ("nobody@contoso.test", PASSWORD, OFFICE, "invalid_grant", 50034, None),
    (PROBE, PASSWORD, UNKNOWN_CLIENT, "unauthorized_client", 700016, None),
    (PROBE, PASSWORD, APP_ID, "invalid_grant", 65001, "consent_required"),
])
def test_password_grant_errors(idp: Emulator, tls: Tls, user: str, password: str,
                               client_id: str, error: str, code: int,
                               suberror: str | None) -> None:
    app, _ = public_app(idp, tls, client_id=client_id)
    with pytest.warns(DeprecationWarning):
        result = app.acquire_token_by_username_password(user, password, [SCOPE])
    assert (result["error"], result["error_codes"], result.get("suberror")) == (
        error, [code], suberror)
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    assert idp.stats().identity_errors == {str(code): 1}


def test_wrong_password_message_is_entra_shaped(idp: Emulator, tls: Tls) -> None:
    app, _ = public_app(idp, tls)
    with pytest.warns(DeprecationWarning):
        result = app.acquire_token_by_username_password(PROBE, "wrong", [SCOPE])
    lines = result["error_description"].split("\r\n")
    assert lines[0] == ("AADSTS50126: Error validating credentials due to invalid username "
                        "or password.")
    assert lines[1:] == [f"Trace ID: {result['trace_id']}",
                         f"Correlation ID: {result['correlation_id']}",
                         f"Timestamp: {result['timestamp']}"]
    assert result["timestamp"].endswith("Z") and len(result["timestamp"]) == 20


def test_revoked_refresh_tokens(idp: Emulator, tls: Tls) -> None:
    app, _ = public_app(idp, tls)
    device_login(idp, app)
    [account] = app.get_accounts()
    assert idp.revoke_refresh_tokens(PROBE) == 1
    refused = app.acquire_token_silent_with_error([SCOPE], account, force_refresh=True)
    assert refused is not None
    assert (refused["error"], refused["error_codes"]) == ("invalid_grant", [50173])
    device_login(idp, app)  # signing in again works; its refresh token is good
    [account] = app.get_accounts()
    assert app.acquire_token_silent([SCOPE], account, force_refresh=True) is not None


def test_mailbox_with_revoked_refresh_tokens(idp: Emulator, tls: Tls) -> None:
    app, _ = public_app(idp, tls)
    with pytest.warns(DeprecationWarning):
        result = app.acquire_token_by_username_password("revoked@contoso.test",
                                                        REVOKED_PASSWORD, [SCOPE])
    assert "access_token" in result
    [account] = app.get_accounts()
    refused = app.acquire_token_silent_with_error([SCOPE], account, force_refresh=True)
    assert refused is not None and refused["error_codes"] == [50173]


def test_expired_refresh_token_and_device_code(idp: Emulator, tls: Tls) -> None:
    app, _ = public_app(idp, tls)
    device_login(idp, app)
    [account] = app.get_accounts()
    flow = app.initiate_device_flow([SCOPE])
    idp.advance_identity_clock(90 * 86400 + 1)
    expired = app.acquire_token_silent_with_error([SCOPE], account, force_refresh=True)
    assert expired is not None
    assert (expired["error"], expired["error_codes"]) == ("invalid_grant", [700082])
    late = app.acquire_token_by_device_flow(flow, exit_condition=lambda flow: True)
    assert (late["error"], late["error_codes"]) == ("expired_token", [70020])
    with pytest.raises(ValueError, match="expired"):
        idp.approve_device_code(flow["user_code"], PROBE)


def test_unknown_client_cannot_start_a_device_flow(idp: Emulator, tls: Tls) -> None:
    app, _ = public_app(idp, tls, client_id=UNKNOWN_CLIENT)
    flow = app.initiate_device_flow([SCOPE])
    assert (flow["error"], flow["error_codes"]) == ("unauthorized_client", [700016])
    assert f"'{UNKNOWN_CLIENT}' was not found in the directory '{TENANT}'" in (
        flow["error_description"])


def test_instance_discovery_endpoint(idp: Emulator, tls: Tls) -> None:
    session = RoutedSession(idp, tls)
    app = msal.PublicClientApplication(
        OFFICE, authority=idp.authority, http_client=session,
        instance_discovery=f"{idp.url}/common/discovery/instance")
    assert app.authority.token_endpoint == f"{idp.url}/{tid(idp)}/oauth2/v2.0/token"
    assert session.paths() == ["GET common/discovery/instance",
                               f"GET {TENANT}/v2.0/.well-known/openid-configuration"]
    assert idp.stats().identity_requests == {"instance_discovery": 1,
                                             "openid_configuration": 1}


@pytest.mark.parametrize(("sha256", "alg", "thumbprint"), [
    (True, "PS256", "x5t#S256"), (False, "RS256", "x5t")])
def test_client_credentials_with_a_certificate(idp: Emulator, tls: Tls, sha256: bool,
                                               alg: str, thumbprint: str) -> None:
    session = RoutedSession(idp, tls)
    app = msal.ConfidentialClientApplication(
        APP_ID, client_credential=credential().msal(sha256), authority=idp.authority,
        instance_discovery=False, http_client=session)
    result = app.acquire_token_for_client([SCOPE])
    assert "access_token" in result, result
    at = claims(result["access_token"])
    assert (at["roles"], at["appid"], at["idtyp"], at["appidacr"]) == (
        ["full_access_as_app"], APP_ID, "app", "2")
    assert "scp" not in at and "upn" not in at
    form = session.log[-1][2]
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    header = jwt.get_unverified_header(form["client_assertion"])
    assert header["alg"] == alg and thumbprint in header
    assertion = claims(form["client_assertion"].decode())
    assert assertion["aud"] == f"{idp.url}/{tid(idp)}/oauth2/v2.0/token"
    assert assertion["iss"] == assertion["sub"] == APP_ID
    again = app.acquire_token_for_client([SCOPE])
    assert again["token_source"] == "cache"
    assert idp.stats().identity_requests == {"openid_configuration": 1,
                                             "token:client_credentials": 1}


@pytest.mark.parametrize(("client_id", "client_credential", "error", "code"), [
    (APP_ID, credential("stranger").msal(), "invalid_client", 700027),
    (APP_ID, {"private_key": credential("stranger").key_pem,  # the right thumbprint
              "thumbprint": credential().sha1}, "invalid_client", 700027),
    (UNKNOWN_CLIENT, credential().msal(), "unauthorized_client", 700016),
])
def test_client_credentials_errors(idp: Emulator, tls: Tls, client_id: str,
                                   client_credential: dict[str, str], error: str,
                                   code: int) -> None:
    app = msal.ConfidentialClientApplication(
        client_id, client_credential=client_credential, authority=idp.authority,
        instance_discovery=False, http_client=RoutedSession(idp, tls))
    result = app.acquire_token_for_client([SCOPE])
    assert (result["error"], result["error_codes"]) == (error, [code]), result


def test_strict_rotation_refuses_a_used_refresh_token(start: Emulators, tls: Tls) -> None:
    emu = start(idp_config("reuse_refresh_tokens = false"), tls=tls)
    app, _ = public_app(emu, tls)
    first = device_login(emu, app)
    [account] = app.get_accounts()
    assert app.acquire_token_silent([SCOPE], account, force_refresh=True) is not None
    reused = app.acquire_token_by_refresh_token(first["refresh_token"], [SCOPE])
    assert (reused["error"], reused["error_codes"]) == ("invalid_grant", [70000])
