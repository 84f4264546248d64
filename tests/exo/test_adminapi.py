"""The admin API client against the emulator over TLS: the real msal with a certificate
(PEM or PFX), InvokeCommand with paging and 429 retries, the settings cache, what the live
settings resolve to, drift against Autodiscover, and secrets never in any text."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from check_mapi.autodiscover.pox import MapiHttpUrls, PoxAnswer
from check_mapi.autodiscover.verdict import judge
from check_mapi.deadline import Deadline
from check_mapi.emulator import Emulator
from check_mapi.errors import ConfigError, ProtocolError, ServiceState
from check_mapi.exo import cache
from check_mapi.exo.adminapi import AdminApi, AppCredential, LiveSettings, load_credential
from check_mapi.resolver import EXCHANGE_ONLINE, ON_PREMISES, explain
from check_mapi.settings import ConnectionSettings
from check_mapi.transport.client import Transport

from ..conftest import Emulators, Tls
from ..emulator.idp_helpers import APP_ID, PROBE, TENANT, credential
from ..emulator.test_emulator_admin import OTHER_APP, admin_config

SENTINEL = "Sentinel-Passphrase-4711"


@pytest.fixture
def adm(start: Emulators, tls: Tls) -> Emulator:
    return start(admin_config(), tls=tls)


def app_credential(app_id: str = APP_ID) -> AppCredential:
    return AppCredential(TENANT, app_id, credential().key_pem, credential().cert_pem)


def read(emu: Emulator, tls: Tls, mailbox: str = PROBE,
         cred: AppCredential | None = None) -> LiveSettings:
    with Transport(ConnectionSettings(), tls.context()) as transport:
        api = AdminApi(transport, Deadline.after(20), cred or app_credential(),
                       authority_host=urlsplit(emu.url).netloc, admin_base=emu.url)
        return api.read(mailbox)


def test_reads_the_mailbox_and_organization(adm: Emulator, tls: Tls) -> None:
    live = read(adm, tls)
    assert live == LiveSettings(mapi_enabled=False, mailbox_mapihttp=True,
                                mailbox_mapihttp_present=True, block_external=True,
                                org_mapihttp=False)
    res = cache.resolution(live, "just now")
    assert res.platform == EXCHANGE_ONLINE and res.blocked
    lines = explain(res)
    assert "mailbox MAPIEnabled=$false: read live: Get-CASMailbox (just now)" in lines
    assert ("organization MapiHttpEnabled=$false: read live: Get-OrganizationConfig (just "
            "now); ignored: on-premises only") in lines
    on_prem = cache.resolution(live, "just now", ON_PREMISES)
    assert on_prem.blocked and on_prem.platform == ON_PREMISES
    assert on_prem.block_source == "read live: Get-CASMailbox (just now)"


def test_throttled_once_then_retried(adm: Emulator, tls: Tls) -> None:
    begin = time.monotonic()
    live = read(adm, tls, "throttled@contoso.test")
    assert live.mapi_enabled is True and time.monotonic() - begin >= 2
    res = cache.resolution(live, "just now")
    assert not res.blocked and res.external


def test_an_app_without_the_role_is_a_reason(adm: Emulator, tls: Tls, tmp_path: Path) -> None:
    got, _, warning = cache.fetch(lambda: read(adm, tls, cred=app_credential(OTHER_APP)),
                                  tmp_path / "state" / "x.json")
    assert got is None
    assert warning is not None and "HTTP 403" in warning and "Exchange.ManageAsApp" in warning
    with pytest.raises(ProtocolError, match=r"HTTP 404.*couldn't be found"):
        read(adm, tls, "nobody@contoso.test")


def test_cache_keeps_the_settings_an_hour(adm: Emulator, tls: Tls, tmp_path: Path) -> None:
    path = cache.cache_path(tmp_path / "state", TENANT, PROBE)
    calls: list[int] = []

    def counted() -> LiveSettings:
        calls.append(1)
        return read(adm, tls)

    first, when, note = cache.fetch(counted, path)
    assert (when, note) == ("just now", None) and first is not None
    assert os.stat(path).st_mode & 0o777 == 0o600
    again, when, _ = cache.fetch(counted, path)
    assert again == first and when.startswith("cached ") and len(calls) == 1
    assert cache.load(path, 3600, time.time() + 3601) == (None, None)
    fresh, when, _ = cache.fetch(counted, path, max_age=0)
    assert fresh == first and when == "just now" and len(calls) == 2


def test_live_settings_feed_drift_detection(adm: Emulator, tls: Tls) -> None:
    """Autodiscover offers MAPI over HTTP, the live settings block MAPI: drift."""
    res = cache.resolution(read(adm, tls), "just now")
    answer = PoxAnswer(action="settings", legacy_dn="/o=x", mapi_http=MapiHttpUrls(
        "1", "https://in/mapi/emsmdb/", "https://out/mapi/emsmdb/"))
    verdict = judge(answer, "auto", ServiceState.WARNING, res)
    assert verdict.state is ServiceState.WARNING
    assert verdict.text is not None and verdict.text.startswith(
        "configuration drift: settings resolve to no MAPI connection (MAPIEnabled=$false)")
    allowed = cache.resolution(read(adm, tls, "second@contoso.test"), "just now")
    assert judge(answer, "auto", ServiceState.WARNING, allowed).state is ServiceState.OK


def _pfx(tmp_path: Path) -> Path:
    key = serialization.load_pem_private_key(credential().key_pem.encode(), None)
    cert = x509.load_pem_x509_certificate(credential().cert_pem.encode())
    data = pkcs12.serialize_key_and_certificates(
        b"app", key, cert, None,  # type: ignore[arg-type]
        serialization.BestAvailableEncryption(SENTINEL.encode()))
    path = tmp_path / "app.pfx"
    path.write_bytes(data)
    return path


def test_pfx_with_its_passphrase_from_a_file(adm: Emulator, tls: Tls, tmp_path: Path) -> None:
    pfx = _pfx(tmp_path)
    secret = tmp_path / "passphrase"
    secret.write_text(f"{SENTINEL}\n")
    cred = load_credential(TENANT, APP_ID, pfx_file=str(pfx), passphrase_file=str(secret))
    assert SENTINEL not in repr(cred) and "PRIVATE KEY" not in repr(cred)
    live = read(adm, tls, cred=cred)
    assert live.mapi_enabled is False
    lines = explain(cache.resolution(live, "just now"))
    assert not any(SENTINEL in line or "PRIVATE" in line for line in lines)
    wrong = tmp_path / "wrong"
    wrong.write_text(f"{SENTINEL}-not\n")
    with pytest.raises(ConfigError) as info:
        load_credential(TENANT, APP_ID, pfx_file=str(pfx), passphrase_file=str(wrong))
    assert SENTINEL not in str(info.value) and "wrong passphrase" in str(info.value)
    with pytest.raises(ConfigError, match="--cert-key and --cert-file, or --cert-pfx"):
        load_credential(TENANT, APP_ID)
