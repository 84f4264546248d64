"""Exchange-like MAPI over HTTP emulator for tests and demonstrations.

Autodiscover (POX and v2 JSON) and the MAPI/HTTP mailbox endpoint (Connect, Execute,
Disconnect, PING), strict about what Exchange is strict about, with configurable mailboxes,
faults and counters, and with an ``[identity]`` section an identity provider standing in for
Entra ID (device code, password, refresh token and certificate grants, for msal).
``python -m check_mapi.emulator --help`` runs it from the command line.

>>> with Emulator(load("emulator.toml")) as emu:  # doctest: +SKIP
...     emu.url, emu.stats().open_sessions
"""

from __future__ import annotations

from .config import EmulatorConfig, Mailbox, ServerFacts, load, loads
from .example import example_config
from .faults import Fault, fault_steps
from .items import InboxItem
from .server import Emulator
from .stats import StatsSnapshot

__all__ = ["Emulator", "EmulatorConfig", "Fault", "InboxItem", "Mailbox", "ServerFacts",
           "StatsSnapshot", "example_config", "fault_steps", "load", "loads"]
