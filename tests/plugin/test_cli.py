"""Options, secrets and the output contract of failures that are not the server's fault."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from check_mapi import __version__
from check_mapi.cli.parser import build_parser
from check_mapi.emulator import Emulator
from check_mapi.plugin.main import main, run

from .conftest import LEGACY_DN, OK_LINE, PASSWORD, SMTP, TOKEN, mapi_url


def cli(*argv: str) -> tuple[int, str]:
    code, output = run(list(argv))
    return int(code), output


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHECK_MAPI_PASSWORD", "CHECK_MAPI_TOKEN", "NAGIOS_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("argv", "first_line"), [
    (["--version"], f"check_mapi {__version__}"),
    (["--help"], "usage: check_mapi [-h] [-V] [--extra-opts [[SECTION][@FILE]]] [--demo]"),
    (["--no-such-option"], "MAPI UNKNOWN - unrecognized arguments: --no-such-option"),
    (["-t"], "MAPI UNKNOWN - argument -t/--timeout: expected one argument"),
])
def test_argparse_exits_unknown(argv: list[str], first_line: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 3
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == first_line
    assert err == ""


def base(url: str = "https://mail.contoso.com/mapi/emsmdb/?MailboxId=x@contoso.com") -> list[str]:
    return ["-m", SMTP, "--url", url, "--legacy-dn", LEGACY_DN]


@pytest.mark.parametrize(("argv", "message"), [
    ([], "missing -m/--mailbox"),
    (["-m", SMTP, "--url", "https://x/mapi/emsmdb/", "--password", "x"],
     "missing --legacy-dn: --url and --legacy-dn go together (they skip Autodiscover)"),
    ([*base(), "-w", "1e3"], "-w/--warning: invalid range '1e3'"),
    ([*base(), "--items-critical", "20:10"], "--items-critical: invalid range '20:10'"),
    ([*base(), "-t", "0"], "--timeout 0: give more than 0 and at most 3600 seconds"),
    ([*base(), "--rows", "0"], "--rows 0: give 1 to 100"),
    ([*base("ftp://x/y"), "--password", "x"], "--url 'ftp://x/y' is not an http(s) URL"),
    (base(), "no password: give --password-file, CHECK_MAPI_PASSWORD or an --extra-opts "
             "section"),
    ([*base(), "--auth", "bearer"], "--auth bearer needs a token: --token-file or "
                                    "CHECK_MAPI_TOKEN"),
    ([*base(), "--password", "x", "--ca-file", "/nonexistent.pem"],
     "--ca-file /nonexistent.pem: cannot load it (No such file or directory)"),
])
def test_config_errors_are_unknown(argv: list[str], message: str) -> None:
    code, output = cli(*argv)
    assert code == 3
    assert output.splitlines()[0].startswith(f"MAPI UNKNOWN - {message}")
    assert len(output.splitlines()) == 1


def write(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_secret_files_must_be_private(tmp_path: Path) -> None:
    loose = write(tmp_path / "pw", PASSWORD + "\n", 0o644)
    code, output = cli(*base(), "--password-file", str(loose))
    assert code == 3
    assert output.startswith(f"MAPI UNKNOWN - password file {loose} is readable by others "
                             "(mode 0644, ")  # owner:group: see test_secret_files.py
    assert output.endswith("); chmod 600 it\n")
    code, output = cli(*base(), "--password-file", str(tmp_path / "missing"))
    assert output == (f"MAPI UNKNOWN - cannot read password file {tmp_path / 'missing'}: "
                      "No such file or directory\n")
    empty = write(tmp_path / "empty", "\n", 0o600)
    assert cli(*base(), "--password-file", str(empty))[1] == (
        f"MAPI UNKNOWN - password file {empty} is empty\n")
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe" + PASSWORD.encode())
    binary.chmod(0o600)
    assert cli(*base(), "--password-file", str(binary))[1] == (
        f"MAPI UNKNOWN - password file {binary} is not UTF-8 text\n")
    assert cli(*base(), "--token-file", str(tmp_path))[1] == (
        f"MAPI UNKNOWN - token file {tmp_path} is a directory, not a regular file\n")


def test_extra_opts(tmp_path: Path, emulator: Emulator) -> None:
    ini = write(tmp_path / "plugins.ini", f"[check_mapi]\nmailbox = {SMTP}\n"
                f"url = {mapi_url(emulator)}\nlegacy-dn = {LEGACY_DN}\npassword = {PASSWORD}\n"
                "\n[other]\nverbose=\n", 0o600)
    code, output = cli(f"--extra-opts=@{ini}")
    assert code == 0, output
    assert OK_LINE.fullmatch(output.splitlines()[0])
    code, output = cli("--extra-opts", f"other@{ini}", *base(mapi_url(emulator)),
                       "--password", PASSWORD)
    assert code == 0
    assert len(output.splitlines()) > 1  # [other] turned on -v
    ini.chmod(0o644)
    code, output = cli(f"--extra-opts=@{ini}")
    assert (code, output.partition(" (")[0]) == (3, (
        f"MAPI UNKNOWN - --extra-opts file holding a secret {ini} is readable by others"))
    assert cli(f"--extra-opts=nosuch@{ini}") == (3, (
        f"MAPI UNKNOWN - --extra-opts: no section [nosuch] in {ini}\n"))


def test_extra_opts_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("check_mapi.cli.extra_opts.EXTRA_OPTS_FILES", ())
    assert cli("--extra-opts") == (3, (
        "MAPI UNKNOWN - --extra-opts: no plugins.ini found; give [section]@file\n"))
    write(tmp_path / "plugins.ini", "[check_mapi]\nrows = 0\n", 0o644)
    monkeypatch.setenv("NAGIOS_CONFIG_PATH", str(tmp_path))  # directories, as upstream
    assert cli("--extra-opts", *base(), "--password", "x")[1].startswith(
        "MAPI UNKNOWN - --rows 0")  # the file's option arrived (its wording: elsewhere)
    bad = write(tmp_path / "bad.ini", "no section header\n", 0o600)
    assert cli(f"--extra-opts=@{bad}")[1] == (
        f"MAPI UNKNOWN - --extra-opts: {bad} line 1: text before the first [section] "
        "header\n")


def every_way(tmp_path: Path, emulator: Emulator) -> list[tuple[list[str], dict[str, str]]]:
    pw = write(tmp_path / "pw", PASSWORD + "\n", 0o600)
    tok = write(tmp_path / "tok", TOKEN + "\n", 0o600)
    ini = write(tmp_path / "p.ini", f"[check_mapi]\npassword = {PASSWORD}\n", 0o600)
    url = mapi_url(emulator)
    return [
        ([*base(url), "--password-file", str(pw)], {}),
        (base(url), {"CHECK_MAPI_PASSWORD": PASSWORD}),
        ([*base(url), f"--extra-opts=@{ini}"], {}),
        ([*base(url), "--password", PASSWORD], {}),
        ([*base(url), "--token-file", str(tok)], {}),
        (base(url), {"CHECK_MAPI_TOKEN": TOKEN}),
        ([*base(url), "--token", TOKEN], {}),
    ]


def test_sentinel_secrets_never_shown(tmp_path: Path, emulator_factory: object) -> None:
    """Success and failure, -vvv, as a subprocess: stdout and stderr never hold a secret."""
    ok = emulator_factory()  # type: ignore[operator]
    failing = emulator_factory('[[mailbox.fault]]\nstep = "inbox"\nhttp_status = 500\n')  # type: ignore[operator]
    for emulator in (ok, failing):
        for argv, env in every_way(tmp_path, emulator):
            proc = subprocess.run([sys.executable, "-m", "check_mapi", *argv, "-vvv",
                                   "--show-subjects"], capture_output=True, text=True,
                                  env={**os.environ, **env}, timeout=60, check=False)
            assert proc.returncode == (0 if emulator is ok else 2), proc.stdout
            assert proc.stderr == ""
            for secret in (PASSWORD, TOKEN, "MapiContext="):
                assert secret not in proc.stdout
    wrong = subprocess.run([sys.executable, "-m", "check_mapi", *base(mapi_url(ok)), "-vvv",
                            "--token", "wrong-" + TOKEN], capture_output=True, text=True,
                           timeout=60, check=False)
    assert wrong.returncode == 2
    assert TOKEN not in wrong.stdout


def test_internal_errors_are_unknown_without_class_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr("check_mapi.plugin.runner.run_probe", boom)
    code, output = cli(*base(), "--password", "x")
    assert (code, output) == (3, "MAPI UNKNOWN - internal error: boom\n")
    code, output = cli(*base(), "--password", "x", "-vvv")  # the traceback only at -vvv
    assert code == 3
    assert output.startswith("MAPI UNKNOWN - internal error: boom\nTraceback")


def test_demo_other_mailbox() -> None:
    code, output = cli("--demo", "-m", "broken@contoso.com")
    assert code == 2
    assert re.match(r"MAPI CRITICAL - broken@contoso\.com: logon failed: RopLogon returned "
                    r"ecLoginFailure \(0x80040111\) \| autodiscover_time=\S+ availability=0;;;0;1 ",
                    output)
    code, output = cli("--demo", "-m", "nobody@contoso.com")
    assert code == 3
    assert output.startswith("MAPI UNKNOWN - --demo: the emulator has no mailbox "
                             "nobody@contoso.com; it has probe@contoso.com, ")


def _bench_flags() -> set[str]:
    """The options of python -m check_mapi.bench, read from its source."""
    source = (Path(__file__).resolve().parents[2] / "check_mapi" / "bench" / "__main__.py")
    return set(re.findall(r'add_argument\("(--[a-z-]+)"', source.read_text()))


def test_documented_flags_exist() -> None:
    """Every --flag in README.md and contrib/ is an option of the parser (no drift)."""
    root = Path(__file__).resolve().parents[2]
    known = {s for action in build_parser()._actions for s in action.option_strings}
    contrib = sorted(path for path in (root / "contrib").rglob("*") if path.is_file())
    texts = [root / "README.md", *contrib]  # contrib/ recursively (icinga2/satellites/...)
    wire_only = {"--columns", "--code-page", "--body"}  # python -m check_mapi.wire decode
    found = set()
    for path in texts:
        found |= set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", path.read_text()))
    emulator_only = {"--listen", "--config", "--tls-cert", "--tls-key", "--example-config"}
    other_tools = {"--no-install-recommends", "--include", "--fail-under",  # apt, coverage
                   "--no-deps", "--no-index", "--find-links", "--upgrade",  # pip
                   "--force-reinstall", "--force", "--python",  # pip, pipx
                   "--accept-config",  # icinga2 node setup
                   "--no-cov"}  # pytest-cov, in the long fuzz profile's command
    bench = _bench_flags()  # python -m check_mapi.bench
    assert found - known - wire_only - emulator_only - bench - other_tools == set()
    assert {"--mailbox", "--url", "--legacy-dn", "--password-file", "--extra-opts"} <= found
