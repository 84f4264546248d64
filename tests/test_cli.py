"""The ``check_mapi`` command keeps Monitoring Plugins exit codes, also from argparse."""

from __future__ import annotations

import subprocess
import sys

import pytest

from check_mapi import __version__
from check_mapi.cli import main


@pytest.mark.parametrize(("argv", "first_line"), [
    (["--version"], f"check_mapi {__version__}"),
    (["--help"], "usage: check_mapi [-h] [-V]"),
    (["--no-such-option"], "MAPI UNKNOWN - unrecognized arguments: --no-such-option"),
    ([], "MAPI UNKNOWN - the logon probe is not part of this version yet"),
])
def test_exit_unknown(argv: list[str], first_line: str,
                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 3
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == first_line
    assert err == ""


def test_console_entry_point_as_module() -> None:
    proc = subprocess.run([sys.executable, "-m", "check_mapi"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert (proc.returncode, proc.stderr) == (3, "")
    assert proc.stdout == "MAPI UNKNOWN - the logon probe is not part of this version yet\n"
