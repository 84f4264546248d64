"""The output never crashes, whatever the locale (issue 14): under ``LANG=C``, an ASCII
locale without Python's UTF-8 coercion, ``PYTHONIOENCODING=ascii`` and ``latin-1``, with
Unicode subjects (``--show-subjects``), display names and server error text, the plugin
writes its whole output to stdout in the stream's encoding (UTF-8 under the C locale, as
Python coerces it), characters the encoding lacks as backslash escapes; exit 0-3, nothing
on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ..plugin.conftest import BASE, SMTP
from ..plugin.stall import _Request
from .answers import head
from .hostile import Rig, plugin_env, run_plugin

SUBJECT = "Grüße → 日本語 ✓"
DISPLAY = "Jürgen Müller 東京"
PAGE = "Zugriff verweigert \u2013 アクセス拒否 ü"
ENVIRONMENTS = {  # name: (environment, the encoding the output must be in)
    "LANG=C": ({"LANG": "C", "LC_ALL": "C"}, "utf-8"),
    "ascii-locale": ({"LANG": "C", "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0",
                      "PYTHONUTF8": "0"}, "ascii"),
    "PYTHONIOENCODING=ascii": ({"PYTHONIOENCODING": "ascii"}, "ascii"),
    "PYTHONIOENCODING=latin-1": ({"PYTHONIOENCODING": "latin-1"}, "latin-1"),
}
UNICODE_TOML = (BASE.replace('"Hello from the emulator"', f'"{SUBJECT}"')
                .replace('"Probe Mailbox"', f'"{DISPLAY}"'))


def error_page(request: _Request) -> Iterator[bytes]:
    """A 500 whose page is Unicode (httpx keeps only the ASCII of a reason phrase)."""
    body = f"<html><body><h1>{PAGE}</h1></body></html>".encode()
    yield head(request, "500 Interner Fehler", (
        ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))))
    yield body


def expected(text: str, encoding: str) -> str:
    """``text`` as the plugin must write it in ``encoding`` (decoded back for comparison)."""
    return text.encode(encoding, "backslashreplace").decode(encoding)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_unicode_subjects_and_display_name(name: str) -> None:
    environment, encoding = ENVIRONMENTS[name]
    with Rig(None, base=UNICODE_TOML) as rig:
        run = run_plugin(["-m", SMTP, "--auth", "basic", "--autodiscover-url",
                          rig.relay.autodiscover_url, "--show-subjects", "-vvv"],
                         env=plugin_env(environment))
    output = run.raw.decode(encoding)  # strictly: nothing outside the encoding
    assert output.startswith(f"MAPI OK - {SMTP} logged on in "), run
    assert run.code == 0 and not run.stderr, run
    assert expected(SUBJECT, encoding) in output, run
    assert expected(DISPLAY, encoding) in output, run


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_unicode_error_text(name: str) -> None:
    environment, encoding = ENVIRONMENTS[name]
    with Rig("connect", error_page) as rig:
        run = run_plugin(["-m", SMTP, "--auth", "basic", "--autodiscover-url",
                          rig.relay.autodiscover_url, "-v"], env=plugin_env(environment))
    output = run.raw.decode(encoding)
    assert output.startswith(
        f"MAPI CRITICAL - {SMTP}: connect failed: HTTP 500 Interner Fehler"), run
    assert expected(PAGE, encoding) in output, run
    assert run.code == 2 and not run.stderr, run


def test_a_closed_stdout_is_no_crash() -> None:
    """A core that stopped reading: the exit code still tells the state, stderr is quiet."""
    read, write = os.pipe()
    os.close(read)
    try:
        process = subprocess.run([sys.executable, "-m", "check_mapi", "--demo", "-vvv"],
                                 stdout=write, stderr=subprocess.PIPE, env=plugin_env(),
                                 timeout=60, check=False)
    finally:
        os.close(write)
    assert process.returncode == 0, process
    assert process.stderr == b"", process
