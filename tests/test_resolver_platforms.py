"""MAPIEnabled and Exchange Online's rules in the resolver, --explain-config and the verdict.

Source: Set-CASMailbox and Set-OrganizationConfig (MicrosoftDocs/office-docs-powershell):
MAPIEnabled=$false blocks all MAPI clients and the other MAPI settings are ignored;
MapiHttpEnabled and MAPIBlockOutlookExternalConnectivity exist on-premises only.
"""

from __future__ import annotations

import itertools

import pytest

from check_mapi import values
from check_mapi.autodiscover.pox import MapiHttpUrls, PoxAnswer
from check_mapi.autodiscover.verdict import PENDING_NOTE, judge
from check_mapi.errors import ConfigError, ServiceState
from check_mapi.plugin.main import run
from check_mapi.resolver import (
    EXCHANGE_ONLINE,
    ON_PREMISES,
    Protocol,
    expected_from,
    explain,
    resolve,
)

from .seed_tables import TABLE_2

WARNING = ServiceState.WARNING
ONLINE_RULES = ("Exchange Online rules: MAPIEnabled decides; MapiHttpEnabled and "
                "MapiBlockOutlookExternalConnectivity are on-premises only")
NOT_HERE = "not applicable in Exchange Online (on-premises only)"


def cli(*argv: str) -> tuple[int, str]:
    return run(list(argv))


def test_mapi_enabled_false_blocks_every_on_premises_combination() -> None:
    assert len(TABLE_2) == 12
    for org, mailbox, block in itertools.product(("true", "false"), ("null", "true", "false"),
                                                 ("true", "false")):
        res = resolve(org, mailbox, block, mapi_enabled="false")
        assert (res.blocked, res.platform, res.mapi_enabled) == (True, ON_PREMISES, False)
        assert [expected_from(res, side) for side in ("internal", "external")] == [None, None]
        assert res.text == ("no MAPI connection (MAPIEnabled=$false blocks all MAPI clients; "
                            "the other MAPI settings are ignored)")
        same = resolve(org, mailbox, block)
        assert resolve(org, mailbox, block, mapi_enabled="true").text == same.text


@pytest.mark.parametrize(("enabled", "expected"), [
    (None, Protocol.MAPI_HTTP), ("true", Protocol.MAPI_HTTP), ("$False", None)])
def test_exchange_online_mapi_enabled_alone_decides(enabled: str | None,
                                                    expected: Protocol | None) -> None:
    for org, mailbox, block in itertools.product((None, "false"), (None, "false"),
                                                 (None, "true")):
        res = resolve(org, mailbox, block, mapi_enabled=enabled, platform=EXCHANGE_ONLINE)
        assert res.platform == EXCHANGE_ONLINE
        assert expected_from(res, "internal") is expected
        assert expected_from(res, "external") is expected


def test_exchange_online_still_validates_ignored_values() -> None:
    with pytest.raises(ConfigError, match="--org-mapihttp 'yes'"):
        resolve("yes", platform=EXCHANGE_ONLINE)
    with pytest.raises(ConfigError, match="--topology"):
        resolve(topology_name="2016-from-2016", platform=EXCHANGE_ONLINE)
    with pytest.raises(ConfigError, match="--mapi-enabled 'no'"):
        resolve("true", mapi_enabled="no")
    with pytest.raises(ConfigError, match="--platform 'cloud'"):
        resolve("true", platform="cloud")


def test_live_sources_replace_the_option_texts() -> None:
    res = values.replace(resolve("false", "true", mapi_enabled="true"),
                              mapi_enabled_source="read live (Get-CASMailbox)")
    assert explain(res)[1:3] == [
        "on-premises rules: Microsoft's table of MapiHttpEnabled and "
        "MapiBlockOutlookExternalConnectivity, unless MAPIEnabled=$false",
        "mailbox MAPIEnabled=$true: read live (Get-CASMailbox)"]


def test_explain_config_exchange_online() -> None:
    code, output = cli("--explain-config", "--platform", "exchange-online",
                       "--mapi-enabled", "false", "--block-external", "true")
    assert code == 0
    assert output.splitlines() == [
        "no MAPI connection (MAPIEnabled=$false blocks all MAPI clients)",
        ONLINE_RULES,
        "mailbox MAPIEnabled=$false: given (--mapi-enabled)",
        f"organization MapiHttpEnabled=$true: {NOT_HERE}",
        f"mailbox MapiHttpEnabled=$null: {NOT_HERE}",
        "mailbox MapiBlockOutlookExternalConnectivity=$true: given; ignored: on-premises only",
        "expected from internal: no connection (MAPIEnabled=$false)",
        "expected from external: no connection (MAPIEnabled=$false)",
    ]


def test_explain_config_on_premises_says_which_rules_apply() -> None:
    code, output = cli("--explain-config", "--org-mapihttp", "true", "--platform",
                       "on-premises", "--vantage", "external")
    assert code == 0
    lines = output.splitlines()
    assert lines[1].startswith("on-premises rules: Microsoft's table")
    assert lines[2] == "mailbox MAPIEnabled=$true: not given; $true is the default"
    assert lines[-1] == "expected from external: MAPI over HTTP"


def test_explain_config_without_new_options_is_unchanged() -> None:
    code, output = cli("--explain-config", "--org-mapihttp", "true")
    assert code == 0
    assert "MAPIEnabled" not in output and "rules" not in output


def test_mapi_enabled_alone_needs_the_organization_on_premises() -> None:
    assert cli("--explain-config", "--mapi-enabled", "false") == (
        3, "MAPI UNKNOWN - --explain-config needs --org-mapihttp or --topology\n")
    base = ["-m", "p@contoso.com", "--url", "https://x/mapi/emsmdb/", "--legacy-dn", "/o=x",
            "--password", "x"]
    assert cli(*base, "--mapi-enabled", "false") == (
        3, "MAPI UNKNOWN - --mapi-enabled needs --org-mapihttp or --topology (on-premises) "
           "or --platform exchange-online\n")


def test_verdict_drift_when_autodiscover_offers_mapi_that_settings_block() -> None:
    answer = PoxAnswer(action="settings", legacy_dn="/o=x", mapi_http=MapiHttpUrls(
        "1", "https://in/mapi/emsmdb/", None))
    for res in (resolve("true", mapi_enabled="false"),
                resolve(mapi_enabled="false", platform=EXCHANGE_ONLINE)):
        verdict = judge(answer, "internal", WARNING, res)
        assert verdict.state is WARNING
        assert verdict.text == ("configuration drift: settings resolve to no MAPI connection "
                                "(MAPIEnabled=$false) but Autodiscover offers "
                                + answer.offer.text)
        assert PENDING_NOTE in verdict.notes
    both = PoxAnswer(action="settings", legacy_dn="/o=x", mapi_http=MapiHttpUrls(
        "1", "https://in/mapi/emsmdb/", "https://out/mapi/emsmdb/"))
    ok = judge(both, "auto", WARNING, resolve(platform=EXCHANGE_ONLINE))
    assert ok.state is ServiceState.OK and ok.logon
    assert judge(answer, "internal", WARNING, resolve(platform=EXCHANGE_ONLINE)).state is WARNING
