"""A LegacyDN the wire cannot carry, past the CLI's own check: the codec's safety net
(``EncodeError``, tests/test_wire_encode.py) makes it CRITICAL at the step, before any
request (issue 14)."""

from __future__ import annotations

import pytest

from check_mapi.emulator import Emulator

from .conftest import SMTP, probe


def test_the_probe_sends_nothing_and_names_the_step(emulator: Emulator,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With the CLI's own check out of the way, the codec still refuses: CRITICAL at
    connect, no request on the wire, no internal error."""
    monkeypatch.setattr("check_mapi.cli.options._ascii_text", lambda *args: None)
    monkeypatch.setattr("tests.plugin.conftest.LEGACY_DN", "/o=Contoso/cn=Jürgen")
    outcome = probe(emulator, monkeypatch=monkeypatch)
    assert outcome.code == 2
    assert outcome.first_line.startswith(f"MAPI CRITICAL - {SMTP}: connect failed: ")
    assert "'ü' at character 15 cannot be sent in ascii" in outcome.first_line
    assert "internal error" not in outcome.output
    assert emulator.stats().total_requests == 0
