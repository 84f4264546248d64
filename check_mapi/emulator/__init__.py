"""Exchange-like MAPI over HTTP emulator for tests and demonstrations."""

from __future__ import annotations
