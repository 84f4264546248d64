"""Exchange's side of the identity provider: MAPI/HTTP and Autodiscover accept the delegated
tokens it issued (signature, expiry, audience, scp with MapiHttp.AccessAsUser.All, upn of a
mailbox) next to the static tokens, and refuse app-only, expired and foreign tokens with
Exchange's Bearer challenge."""

from __future__ import annotations

import httpx
import msal

from check_mapi.emulator import Emulator, example_config

from ..conftest import Emulators, Tls
from .emu_helpers import TIMEOUT, Mapi
from .idp_helpers import (
    APP_ID,
    PROBE,
    SCOPE,
    RoutedSession,
    credential,
    http,
    idp,
    idp_config,
    public_app,
    user_token,
)
from .test_emulator_autodiscover import REQUEST, SCHEMA

__all__ = ["idp"]
CHALLENGE = ('Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers='
             '"00000001-0000-0000-c000-000000000000@*", token_types="app_asserted_user_v1 '
             'service_asserted_app_v1", authorization_uri="https://login.microsoftonline.com/'
             'common/oauth2/authorize", error="invalid_token"')


def bearer_client(tls: Tls, token: str) -> httpx.Client:
    return httpx.Client(verify=tls.context(), timeout=TIMEOUT,
                        headers={"Authorization": f"Bearer {token}"})


def connect(emu: Emulator, tls: Tls, token: str) -> httpx.Response:
    """A MAPI Connect as probe; the response (200 with a session, or the 401)."""
    with Mapi(bearer_client(tls, token), emu.mapi_url(PROBE)) as mapi:
        answer = mapi.post("Connect", b"")  # the body is only read once authenticated
        if answer.response.status_code == 200:
            mapi.connect()
            assert mapi.disconnect().code == 0
        return answer.response


def refused(response: httpx.Response) -> str:
    """The x-ms-diagnostics of a Bearer refusal, after checking the challenge."""
    assert response.status_code == 401
    assert response.headers.get_list("WWW-Authenticate") == [
        'Basic realm="mail.contoso.com"', CHALLENGE]
    return response.headers["x-ms-diagnostics"]


def test_mapi_session_with_a_device_code_token(idp: Emulator, tls: Tls) -> None:
    app, _ = public_app(idp, tls)
    flow = app.initiate_device_flow([SCOPE])
    idp.approve_device_code(flow["user_code"], PROBE)
    token = app.acquire_token_by_device_flow(flow)["access_token"]
    with Mapi(bearer_client(tls, token), idp.mapi_url(PROBE)) as mapi:
        mapi.connect()
        response, _ = mapi.logon()
        assert response.rop_buffers
        assert mapi.disconnect().code == 0
    stats = idp.stats()
    assert stats.sessions_created == stats.sessions_disconnected == 1
    assert stats.auth_challenges == 0 and stats.open_sessions == 0


def test_autodiscover_accepts_issued_tokens(idp: Emulator, tls: Tls) -> None:
    with http(tls) as client:
        token = user_token(client, idp)["access_token"]
    body = REQUEST.format(address=PROBE, schema=SCHEMA)
    with bearer_client(tls, token) as client:
        pox = client.post(idp.autodiscover_url, content=body,
                          headers={"Content-Type": "text/xml", "X-MapiHttpCapability": "1"})
        v2 = client.get(f"{idp.url}/autodiscover/autodiscover.json/v1.0/{PROBE}?Protocol=EWS")
    assert pox.status_code == 200 and "<Protocol" in pox.text
    assert v2.status_code == 200


def test_static_tokens_still_work(idp: Emulator, tls: Tls) -> None:
    assert connect(idp, tls, "token-probe").status_code == 200


def test_app_only_token_is_refused(idp: Emulator, tls: Tls) -> None:
    app = msal.ConfidentialClientApplication(
        APP_ID, client_credential=credential().msal(), authority=idp.authority,
        instance_discovery=False, http_client=RoutedSession(idp, tls))
    token = app.acquire_token_for_client([SCOPE])["access_token"]
    diagnostics = refused(connect(idp, tls, token))
    assert diagnostics.startswith('2000001;reason="The token is an app-only token (roles, no '
                                  'scp): MAPI over HTTP needs a delegated token with the scope '
                                  'MapiHttp.AccessAsUser.All."')
    assert diagnostics.endswith(';error_category="invalid_token"')
    with bearer_client(tls, token) as client:  # Autodiscover v2: anonymous, but not with this
        v2 = client.get(f"{idp.url}/autodiscover/autodiscover.json/v1.0/{PROBE}?Protocol=EWS")
    assert "app-only" in refused(v2)
    assert idp.stats().sessions_created == 0


def test_expired_token_is_refused(idp: Emulator, tls: Tls) -> None:
    with http(tls) as client:
        token = user_token(client, idp)["access_token"]
    assert connect(idp, tls, token).status_code == 200
    idp.advance_identity_clock(3600)
    assert refused(connect(idp, tls, token)) == (
        '2000001;reason="The token has expired.";error_category="invalid_token"')


def test_foreign_and_broken_tokens_are_refused(start: Emulators, tls: Tls) -> None:
    first, second = start(idp_config(), tls=tls), start(idp_config(), tls=tls)
    with http(tls) as client:
        token = user_token(client, first)["access_token"]
    assert "invalid signature" in refused(connect(second, tls, token))  # another key
    assert "cannot be parsed" in refused(connect(second, tls, "a.b.c"))
    assert "cannot be parsed" in refused(connect(second, tls, "opaque-unknown-token"))


def test_token_without_the_mapi_scope_is_refused(start: Emulators, tls: Tls) -> None:
    emu = start(idp_config('delegated_scopes = ["EWS.AccessAsUser.All"]'), tls=tls)
    with http(tls) as client:
        token = user_token(client, emu)["access_token"]
    assert refused(connect(emu, tls, token)) == (
        '2000001;reason="The token lacks the scope MapiHttp.AccessAsUser.All '
        '(scp: EWS.AccessAsUser.All).";error_category="invalid_token"')


def test_bearer_not_offered_means_refused(start: Emulators, tls: Tls) -> None:
    emu = start(idp_config(auth='["basic"]'), tls=tls)
    with http(tls) as client:
        token = user_token(client, emu)["access_token"]
    response = connect(emu, tls, token)
    assert response.status_code == 401
    assert response.headers.get_list("WWW-Authenticate") == ['Basic realm="mail.contoso.com"']
    with bearer_client(tls, "anything") as client:  # v2 stays anonymous: the token is ignored
        v2 = client.get(f"{emu.url}/autodiscover/autodiscover.json/v1.0/{PROBE}?Protocol=EWS")
    assert v2.status_code == 200


def test_the_example_configuration_serves_a_device_code_login(start: Emulators,
                                                              tls: Tls) -> None:
    """What ``check_mapi --demo --auth oauth`` needs: the example's probe@contoso.com signs
    in with a device code and opens a MAPI session with the token."""
    emu = start(example_config(), tls=tls)
    app, _ = public_app(emu, tls)
    flow = app.initiate_device_flow([SCOPE])
    assert flow["interval"] == 5
    emu.approve_device_code(flow["user_code"], "probe@contoso.com")
    token = app.acquire_token_by_device_flow(flow)["access_token"]
    box = emu.config.by_smtp("probe@contoso.com")
    assert box is not None
    with Mapi(bearer_client(tls, token), emu.mapi_url(box.smtp)) as mapi:
        mapi.connect(box.legacy_dn)
        assert mapi.disconnect().code == 0
