"""MAPI over HTTP configuration: Microsoft's two tables as data, and what they resolve to.

Source: Microsoft, "Configure MAPI over HTTP in Exchange Server" (Exchange 2016 and 2019).
Table 1 there gives the organization's default by upgrade scenario; Table 2 (section
"Combining MAPI over HTTP configurations and internal or external connections") gives the
Autodiscover result of every combination of the organization's ``MapiHttpEnabled``
(Set-OrganizationConfig), the mailbox's ``MapiHttpEnabled`` and the mailbox's
``MapiBlockOutlookExternalConnectivity`` (Set-CasMailbox). In the document's words,
"Mailbox-level settings always take precedence over organization-wide settings", and a
mailbox value of ``$null`` "follows organization-level settings".

Pure: the standard library and ``check_mapi.errors`` only. Every problem is a ConfigError
whose one-line message names the option and lists the valid values.

Where the document is not explicit, this module reads it as follows (the tests hold it to
the tables, row by row):

* "internal only" from outside. Table 2 names an "AutoDiscover result"; the document does
  not say whether Autodiscover asked from outside returns no settings or returns settings
  whose connection is then refused. Either way nothing may work from outside:
  ``expected_from(..., "external")`` is ``None``.
* The introduction says a mailbox can "allow or block MAPI over HTTP connections internally,
  externally, or both", but the only per-direction setting it documents,
  MapiBlockOutlookExternalConnectivity, blocks external "Outlook Anywhere or MAPI over HTTP
  connections" alike (Table 2 rows 6, 8 and 12 are Outlook Anywhere, internal only). So no
  combination gives MAPI over HTTP inside and Outlook Anywhere outside; none is invented.
* Organization ``$false``: "MAPI over HTTP connections aren't allowed for all mailboxes"
  reads as "for any mailbox" (its parenthesis and Table 2 rows 7 to 12 agree).
* ``MAPIEnabled`` (Set-CasMailbox, on-premises and Exchange Online): ``$false`` blocks all
  MAPI clients and "the other MAPI settings in this cmdlet are ignored": no connection from
  either side, whatever Table 2 says.
* Exchange Online: MapiHttpEnabled (both) and MapiBlockOutlookExternalConnectivity are
  "available only in on-premises Exchange"; there MAPIEnabled alone decides, and Exchange
  Online offers MAPI over HTTP only (``PLATFORMS``).
* Table 1 gives the default at upgrade time only; the organization may have run
  Set-OrganizationConfig since, so an explicit ``--org-mapihttp`` wins over ``--topology``.
  Table 1 has no row for a new installation, so no topology value stands for one.
"""

from __future__ import annotations

import enum
import re

from .errors import ConfigError
from .values import Value


class Protocol(enum.Enum):
    """The protocol Autodiscover offers Outlook (Table 2, "AutoDiscover result")."""

    MAPI_HTTP = "MAPI over HTTP"
    OUTLOOK_ANYWHERE = "Outlook Anywhere"


class Reach(enum.Enum):
    """Where connections are allowed from (Table 2, "AutoDiscover result")."""

    INTERNAL_AND_EXTERNAL = "internal and external"
    INTERNAL_ONLY = "internal only"


TYPE_CHECKING = False  # mypy reads this name as True; typing itself is not imported
if TYPE_CHECKING:
    from typing import Literal

    Vantage = Literal["internal", "external"]
VANTAGES: tuple[Vantage, ...] = ("internal", "external")

ON_PREMISES, EXCHANGE_ONLINE = "on-premises", "exchange-online"
PLATFORMS = (ON_PREMISES, EXCHANGE_ONLINE)
_ONLINE_RULES = ("Exchange Online rules: MAPIEnabled decides; MapiHttpEnabled and "
                 "MapiBlockOutlookExternalConnectivity are on-premises only")
_ON_PREMISES_RULES = ("on-premises rules: Microsoft's table of MapiHttpEnabled and "
                      "MapiBlockOutlookExternalConnectivity, unless MAPIEnabled=$false")


class Scenario(Value):
    """A row of Table 1: the organization's MapiHttpEnabled default after an upgrade.

    The columns are the version being installed; ``None`` is the table's "n/a".
    """

    upgrading_from: int
    text: str
    exchange_2019: bool | None
    exchange_2016: bool | None

    def default_for(self, target: int) -> bool | None:
        return self.exchange_2019 if target == 2019 else self.exchange_2016


# Table 1 of "Configure MAPI over HTTP in Exchange Server", as printed there.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario(2016, "Upgrading from an Exchange 2016 environment", True, None),
    Scenario(2013, "Upgrading from an environment that contains any Exchange 2013 servers",
             False, False),
    Scenario(2010, "Upgrading from an Exchange 2010 environment", None, True),
)
TARGETS = (2019, 2016)  # Table 1's columns, in the document's order


class Combination(Value):
    """A row of Table 2: the three settings and the Autodiscover result."""

    org_mapihttp: bool
    mailbox_mapihttp: bool | None
    block_external: bool
    protocol: Protocol
    reach: Reach


_MAPI, _OA = Protocol.MAPI_HTTP, Protocol.OUTLOOK_ANYWHERE
_BOTH, _INSIDE = Reach.INTERNAL_AND_EXTERNAL, Reach.INTERNAL_ONLY

# Table 2 of "Configure MAPI over HTTP in Exchange Server", in the document's row order:
# organization MapiHttpEnabled, mailbox MapiHttpEnabled ($null is None),
# MapiBlockOutlookExternalConnectivity -> AutoDiscover result.
COMBINATIONS: tuple[Combination, ...] = (
    Combination(True, None, False, _MAPI, _BOTH),
    Combination(True, None, True, _MAPI, _INSIDE),
    Combination(True, True, False, _MAPI, _BOTH),
    Combination(True, True, True, _MAPI, _INSIDE),
    Combination(True, False, False, _OA, _BOTH),
    Combination(True, False, True, _OA, _INSIDE),
    Combination(False, None, False, _OA, _BOTH),
    Combination(False, None, True, _OA, _INSIDE),
    Combination(False, True, False, _MAPI, _BOTH),
    Combination(False, True, True, _MAPI, _INSIDE),
    Combination(False, False, False, _OA, _BOTH),
    Combination(False, False, True, _OA, _INSIDE),
)
_BY_SETTINGS = {(c.org_mapihttp, c.mailbox_mapihttp, c.block_external): c
                for c in COMBINATIONS}


class Topology(Value):
    """A Table 1 cell that is not "n/a", named for the command line (``2019-from-2013``)."""

    name: str
    target: int
    scenario: Scenario
    org_mapihttp: bool

    def describe(self) -> str:
        text = self.scenario.text
        state = "enabled" if self.org_mapihttp else "disabled"
        return (f"Exchange {self.target}, {text[0].lower()}{text[1:]}: MAPI over HTTP is "
                f"{state} by default")


TOPOLOGIES: dict[str, Topology] = {
    f"{target}-from-{row.upgrading_from}": Topology(f"{target}-from-{row.upgrading_from}",
                                                    target, row, default)
    for row in SCENARIOS for target in TARGETS
    if (default := row.default_for(target)) is not None
}


def lookup(org_mapihttp: bool, mailbox_mapihttp: bool | None,
           block_external: bool) -> Combination:
    """The Table 2 row for these settings (the table covers every combination)."""
    return _BY_SETTINGS[(org_mapihttp, mailbox_mapihttp, block_external)]


def topology(name: str) -> Topology:
    """The Table 1 cell named ``<installed>-from-<upgraded from>``; n/a cells are refused."""
    if name in TOPOLOGIES:
        return TOPOLOGIES[name]
    valid = ", ".join(TOPOLOGIES)
    match = re.fullmatch(r"(20\d\d)-from-(20\d\d)", name)
    rows = {row.upgrading_from: row for row in SCENARIOS}
    if match and int(match[1]) in TARGETS and int(match[2]) in rows:
        text = rows[int(match[2])].text  # a cell of the table, but not in TOPOLOGIES: "n/a"
        raise ConfigError(f"--topology {name} is n/a in Microsoft's table of organization "
                          f"defaults (Exchange {match[1]}, {text[0].lower()}{text[1:]}); "
                          f"valid: {valid}")
    raise ConfigError(f"--topology {name!r} is not a scenario of Microsoft's table of "
                      f"organization defaults; valid: {valid}")


def ps(value: bool | None) -> str:
    """A setting as PowerShell prints it in the document ($true, $false, $null)."""
    return "$null" if value is None else f"${str(value).lower()}"


def parse_switch(option: str, text: str) -> bool:
    """``true`` or ``false``, any case, ``$`` optional (as PowerShell writes them)."""
    word = text.strip().lower().removeprefix("$")
    if word not in ("true", "false"):
        raise ConfigError(f"{option} {text!r}: expected true or false")
    return word == "true"


def parse_mailbox_switch(option: str, text: str) -> bool | None:
    """Like ``parse_switch``, and ``null`` (the mailbox follows the organization)."""
    if text.strip().lower().removeprefix("$") == "null":
        return None
    try:
        return parse_switch(option, text)
    except ConfigError:
        raise ConfigError(f"{option} {text!r}: expected null, true or false") from None


class Resolution(Value):
    """What the settings resolve to, which rule decided, and where each input came from.

    Shaped to be compared with an observation: ``protocol`` and ``internal``/``external``
    say what Autodiscover should offer from each side (see ``expected_from``).
    """

    protocol: Protocol
    internal: bool
    external: bool
    rule: str
    org_mapihttp: bool
    org_source: str
    mailbox_mapihttp: bool | None
    mailbox_source: str
    block_external: bool
    block_source: str
    topology: str | None = None
    mapi_enabled: bool = True
    mapi_enabled_source: str = "not given; $true is the default"
    platform: str = ON_PREMISES
    platform_given: bool = False

    @property
    def reach(self) -> Reach:
        return Reach.INTERNAL_AND_EXTERNAL if self.external else Reach.INTERNAL_ONLY

    @property
    def blocked(self) -> bool:
        """MAPIEnabled=$false: no MAPI connection from either side."""
        return not (self.internal or self.external)

    @property
    def summary(self) -> str:
        """``MAPI over HTTP (internal only)``, or ``no MAPI connection (MAPIEnabled=$false)``."""
        if self.blocked:
            return "no MAPI connection (MAPIEnabled=$false)"
        return f"{self.protocol.value} ({self.reach.value})"

    @property
    def text(self) -> str:
        """``MAPI over HTTP, internal only (<the rule>)``."""
        if self.blocked:
            return f"no MAPI connection ({self.rule})"
        return f"{self.protocol.value}, {self.reach.value} ({self.rule})"


def rule(org_mapihttp: bool, mailbox_mapihttp: bool | None, block_external: bool) -> str:
    """Why: mailbox settings take precedence, ``$null`` follows the organization."""
    if mailbox_mapihttp is None:
        parts = [f"organization MapiHttpEnabled={ps(org_mapihttp)}",
                 "mailbox MapiHttpEnabled=$null follows the organization"]
    elif mailbox_mapihttp == org_mapihttp:
        parts = [f"mailbox MapiHttpEnabled={ps(mailbox_mapihttp)}, same as organization "
                 f"{ps(org_mapihttp)}"]
    else:
        parts = [f"mailbox MapiHttpEnabled={ps(mailbox_mapihttp)} overrides organization "
                 f"{ps(org_mapihttp)}"]
    if block_external:
        parts.append("MapiBlockOutlookExternalConnectivity=$true")
    return "; ".join(parts)


def _organization(org_mapihttp: str | None, topology_name: str | None) -> tuple[bool, str]:
    scenario = topology(topology_name) if topology_name is not None else None
    if org_mapihttp is None:
        if scenario is None:
            raise ConfigError("the organization's MapiHttpEnabled is unknown: give "
                              "--org-mapihttp or --topology")
        return scenario.org_mapihttp, (f"derived from --topology {scenario.name} "
                                       f"({scenario.describe()})")
    value = parse_switch("--org-mapihttp", org_mapihttp)
    if scenario is None:
        return value, "given (--org-mapihttp)"
    if scenario.org_mapihttp == value:
        return value, f"given (--org-mapihttp); --topology {scenario.name} has the same default"
    return value, (f"given (--org-mapihttp); it wins over --topology {scenario.name}, whose "
                   f"default is {ps(scenario.org_mapihttp)}")


_BLOCKED_RULE = ("MAPIEnabled=$false blocks all MAPI clients; the other MAPI settings "
                 "are ignored")


def _mapi_enabled(text: str | None) -> tuple[bool, str]:
    if text is None:
        return True, "not given; $true is the default"
    return parse_switch("--mapi-enabled", text), "given (--mapi-enabled)"


def resolve(org_mapihttp: str | None = None, mailbox_mapihttp: str | None = None,
            block_external: str | None = None, topology_name: str | None = None, *,
            mapi_enabled: str | None = None, platform: str | None = None) -> Resolution:
    """Resolve the command-line values (``None``: not given) through Table 1 and Table 2.

    A mailbox value not given is ``$null`` and MapiBlockOutlookExternalConnectivity not
    given is ``$false``: the document calls both "the default value". ``platform``
    ``exchange-online`` resolves by MAPIEnabled alone (``_resolve_online``). Values read
    live replace the "given (--option)" texts afterwards (``values.replace``).
    """
    if platform not in (None, *PLATFORMS):
        raise ConfigError(f"--platform {platform!r}: expected {' or '.join(PLATFORMS)}")
    enabled, enabled_source = _mapi_enabled(mapi_enabled)
    if platform == EXCHANGE_ONLINE:
        return _resolve_online(enabled, enabled_source, (org_mapihttp, mailbox_mapihttp,
                                                         block_external, topology_name))
    org, org_source = _organization(org_mapihttp, topology_name)
    mailbox, mailbox_source = None, "not given; $null is the default"
    if mailbox_mapihttp is not None:
        mailbox = parse_mailbox_switch("--mailbox-mapihttp", mailbox_mapihttp)
        mailbox_source = "given (--mailbox-mapihttp)"
    block, block_source = False, "not given; $false is the default"
    if block_external is not None:
        block = parse_switch("--block-external", block_external)
        block_source = "given (--block-external)"
    row = lookup(org, mailbox, block)
    why = rule(org, mailbox, block) if enabled else _BLOCKED_RULE
    return Resolution(row.protocol, internal=enabled, external=enabled and row.reach is _BOTH,
                      rule=why, org_mapihttp=org, org_source=org_source,
                      mailbox_mapihttp=mailbox, mailbox_source=mailbox_source,
                      block_external=block, block_source=block_source, topology=topology_name,
                      mapi_enabled=enabled, mapi_enabled_source=enabled_source,
                      platform_given=platform is not None)


def _resolve_online(enabled: bool, enabled_source: str,
                    on_premises: tuple[str | None, ...]) -> Resolution:
    """Exchange Online: MAPIEnabled alone; the on-premises values are checked, then ignored."""
    org_text, mailbox_text, block_text, topology_name = on_premises
    ignored = "; ignored: on-premises only"
    org, org_source = True, "not applicable in Exchange Online (on-premises only)"
    if org_text is not None:
        org, org_source = parse_switch("--org-mapihttp", org_text), f"given{ignored}"
    if topology_name is not None:
        topology(topology_name)
        org_source += f"; --topology {topology_name} ignored: on-premises only"
    mailbox, mailbox_source = None, "not applicable in Exchange Online (on-premises only)"
    if mailbox_text is not None:
        mailbox = parse_mailbox_switch("--mailbox-mapihttp", mailbox_text)
        mailbox_source = f"given{ignored}"
    block, block_source = False, "not applicable in Exchange Online (on-premises only)"
    if block_text is not None:
        block, block_source = parse_switch("--block-external", block_text), f"given{ignored}"
    why = (_BLOCKED_RULE.split(";", maxsplit=1)[0] if not enabled
           else "MAPIEnabled=$true; Exchange Online offers MAPI over HTTP from anywhere")
    return Resolution(Protocol.MAPI_HTTP, internal=enabled, external=enabled, rule=why,
                      org_mapihttp=org, org_source=org_source, mailbox_mapihttp=mailbox,
                      mailbox_source=mailbox_source, block_external=block,
                      block_source=block_source, topology=topology_name,
                      mapi_enabled=enabled, mapi_enabled_source=enabled_source,
                      platform=EXCHANGE_ONLINE, platform_given=True)


def expected_from(resolution: Resolution, vantage: str) -> Protocol | None:
    """The protocol Autodiscover should offer from ``vantage``; None: no connection allowed."""
    if vantage not in VANTAGES:
        raise ConfigError(f"vantage {vantage!r}: expected internal or external")
    allowed = resolution.internal if vantage == "internal" else resolution.external
    return resolution.protocol if allowed else None


def explain(resolution: Resolution, vantage: str = "auto") -> list[str]:
    """``--explain-config``: the resolution and its rule, then each input and its source.

    ``auto`` shows what is expected from both sides; ``internal``/``external`` only that one.
    """
    lines = [resolution.text]
    online = resolution.platform == EXCHANGE_ONLINE
    if resolution.platform_given or not resolution.mapi_enabled_source.startswith("not"):
        lines += [_ONLINE_RULES if online else _ON_PREMISES_RULES,
                  f"mailbox MAPIEnabled={ps(resolution.mapi_enabled)}: "
                  f"{resolution.mapi_enabled_source}"]
    lines += [f"organization MapiHttpEnabled={ps(resolution.org_mapihttp)}: "
             f"{resolution.org_source}",
             f"mailbox MapiHttpEnabled={ps(resolution.mailbox_mapihttp)}: "
             f"{resolution.mailbox_source}",
             f"mailbox MapiBlockOutlookExternalConnectivity={ps(resolution.block_external)}: "
             f"{resolution.block_source}"]
    for side in VANTAGES if vantage == "auto" else (vantage,):
        offered = expected_from(resolution, side)
        lines.append(f"expected from {side}: " + (
            offered.value if offered else "no connection (MAPIEnabled=$false)"
            if resolution.blocked else "no connection (MapiBlockOutlookExternalConnectivity"
                                       "=$true: only internal connections are allowed)"))
    return lines
