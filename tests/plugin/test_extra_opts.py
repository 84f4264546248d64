"""``--extra-opts``: the file Monitoring Plugins' parse_ini.c would pick, malformed files
named by line, and files that could hang or flood the check refused at once.

Which file was picked is observed through the plugin itself: ``--extra-opts=nosuch``
names the file it searched for the section.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from check_mapi.cli.extra_opts import INI_CAP, expand_extra_opts, find_ini
from check_mapi.plugin.main import run

from .conftest import PASSWORD


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def cli(*argv: str) -> tuple[int, str]:
    code, output = run(list(argv))
    return int(code), output


def picked(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The file the plugin read, from its own answer."""
    for key in ("NAGIOS_CONFIG_PATH", "MP_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, output = cli("--extra-opts=nosuch")
    prefix, suffix = "MAPI UNKNOWN - --extra-opts: no section [nosuch] in ", "\n"
    assert code == 3 and output.startswith(prefix) and output.endswith(suffix), output
    return output[len(prefix):-len(suffix)]


@pytest.fixture(autouse=True)
def _no_system_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's own /etc/nagios/plugins.ini must not decide these tests."""
    monkeypatch.setattr("check_mapi.cli.extra_opts.EXTRA_OPTS_FILES", ())
    for key in ("NAGIOS_CONFIG_PATH", "MP_CONFIG_FILE", "CHECK_MAPI_PASSWORD"):
        monkeypatch.delenv(key, raising=False)


def test_nagios_config_path_is_a_list_of_directories(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty, old, new = tmp_path / "empty", tmp_path / "old", tmp_path / "new"
    empty.mkdir()
    write(old / "nagios-plugins.ini", "[x]\n")
    write(new / "nagios-plugins.ini", "[x]\n")
    write(new / "plugins.ini", "[x]\n")
    write(new / "monitoring-plugins.ini", "[x]\n")
    path = f"::{empty}:{old}:{new}:"
    assert picked({"NAGIOS_CONFIG_PATH": path}, monkeypatch) == f"{old}/nagios-plugins.ini"
    assert picked({"NAGIOS_CONFIG_PATH": f"{new}:{old}"}, monkeypatch) == (
        f"{new}/monitoring-plugins.ini")
    (new / "monitoring-plugins.ini").unlink()
    assert picked({"NAGIOS_CONFIG_PATH": f"{new}:{old}"}, monkeypatch) == (
        f"{new}/plugins.ini")


def test_mp_config_file_first_then_path_then_standard_list(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    standard = write(tmp_path / "etc" / "monitoring-plugins.ini", "[x]\n")
    later = write(tmp_path / "etc" / "nagios-plugins.ini", "[x]\n")
    monkeypatch.setattr("check_mapi.cli.extra_opts.EXTRA_OPTS_FILES",
                        (str(tmp_path / "absent.ini"), str(standard), str(later)))
    in_path = write(tmp_path / "dir" / "plugins.ini", "[x]\n")
    chosen = write(tmp_path / "chosen.ini", "[x]\n")
    assert picked({}, monkeypatch) == str(standard)
    assert picked({"NAGIOS_CONFIG_PATH": str(tmp_path / "nothing-here")},
                  monkeypatch) == str(standard)
    assert picked({"NAGIOS_CONFIG_PATH": str(in_path.parent)}, monkeypatch) == str(in_path)
    assert picked({"NAGIOS_CONFIG_PATH": str(in_path.parent), "MP_CONFIG_FILE": str(chosen)},
                  monkeypatch) == str(chosen)


def test_a_file_in_nagios_config_path_is_not_a_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old misreading (a file named in NAGIOS_CONFIG_PATH) finds nothing there."""
    ini = write(tmp_path / "p.ini", "[check_mapi]\nrows = 0\n")
    monkeypatch.setenv("NAGIOS_CONFIG_PATH", str(ini))
    assert find_ini(os.environ) is None
    assert cli("--extra-opts") == (3, (
        "MAPI UNKNOWN - --extra-opts: no plugins.ini found; give [section]@file\n"))


def test_the_found_file_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "plugins.ini", "[check_mapi]\nrows = 0\n")
    monkeypatch.setenv("NAGIOS_CONFIG_PATH", str(tmp_path))
    assert expand_extra_opts(["--extra-opts", "-v"], os.environ) == ["--rows=0", "-v"]


@pytest.mark.parametrize(("text", "line", "why"), [
    ("# comment\nrows = 0\n[check_mapi]\n", 2, "text before the first [section] header"),
    ("[check_mapi]\nrows = 1\nverbose\n", 3,
     "not a valid INI line (expected [section], key = value or a # comment)"),
    ("[check_mapi]\n\n[other]\n[check_mapi]\n", 4, "section [check_mapi] appears twice"),
    (f"[check_mapi]\npassword = {PASSWORD}\n\npassword = {PASSWORD}\n", 4,
     "option 'password' appears twice in [check_mapi]"),
])
def test_malformed_ini_names_the_line(tmp_path: Path, text: str, line: int, why: str) -> None:
    bad = write(tmp_path / "bad.ini", text)
    code, output = cli(f"--extra-opts=@{bad}")
    assert (code, output) == (3, f"MAPI UNKNOWN - --extra-opts: {bad} line {line}: {why}\n")
    assert PASSWORD not in output


def test_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ini"
    bad.write_bytes(b"[check_mapi]\nrows = \xff\n")
    assert cli(f"--extra-opts=@{bad}") == (
        3, f"MAPI UNKNOWN - --extra-opts: {bad} is not UTF-8 text\n")


def test_special_files_refused_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("--extra-opts=@/dev/zero") == (3, (
        "MAPI UNKNOWN - --extra-opts file /dev/zero is a character device, "
        "not a regular file\n"))
    assert cli(f"--extra-opts=@{tmp_path}") == (3, (
        f"MAPI UNKNOWN - --extra-opts file {tmp_path} is a directory, not a regular file\n"))
    (tmp_path / "plugins.ini").mkdir()  # found (it exists), refused when read, as upstream
    monkeypatch.setenv("NAGIOS_CONFIG_PATH", str(tmp_path))
    assert cli("--extra-opts") == (3, (
        f"MAPI UNKNOWN - --extra-opts file {tmp_path}/plugins.ini is a directory, "
        "not a regular file\n"))


def test_fifo_does_not_hang(tmp_path: Path) -> None:
    """As a subprocess with a deadline: nobody writes to this FIFO."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    proc = subprocess.run([sys.executable, "-m", "check_mapi", f"--extra-opts=@{fifo}"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        3, f"MAPI UNKNOWN - --extra-opts file {fifo} is a FIFO, not a regular file\n", "")


def test_size_cap(tmp_path: Path) -> None:
    head = "[check_mapi]\nrows = 0\n"
    big = write(tmp_path / "big.ini", head + "#" * (INI_CAP - len(head)))
    assert expand_extra_opts([f"--extra-opts=@{big}"], {}) == ["--rows=0"]
    with big.open("a") as handle:
        handle.write("\n")
    assert cli(f"--extra-opts=@{big}") == (3, (
        f"MAPI UNKNOWN - --extra-opts file {big} is larger than 1 MiB\n"))


def test_secret_ini_follows_the_secret_file_rule(tmp_path: Path) -> None:
    """0640 in the plugin's own group is accepted (tmp files get it); others never."""
    ini = write(tmp_path / "p.ini", f"[check_mapi]\npassword = {PASSWORD}\n[open]\nrows = 1\n",
                0o640)
    assert ini.stat().st_gid == os.getegid()
    assert expand_extra_opts([f"--extra-opts=@{ini}"], {}) == [f"--password={PASSWORD}"]
    ini.chmod(0o644)
    code, output = cli(f"--extra-opts=@{ini}")
    assert code == 3
    assert output.startswith(f"MAPI UNKNOWN - --extra-opts file holding a secret {ini} is "
                             "readable by others (mode 0644, ")
    assert output.endswith("); chmod 600 it\n")
    assert expand_extra_opts([f"--extra-opts=open@{ini}"], {}) == ["--rows=1"]
