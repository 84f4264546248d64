"""check_mapi: log on to an Exchange mailbox over MAPI over HTTP, like Outlook does.

Layers, imports flowing down only: ``cli`` -> ``plugin`` -> ``probe`` -> ``session`` ->
``transport``/``auth`` -> ``wire`` (a pure byte codec) -> ``errors``.
"""

from __future__ import annotations

__version__ = "0.1.0"
