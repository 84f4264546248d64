"""Every row of Microsoft's table "Combining MAPI over HTTP configurations" end to end: the
emulator configured with the row's settings, the plugin given the same settings, probed
from the internal and from the external vantage; then drift, where they differ."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from check_mapi.emulator import Emulator

from ..conftest import Emulators
from ..plugin_output import Outcome
from ..seed_tables import TABLE_2
from .conftest import cli, config, mailbox_toml

TIME = r"\d+\.\d+"
ROWS = [(*row, vantage) for row in TABLE_2 for vantage in ("internal", "external")]


def address(mailbox: str, block: str) -> str:
    return f"m-{mailbox[1:]}-{block[1:]}@contoso.com"


@pytest.fixture(scope="module")
def organizations() -> Iterator[dict[str, Emulator]]:
    """One emulator per organization setting, with a mailbox for each mailbox setting."""
    with Emulators() as start:
        emulators = {}
        for org in ("$true", "$false"):
            boxes = [mailbox_toml(address(mailbox, block), **(
                {} if mailbox == "$null" else {"mapi_http_enabled": mailbox == "$true"}),
                mapi_block_outlook_external_connectivity=block == "$true")
                for mailbox in ("$null", "$true", "$false") for block in ("$false", "$true")]
            emulators[org] = start(config(*boxes, org=org == "$true"))
        yield emulators


def probe(emulator: Emulator, smtp: str, *argv: str) -> Outcome:
    emulator.reset_stats()
    return cli("-m", smtp, "--autodiscover-url", emulator.autodiscover_url, "-v", *argv)


LABELS = ["autodiscover_time", "availability", "cert_days", "connect_time", "disconnect_time",
          "inbox_items", "inbox_time", "logon_time", "total_time"]


@pytest.mark.parametrize(("org", "mailbox", "block", "result", "vantage"), ROWS)
def test_every_row_from_both_sides(organizations: dict[str, Emulator], org: str, mailbox: str,
                                   block: str, result: str, vantage: str) -> None:
    emulator = organizations[org]
    smtp = address(mailbox, block)
    outcome = probe(emulator, smtp, "--org-mapihttp", org, "--mailbox-mapihttp", mailbox,
                    "--block-external", block, "--vantage", vantage)
    assert outcome.code == 0, outcome.output
    assert outcome.perfdata["availability"] == "1;;;0;1"
    assert re.fullmatch(rf"{TIME}s;;;0", outcome.perfdata["autodiscover_time"])
    assert re.fullmatch(rf"{TIME}s;;;0", outcome.perfdata["total_time"])
    assert sorted(outcome.perfdata) == LABELS  # the same labels, logged on or not
    assert outcome.perfdata["cert_days"] == "U"  # plain http: no certificate met
    expected = f"expected {result} ("
    assert any(line.startswith(expected) for line in outcome.long), outcome.output
    protocol, reach = result.split(", ")
    logs_on = protocol == "MAPI over HTTP" and (vantage == "internal" or reach != "internal only")
    if logs_on:
        assert re.fullmatch(rf"MAPI OK - {re.escape(smtp)} logged on in \d+\.\d\d s, Inbox 0 "
                            r"items", outcome.status), outcome.status
        assert outcome.perfdata["inbox_items"] == "0;;;0"
        for label in ("connect_time", "disconnect_time", "inbox_time", "logon_time"):
            assert re.fullmatch(rf"{TIME}s;;;0", outcome.perfdata[label]), label
        kind = "InternalUrl" if vantage == "internal" else "ExternalUrl"
        assert outcome.long[0] == (f"mailbox {smtp} at {emulator.mapi_url(smtp)} (auth basic, "
                                   f"vantage {vantage}: {kind})")
        assert emulator.stats().requests == {"autodiscover": 1, "Connect": 1, "Execute": 2,
                                             "Disconnect": 1}
        return
    if protocol == "MAPI over HTTP":
        said = "internal only as configured; not offered externally"
    else:
        said = ("MAPI over HTTP disabled for this mailbox as configured; Autodiscover offers "
                "Outlook Anywhere" + (" (internal only)" if reach == "internal only" else ""))
    assert outcome.status == f"MAPI OK - {smtp}: {said}"
    for label in LABELS[3:-1]:  # no logon was attempted: nothing of it measured
        assert outcome.perfdata[label] == "U;;;0", (label, outcome.perfdata[label])
    assert outcome.long[0] == f"mailbox {smtp} (auth basic, vantage {vantage})"
    assert emulator.stats().requests == {"autodiscover": 1}


DRIFTS = [
    # (emulator row, settings given, vantage, state, code, status after "<smtp>: ", available)
    (("$false", "$null", "$false"), ("true", "null", "false"), "internal", "WARNING", 1,
     "configuration drift: settings resolve to MAPI over HTTP (internal and external) but "
     "Autodiscover offers Outlook Anywhere only", "0"),
    (("$true", "$false", "$false"), ("true", "null", "false"), "external", "WARNING", 1,
     "configuration drift: settings resolve to MAPI over HTTP (internal and external) but "
     "Autodiscover offers Outlook Anywhere only", "0"),
    (("$true", "$null", "$true"), ("true", "null", "false"), "external", "WARNING", 1,
     "configuration drift: settings resolve to MAPI over HTTP (internal and external) but "
     "Autodiscover offers MAPI over HTTP (internal only)", "0"),
    (("$true", "$null", "$false"), ("true", "null", "true"), "external", "WARNING", 1,
     "configuration drift: settings resolve to MAPI over HTTP (internal only) but Autodiscover "
     "offers MAPI over HTTP (internal and external); logged on in ", "1"),
    (("$false", "$true", "$false"), ("false", "null", "false"), "internal", "WARNING", 1,
     "configuration drift: settings resolve to Outlook Anywhere (internal and external) but "
     "Autodiscover offers MAPI over HTTP (internal and external); logged on in ", "1"),
    (("$false", "$null", "$false"), ("false", "null", "true"), "external", "WARNING", 1,
     "configuration drift: settings resolve to Outlook Anywhere (internal only) but "
     "Autodiscover offers Outlook Anywhere (internal and external)", "1"),
]


@pytest.mark.parametrize(("row", "settings", "vantage", "state", "code", "text", "available"),
                         DRIFTS)
def test_drift(organizations: dict[str, Emulator], row: tuple[str, str, str],
               settings: tuple[str, str, str], vantage: str, state: str, code: int, text: str,
               available: str) -> None:
    smtp = address(row[1], row[2])
    outcome = probe(organizations[row[0]], smtp, "--org-mapihttp", settings[0],
                    "--mailbox-mapihttp", settings[1], "--block-external", settings[2],
                    "--vantage", vantage)
    assert outcome.code == code
    assert outcome.status.startswith(f"MAPI {state} - {smtp}: {text}"), outcome.status
    assert outcome.perfdata["availability"] == f"{available};;;0;1"
    assert ("(Outlook clients pick up a changed setting only after a restart; a recent change "
            "may still be pending)") in outcome.long


@pytest.mark.parametrize(("drift_state", "code"), [("critical", 2), ("ok", 0), ("unknown", 3)])
def test_drift_state(organizations: dict[str, Emulator], drift_state: str, code: int) -> None:
    smtp = address("$null", "$false")
    outcome = probe(organizations["$false"], smtp, "--org-mapihttp", "true", "--drift-state",
                    drift_state)
    assert outcome.code == code
    assert outcome.status.endswith(": configuration drift: settings resolve to MAPI over HTTP "
                                   "(internal and external) but Autodiscover offers Outlook "
                                   "Anywhere only")


def test_topology_instead_of_org_setting(organizations: dict[str, Emulator]) -> None:
    smtp = address("$true", "$false")
    outcome = probe(organizations["$false"], smtp, "--topology", "2019-from-2013",
                    "--mailbox-mapihttp", "true")
    assert outcome.code == 0
    assert "expected MAPI over HTTP, internal and external (mailbox MapiHttpEnabled=$true " \
           "overrides organization $false)" in outcome.long


@pytest.mark.parametrize(("smtp", "org", "argv", "code", "status"), [
    (address("$null", "$false"), "$false", [], 2,
     "MAPI CRITICAL - {smtp}: MAPI over HTTP not offered: Autodiscover offers Outlook Anywhere "
     "only"),
    (address("$null", "$true"), "$true", ["--vantage", "external"], 2,
     "MAPI CRITICAL - {smtp}: MAPI over HTTP not offered externally: Autodiscover gives no "
     "ExternalUrl (internal only)"),
    (address("$null", "$false"), "$false", ["--expect-protocol", "outlook-anywhere"], 0,
     "MAPI OK - {smtp}: Autodiscover offers Outlook Anywhere (internal and external); as "
     "expected"),
    (address("$null", "$true"), "$false", ["--expect-protocol", "any"], 0,
     "MAPI OK - {smtp}: Autodiscover offers Outlook Anywhere (internal only); MAPI over HTTP "
     "not offered"),
    (address("$null", "$false"), "$true", ["--expect-protocol", "outlook-anywhere"], 1,
     "MAPI WARNING - {smtp}: configuration drift: Outlook Anywhere expected (--expect-protocol) "
     "but Autodiscover offers MAPI over HTTP (internal and external); logged on in"),
])
def test_without_settings(organizations: dict[str, Emulator], smtp: str, org: str,
                          argv: list[str], code: int, status: str) -> None:
    outcome = probe(organizations[org], smtp, *argv)
    assert outcome.code == code
    assert outcome.status.startswith(status.format(smtp=smtp)), outcome.status
