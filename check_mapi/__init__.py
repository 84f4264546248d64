"""check_mapi: log on to an Exchange mailbox over MAPI over HTTP, like Outlook does.

Layers, imports flowing down only (``tests/test_layering.py`` holds the table):

``plugin``      the shell: entry point, cheap paths, last-resort guard, runner, demo
``cli``         argv / --extra-opts / env -> frozen settings (no httpx)
``output``      Evaluation -> text (Nagios status line, perfdata, long output)
``evaluate``    ProbeResult + thresholds -> Evaluation (Monitoring Plugins ranges), step trace
``probe``       one mailbox, step by step against a Deadline; the MAPI conversation
``autodiscover`` POX/v2, discovery order and redirects, cache, expected-vs-observed verdict
``auth``        AuthSpec -> httpx.Auth flow (Basic, Bearer; NTLM and OAuth to come)
``transport``   the only httpx client: deadline in every socket operation, connection facts
``wire``        the sans-IO MAPI/HTTP codec (standard library only)
base            ``metrics`` (the one table of steps and metrics), ``settings``,
                ``evaluation``, ``deadline``, ``resolver``, ``errors`` (all pure)

``emulator`` is an Exchange-like server beside them: it uses ``wire``'s public names,
``errors`` and ``metrics``, and only ``plugin.demo`` imports it.
"""

from __future__ import annotations

__version__ = "0.1.0"
