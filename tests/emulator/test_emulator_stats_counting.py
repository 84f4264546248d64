"""The emulator's counters count consistently and match their documentation (issue 13,
item 6): requests under /_emulator/ are counted nowhere; every answered request is in both
``requests`` and ``http_statuses``; every key and counter is documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import httpx

from check_mapi.emulator import Emulator, stats

from .emu_helpers import TIMEOUT, Mapi, client, emu
from .test_emulator_nspi import BIND, advertised_nspi_url

__all__ = ["emu"]

README = Path(__file__).resolve().parents[2] / "README.md"


def _every_kind_of_request(emu: Emulator) -> None:
    url = emu.mapi_url("probe@contoso.test")
    with Mapi(client(), url) as m:
        m.connect()
        m.post("PING", b"")
        m.post("NotificationWait", bytes(8))
        m.post("Frobnicate", b"")  # an unknown X-RequestType: refused with 5
        m.disconnect()
    with Mapi(client(), advertised_nspi_url(emu)) as m:  # autodiscover, nspi:Bind
        m.post("Bind", BIND)
        m.post("GetProps", b"")  # nspi_other
    with httpx.Client(timeout=TIMEOUT) as http:
        http.get(url)  # unauthenticated GET of the vdir: emsmdb_other, answered 401
        http.get(f"{emu.url}/autodiscover/autodiscover.json/v1.0/probe@contoso.test"
                 "?Protocol=MapiHttp")
        http.get(f"{emu.url}/nowhere")  # other: 404
        for _ in range(3):
            assert http.get(f"{emu.url}/_emulator/stats").status_code == 200


def test_emulator_hooks_are_counted_nowhere(emu: Emulator) -> None:
    _every_kind_of_request(emu)
    snapshot = emu.stats()
    assert snapshot.requests == {
        "Connect": 1, "PING": 1, "NotificationWait": 1, "emsmdb_other": 2, "Disconnect": 1,
        "autodiscover": 1, "nspi:Bind": 1, "nspi_other": 1, "autodiscover_json": 1,
        "other": 1}
    assert sum(snapshot.http_statuses.values()) == snapshot.total_requests == 11
    assert snapshot.http_statuses == {"200": 8, "400": 1, "401": 1, "404": 1}
    assert snapshot.response_codes == {"0": 5, "5": 2}


def _stats_paragraph() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The Exchange emulator"):]
    start = section.index("`stats()` counts")
    return section[start : section.index("\n\n", start)]


def test_every_counter_and_request_key_is_documented(emu: Emulator) -> None:
    _every_kind_of_request(emu)
    documented = set(re.findall(r"`([^`]+)`", _stats_paragraph()))
    module_doc = stats.__doc__ or ""
    keys = set(emu.stats().requests) | {"Execute", "identity", "adminapi"}
    counters = {f.name for f in dataclasses.fields(stats.StatsSnapshot)} | {"total_requests"}
    for name in sorted(keys | counters):
        assert name in documented, f"README's stats() paragraph does not name `{name}`"
        assert f"``{name}``" in module_doc or name in module_doc, name
    assert "/_emulator/" in _stats_paragraph()
