"""The MAPI over HTTP configuration resolver against Microsoft's tables, and --explain-config.

The rows below are copied by hand from "Configure MAPI over HTTP in Exchange Server"
(the seed document), cell text as printed there; they are deliberately not derived from
``check_mapi.resolver``'s own tables.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from check_mapi.errors import ConfigError
from check_mapi.plugin.main import main, run
from check_mapi.resolver import (
    COMBINATIONS,
    TOPOLOGIES,
    Protocol,
    Reach,
    Resolution,
    expected_from,
    explain,
    lookup,
    resolve,
    topology,
)

from .seed_tables import TABLE_2

# Table 1: (scenario, Exchange 2019 cell, Exchange 2016 cell), as the document prints them.
TABLE_1 = [
    ("Upgrading from an Exchange 2016 environment",
     "MAPI over HTTP is enabled by default", "n/a"),
    ("Upgrading from an environment that contains any Exchange 2013 servers",
     "MAPI over HTTP is disabled by default", "MAPI over HTTP is disabled by default"),
    ("Upgrading from an Exchange 2010 environment",
     "n/a", "MAPI over HTTP is enabled by default"),
]
# The short --topology value of each row (the version upgraded from).
FROM = {TABLE_1[0][0]: "2016", TABLE_1[1][0]: "2013", TABLE_1[2][0]: "2010"}
TABLE_1_CELLS = [(f"{version}-from-{FROM[scenario]}", scenario, cell)
                 for scenario, in_2019, in_2016 in TABLE_1
                 for version, cell in (("2019", in_2019), ("2016", in_2016))]

VALID_TOPOLOGIES = "2019-from-2016, 2019-from-2013, 2016-from-2013, 2016-from-2010"
PS = {"$true": True, "$false": False, "$null": None}


def cli(*argv: str) -> tuple[int, str]:
    code, output = run(list(argv))
    return int(code), output


@pytest.mark.parametrize(("name", "scenario", "cell"), TABLE_1_CELLS)
def test_table_1_every_cell(name: str, scenario: str, cell: str) -> None:
    if cell == "n/a":
        version = name[:4]
        reading = scenario[0].lower() + scenario[1:]
        with pytest.raises(ConfigError) as info:
            topology(name)
        assert str(info.value) == (
            f"--topology {name} is n/a in Microsoft's table of organization defaults "
            f"(Exchange {version}, {reading}); valid: {VALID_TOPOLOGIES}")
        return
    enabled = {"MAPI over HTTP is enabled by default": True,
               "MAPI over HTTP is disabled by default": False}[cell]
    assert topology(name).org_mapihttp is enabled
    resolution = resolve(topology_name=name)
    assert resolution.org_mapihttp is enabled
    assert resolution.org_source == (f"derived from --topology {name} (Exchange "
                                     f"{name[:4]}, {scenario[0].lower()}{scenario[1:]}: {cell})")
    # The mailbox follows the organization by default: the default decides the protocol.
    assert resolution.protocol is (Protocol.MAPI_HTTP if enabled else Protocol.OUTLOOK_ANYWHERE)


def test_table_1_has_four_scenarios() -> None:
    assert ", ".join(TOPOLOGIES) == VALID_TOPOLOGIES
    assert len([cell for *_, cell in TABLE_1_CELLS if cell != "n/a"]) == len(TOPOLOGIES)


@pytest.mark.parametrize(("org", "mailbox", "block", "result"), TABLE_2)
def test_table_2_every_row(org: str, mailbox: str, block: str, result: str) -> None:
    resolution = resolve(org.lstrip("$"), mailbox.lstrip("$"), block.lstrip("$"))
    assert f"{resolution.protocol.value}, {resolution.reach.value}" == result
    assert resolution.text.startswith(f"{result} (")
    row = lookup(org == "$true", PS[mailbox], block == "$true")
    assert f"{row.protocol.value}, {row.reach.value}" == result
    protocol = result.partition(", ")[0]
    assert expected_from(resolution, "internal") == Protocol(protocol)
    outside = None if result.endswith("internal only") else Protocol(protocol)
    assert expected_from(resolution, "external") == outside
    # The PowerShell spelling from the table is accepted as it is.
    assert resolve(org, mailbox, block) == resolution


def test_table_2_is_complete_and_follows_the_prose() -> None:
    """Mailbox settings take precedence, $null follows, blocking external means inside only."""
    assert len(COMBINATIONS) == 12
    settings_seen = {(c.org_mapihttp, c.mailbox_mapihttp, c.block_external)
                     for c in COMBINATIONS}
    assert settings_seen == set(itertools.product((True, False), (None, True, False),
                                                  (True, False)))
    for row in COMBINATIONS:
        effective = row.org_mapihttp if row.mailbox_mapihttp is None else row.mailbox_mapihttp
        assert row.protocol is (Protocol.MAPI_HTTP if effective else Protocol.OUTLOOK_ANYWHERE)
        assert row.reach is (Reach.INTERNAL_ONLY if row.block_external
                             else Reach.INTERNAL_AND_EXTERNAL)


@pytest.mark.parametrize(("argv", "rule"), [
    (("true", None, None), "organization MapiHttpEnabled=$true; mailbox MapiHttpEnabled=$null "
                           "follows the organization"),
    (("false", "true", "true"), "mailbox MapiHttpEnabled=$true overrides organization $false; "
                                "MapiBlockOutlookExternalConnectivity=$true"),
    (("false", "false", "false"), "mailbox MapiHttpEnabled=$false, same as organization $false"),
    (("TRUE", "Null", "$False"), "organization MapiHttpEnabled=$true; mailbox "
                                 "MapiHttpEnabled=$null follows the organization"),
])
def test_rule_text(argv: tuple[str | None, str | None, str | None], rule: str) -> None:
    assert resolve(*argv).rule == rule


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "the organization's MapiHttpEnabled is unknown: give --org-mapihttp or --topology"),
    ({"org_mapihttp": "yes"}, "--org-mapihttp 'yes': expected true or false"),
    ({"org_mapihttp": "null"}, "--org-mapihttp 'null': expected true or false"),
    ({"org_mapihttp": "true", "mailbox_mapihttp": ""},
     "--mailbox-mapihttp '': expected null, true or false"),
    ({"org_mapihttp": "true", "block_external": "null"},
     "--block-external 'null': expected true or false"),
    ({"topology_name": "2019"}, "--topology '2019' is not a scenario of Microsoft's table of "
                                f"organization defaults; valid: {VALID_TOPOLOGIES}"),
    ({"org_mapihttp": "true", "topology_name": "2019-from-2010"},
     "--topology 2019-from-2010 is n/a in Microsoft's table of organization defaults "
     f"(Exchange 2019, upgrading from an Exchange 2010 environment); valid: {VALID_TOPOLOGIES}"),
])
def test_bad_settings(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(**kwargs)
    assert str(info.value) == message


def test_explicit_organization_setting_wins_over_topology() -> None:
    wins = resolve("true", topology_name="2019-from-2013")
    assert (wins.org_mapihttp, wins.protocol) == (True, Protocol.MAPI_HTTP)
    assert wins.org_source == ("given (--org-mapihttp); it wins over --topology 2019-from-2013, "
                               "whose default is $false")
    same = resolve("true", topology_name="2019-from-2016")
    assert same.org_source == ("given (--org-mapihttp); --topology 2019-from-2016 has the same "
                               "default")
    assert same.topology == "2019-from-2016"


def test_expected_from_refuses_other_vantages() -> None:
    with pytest.raises(ConfigError) as info:
        expected_from(resolve("true"), "auto")
    assert str(info.value) == "vantage 'auto': expected internal or external"


SWITCH = st.sampled_from(["true", "false", "$True", "FALSE", " false "])
OPTION = st.none() | SWITCH | st.sampled_from(["null", "$null", "NULL"]) | st.text(max_size=12)
TOPOLOGY = st.none() | st.sampled_from([*TOPOLOGIES, "2016-from-2016", "2019-from-2010"]) | (
    st.text(max_size=16))


@settings(max_examples=300, deadline=None)
@given(OPTION, OPTION, OPTION, TOPOLOGY, st.sampled_from(["auto", "internal", "external", "x"]))
def test_any_options_give_a_resolution_or_config_error(
        org: str | None, mailbox: str | None, block: str | None, scenario: str | None,
        vantage: str) -> None:
    try:
        resolution = resolve(org, mailbox, block, scenario)
    except ConfigError as err:
        assert "\n" not in str(err)
        return
    assert isinstance(resolution, Resolution)
    assert resolution.internal is True
    assert resolution.external is not resolution.block_external
    try:
        lines = explain(resolution, vantage)
    except ConfigError:
        assert vantage == "x"
        return
    assert lines[0] == resolution.text
    assert len(lines) == (6 if vantage == "auto" else 5)


# --explain-config on the command line (in-process, then once as a subprocess)

MIXED = [
    "MAPI over HTTP, internal only (mailbox MapiHttpEnabled=$true overrides organization "
    "$false; MapiBlockOutlookExternalConnectivity=$true)",
    "organization MapiHttpEnabled=$false: derived from --topology 2019-from-2013 (Exchange 2019, "
    "upgrading from an environment that contains any Exchange 2013 servers: MAPI over HTTP is "
    "disabled by default)",
    "mailbox MapiHttpEnabled=$true: given (--mailbox-mapihttp)",
    "mailbox MapiBlockOutlookExternalConnectivity=$true: given (--block-external)",
    "expected from internal: MAPI over HTTP",
    "expected from external: no connection (MapiBlockOutlookExternalConnectivity=$true: only "
    "internal connections are allowed)",
]


def test_explain_config_topology_and_mailbox_override() -> None:
    code, output = cli("--explain-config", "--topology", "2019-from-2013",
                       "--mailbox-mapihttp", "true", "--block-external", "true")
    assert (code, output.splitlines()) == (0, MIXED)
    assert output.endswith(")\n")


def test_explain_config_defaults_and_vantage() -> None:
    code, output = cli("--explain-config", "--org-mapihttp", "true", "--vantage", "external")
    assert code == 0
    assert output.splitlines() == [
        "MAPI over HTTP, internal and external (organization MapiHttpEnabled=$true; mailbox "
        "MapiHttpEnabled=$null follows the organization)",
        "organization MapiHttpEnabled=$true: given (--org-mapihttp)",
        "mailbox MapiHttpEnabled=$null: not given; $null is the default",
        "mailbox MapiBlockOutlookExternalConnectivity=$false: not given; $false is the default",
        "expected from external: MAPI over HTTP",
    ]


def test_explain_config_contradiction_says_the_explicit_setting_wins() -> None:
    code, output = cli("--explain-config", "--org-mapihttp", "false", "--topology",
                       "2016-from-2010", "--vantage", "internal", "--mailbox-mapihttp", "null")
    assert code == 0
    assert output.splitlines() == [
        "Outlook Anywhere, internal and external (organization MapiHttpEnabled=$false; mailbox "
        "MapiHttpEnabled=$null follows the organization)",
        "organization MapiHttpEnabled=$false: given (--org-mapihttp); it wins over --topology "
        "2016-from-2010, whose default is $true",
        "mailbox MapiHttpEnabled=$null: given (--mailbox-mapihttp)",
        "mailbox MapiBlockOutlookExternalConnectivity=$false: not given; $false is the default",
        "expected from internal: Outlook Anywhere",
    ]


@pytest.mark.parametrize(("argv", "line"), [
    ([], "MAPI UNKNOWN - --explain-config needs --org-mapihttp or --topology"),
    (["--mailbox-mapihttp", "true", "-m", "x@contoso.com"],
     "MAPI UNKNOWN - --explain-config needs --org-mapihttp or --topology"),
    (["--org-mapihttp", "enabled"], "MAPI UNKNOWN - --org-mapihttp 'enabled': expected true or "
                                    "false"),
    (["--topology", "2016-from-2016"], "MAPI UNKNOWN - --topology 2016-from-2016 is n/a in "
     "Microsoft's table of organization defaults (Exchange 2016, upgrading from an Exchange "
     f"2016 environment); valid: {VALID_TOPOLOGIES}"),
])
def test_explain_config_errors_are_unknown(argv: list[str], line: str) -> None:
    assert cli("--explain-config", *argv) == (3, f"{line}\n")


def test_explain_config_bad_vantage_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--explain-config", "--org-mapihttp", "true", "--vantage", "dmz"])
    assert info.value.code == 3
    assert capsys.readouterr() == ("MAPI UNKNOWN - argument --vantage: invalid choice: 'dmz' "
                                   "(choose from 'internal', 'external', 'auto')\n", "")


def _plugin(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECK_MAPI_")}
    return subprocess.run([sys.executable, "-m", "check_mapi", *argv], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def test_explain_config_needs_no_mailbox_url_or_network() -> None:
    """A subprocess, as a monitoring core runs it: exit 0, the lines, nothing on stderr."""
    proc = _plugin("--explain-config", "--topology", "2019-from-2013", "--mailbox-mapihttp",
                   "true", "--block-external", "true", "--demo")
    assert (proc.returncode, proc.stdout.splitlines(), proc.stderr) == (0, MIXED, "")


def test_probe_refuses_mistyped_settings() -> None:
    from check_mapi.plugin.main import run

    base = ["-m", "p@contoso.com", "--url", "https://x/mapi/emsmdb/", "--legacy-dn", "/o=x",
            "--password", "x"]
    code, output = run([*base, "--org-mapihttp", "ture"])
    assert code == 3
    assert output.startswith("MAPI UNKNOWN - --org-mapihttp")
    code, output = run([*base, "--block-external", "true"])
    assert (code, output) == (3, "MAPI UNKNOWN - --mailbox-mapihttp and --block-external need "
                                 "--org-mapihttp or --topology\n")
