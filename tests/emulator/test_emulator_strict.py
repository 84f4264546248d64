"""Every strictness rule of the mailbox endpoint: the offending request and Exchange's answer."""

from __future__ import annotations

import time

import httpx
import pytest

from check_mapi.emulator import Emulator
from check_mapi.wire import ConnectRequest, RopLogonRequest

from ..conftest import Emulators
from .emu_helpers import (
    BASE_CONFIG,
    NO_HANDLE,
    OTHER_PASSWORD,
    RULER_DN,
    TIMEOUT,
    Answer,
    Mapi,
    client,
    emu,
    probe,
)

__all__ = ["emu", "probe"]

LOGON = RopLogonRequest(0, 0, 0x01, 0x01000000, 0, RULER_DN)


def assert_refused(answer: Answer, code: int, kind: str | None = "Execute") -> None:
    r = answer.response
    assert r.status_code == 200
    assert r.headers["X-ResponseCode"] == str(code)
    assert r.headers["Content-Type"] == "text/html"
    assert r.headers["X-ServerApplication"] == "Exchange/15.02.1544.004"
    assert f"X-ResponseCode: {code} (".encode() in r.content
    if kind is not None:
        assert r.headers["X-RequestType"] == kind
    assert "set-cookie" not in r.headers


def execute_body() -> bytes:
    from check_mapi.wire import ExecuteRequest, RopBuffer
    return ExecuteRequest((RopBuffer((LOGON,), (NO_HANDLE,)),)).encode()


@pytest.mark.parametrize("header", ["X-RequestId", "X-ClientInfo", "X-ClientApplication"])
@pytest.mark.parametrize("kind", ["Connect", "Execute", "Disconnect", "PING"])
def test_missing_header_is_7(probe: Mapi, header: str, kind: str) -> None:
    probe.connect()
    answer = probe.post(kind, execute_body() if kind == "Execute" else b"",
                        **{header.replace("-", "_"): None})
    assert_refused(answer, 7, kind)


def test_missing_request_type_is_7(probe: Mapi) -> None:
    answer = probe.post("Connect", ConnectRequest(RULER_DN).encode(), X_RequestType=None)
    assert_refused(answer, 7, None)
    assert "X-RequestType" not in answer.response.headers


@pytest.mark.parametrize("application", [
    "Outlook", "Outlook/16.0", "Outlook/16.0.1", "Outlook/16.0.1.2.3", "Outlook/16.0.1.x",
    "/16.0.1.2", "Outlook 16.0.1.2", "Out look/16.0.1.2"])
def test_client_application_must_be_name_and_four_numbers(probe: Mapi, application: str) -> None:
    answer = probe.post("Connect", ConnectRequest(RULER_DN).encode(),
                        X_ClientApplication=application)
    assert_refused(answer, 7, "Connect")


@pytest.mark.parametrize("application", ["MapiHttpClient/15.1.819.0", "Outlook/15.0.4815.1002"])
def test_client_applications_of_real_clients_are_accepted(probe: Mapi, application: str) -> None:
    answer = probe.post("Connect", ConnectRequest(RULER_DN).encode(),
                        X_ClientApplication=application)
    assert answer.code == 0


def test_unknown_request_type_is_5(probe: Mapi) -> None:
    assert_refused(probe.post("Bind", b""), 5, "Bind")


def test_wrong_content_type_is_4(probe: Mapi) -> None:
    answer = probe.post("Connect", ConnectRequest(RULER_DN).encode(), Content_Type="text/plain")
    assert_refused(answer, 4, "Connect")


def test_undecodable_bodies_are_12(probe: Mapi) -> None:
    assert_refused(probe.post("Connect", b"/o=no terminator"), 12, "Connect")
    probe.connect()
    assert_refused(probe.post("Execute", execute_body()[:-1]), 12)
    assert_refused(probe.post("Disconnect", b"\x01\x00\x00\x00"), 12, "Disconnect")


def test_too_large_is_9(probe: Mapi) -> None:
    probe.connect()
    assert_refused(probe.post("Execute", bytes(268289)), 9)


def test_missing_cookies_are_13(probe: Mapi) -> None:
    probe.connect()
    context, sequence = probe.cookies["MapiContext"], probe.cookies["MapiSequence"]
    assert_refused(probe.post("Execute", execute_body(), Cookie=None), 13)
    assert_refused(probe.post("Execute", execute_body(), Cookie=f"MapiContext={context}"), 13)
    assert probe.post("Execute", execute_body(),
                      Cookie=f"MapiContext={context}; MapiSequence={sequence}").code == 0


def test_unknown_context_is_10(probe: Mapi) -> None:
    probe.connect()
    probe.cookies["MapiContext"] = "not-a-context"
    assert_refused(probe.post("Execute", execute_body()), 10)
    assert_refused(probe.post("PING", b""), 10, "PING")
    assert_refused(probe.post("Disconnect", b"\x00" * 4), 10, "Disconnect")


def test_context_is_gone_after_disconnect(probe: Mapi) -> None:
    probe.connect()
    cookies = dict(probe.cookies)
    assert probe.disconnect().code == 0
    probe.cookies = cookies
    assert_refused(probe.post("Execute", execute_body()), 10)


def test_stale_sequence_is_15(probe: Mapi) -> None:
    probe.connect()
    first = probe.cookies["MapiSequence"]
    probe.logon()
    probe.cookies["MapiSequence"] = first
    assert_refused(probe.post("Execute", execute_body()), 15)


def test_second_request_in_flight_is_15(emu: Emulator, probe: Mapi) -> None:
    probe.connect()
    session = emu.app.sessions.get(probe.cookies["MapiContext"])
    assert session is not None
    with session.busy:  # as if an Execute of this context were still running
        assert_refused(probe.post("Execute", execute_body()), 15)
    assert probe.post("Execute", execute_body()).code == 0


def test_another_identity_is_10(emu: Emulator, probe: Mapi) -> None:
    probe.connect()
    with Mapi(client("other", OTHER_PASSWORD), probe.url) as intruder:
        intruder.cookies = dict(probe.cookies)
        assert_refused(intruder.post("Execute", execute_body()), 10)
        assert_refused(intruder.post("Disconnect", b"\x00" * 4), 10, "Disconnect")
    assert emu.stats().open_sessions == 1
    assert probe.disconnect().code == 0


def test_idle_context_expires_and_is_then_10(start: Emulators) -> None:
    emulator = start(BASE_CONFIG.replace("[server]", "[server]\nsession_expiration_ms = 300"))
    with Mapi(client(), emulator.mapi_url("probe@contoso.test")) as m:
        m.connect()
        time.sleep(0.15)
        assert m.post("PING", b"").code == 0  # refreshes the idle timer
        time.sleep(0.2)
        assert emulator.stats().open_sessions == 1  # a leaked session stays open...
        time.sleep(0.25)
        assert emulator.stats().open_sessions == 0  # ...until it expires
        assert emulator.stats().sessions_expired == 1
        assert_refused(m.post("Execute", execute_body()), 10)


def test_undecodable_rop_buffer_is_ec_rpc_format(probe: Mapi) -> None:
    probe.connect()
    body = bytearray(execute_body())
    body[18] = 0x28  # a reserved RopId ([MS-OXCROPS] 2.2.2) instead of RopLogon
    answer = probe.post("Execute", bytes(body))
    assert answer.code == 0
    assert answer.body == bytes.fromhex("00000000 b6040000 00000000 00000000 00000000")


def test_reconnect_replaces_the_context(emu: Emulator, probe: Mapi) -> None:
    probe.connect()
    old = probe.cookies["MapiContext"]
    probe.connect()  # sends the old cookies along, as a reconnecting client does
    assert probe.cookies["MapiContext"] != old
    assert emu.stats().open_sessions == 1
    probe.cookies["MapiContext"] = old
    assert_refused(probe.post("PING", b""), 10, "PING")


def test_verbs_paths_and_mailbox_ids(emu: Emulator) -> None:
    with client() as http:
        url = emu.mapi_url("probe@contoso.test")
        page = http.get(url)
        assert page.status_code == 200
        assert b"Exchange MAPI/HTTP Connectivity Endpoint" in page.content
        assert b"Database: DB01" in page.content
        put = http.put(url, content=b"")
        assert put.headers["X-ResponseCode"] == "2"
        missing = http.post(f"{emu.url}/mapi/emsmdb/", content=b"")
        assert (missing.status_code, missing.content) == (400, b"")
        unknown = http.post(f"{emu.url}/mapi/emsmdb/?MailboxId=00000000-0000-0000-0000-"
                            "000000000000@contoso.test", content=b"")
        assert unknown.status_code == 404
        assert http.post(f"{emu.url}/mapi/nowhere/", content=b"").status_code == 404


def test_anonymous_requests_get_the_401_challenge(emu: Emulator) -> None:
    with httpx.Client(timeout=TIMEOUT) as http:
        r = http.post(emu.mapi_url("probe@contoso.test"), content=b"")
        assert r.status_code == 401
        assert r.headers.get_list("WWW-Authenticate") == [
            "Negotiate", "NTLM", 'Basic realm="mail.contoso.com"',
            'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="'
            '00000001-0000-0000-c000-000000000000@*", token_types="app_asserted_user_v1 '
            'service_asserted_app_v1", authorization_uri="https://login.microsoftonline.com/'
            'common/oauth2/authorize"']
        assert r.headers["X-FEServer"] == "EXCAS07"
        assert r.content == b""
        bad = http.post(emu.autodiscover_url, content=b"", auth=("probe", "wrong"))
        assert bad.status_code == 401
    stats = emu.stats()
    assert stats.auth_challenges == 2
    assert stats.http_statuses == {"401": 2}


def test_bearer_token_authenticates(emu: Emulator) -> None:
    headers = {"Authorization": "Bearer token-probe"}
    with Mapi(httpx.Client(timeout=TIMEOUT, headers=headers),
              emu.mapi_url("probe@contoso.test")) as m:
        assert m.connect().display_name == "Probe Ünïcode 𝄞"
        assert m.disconnect().code == 0
