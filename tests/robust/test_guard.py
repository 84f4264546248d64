"""The last-resort guard (issue 14): a bug is UNKNOWN with a one-line reason and no
traceback in the status line; the traceback only in the long output at ``-vvv``. The bug
is injected (there is no known one to trigger): ``run_probe`` raises."""

from __future__ import annotations

import pytest

from check_mapi.plugin.main import run

from ..plugin.conftest import SMTP
from .hostile import plugin_env

ARGV = ["-m", SMTP, "--auth", "basic", "--url", "https://127.0.0.1:1/mapi/emsmdb/",
        "--legacy-dn", "/o=x"]


@pytest.fixture
def bug(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise ValueError("first line\nsecond line | not perfdata")

    monkeypatch.setattr("check_mapi.plugin.runner.run_probe", boom)


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"], ["--verbose", "--verbose"]])
def test_one_line_without_traceback(bug: None, verbosity: list[str]) -> None:
    code, output = run([*ARGV, *verbosity], env=plugin_env())
    assert (code, output) == (
        3, "MAPI UNKNOWN - internal error: first line second line / not perfdata\n")


@pytest.mark.parametrize("verbosity", [["-vvv"], ["-v", "-vv"], ["--verbose"] * 3])
def test_traceback_only_at_vvv(bug: None, verbosity: list[str]) -> None:
    code, output = run([*ARGV, *verbosity], env=plugin_env())
    first, *long = output.splitlines()
    assert code == 3
    assert first == "MAPI UNKNOWN - internal error: first line second line / not perfdata"
    assert long[0] == "Traceback (most recent call last):"
    assert "|" not in "".join(long)


def test_an_empty_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr("check_mapi.plugin.runner.run_probe", boom)
    assert run(ARGV, env=plugin_env()) == (3, "MAPI UNKNOWN - internal error: no details\n")
