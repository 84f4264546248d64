"""What a start loads: module sets, never timings (issue 12; timings are the benchmark's).

A check is a fresh process every minute per mailbox, so every module imported on a path
that does not need it is paid at every start: argparse's shutil (with bz2 and lzma), the
option checks' ipaddress and urllib, shlex without --mailbox-file, grp/pwd without a
secret-file error, xml.etree and html on Autodiscover, dnspython before its SRV lookup.
The cheap paths run with ``-S`` and the source tree on PYTHONPATH, as an installed
plugin starts: the development venv's editable-install finder imports pathlib and
urllib.parse by itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import check_mapi
from check_mapi.emulator import Emulator

ROOT = Path(check_mapi.__file__).parent.parent
REPORT = """
import json, sys
report = sys.argv[1]
sys.argv[1:] = sys.argv[2:]
{body}
with open(report, "w") as handle:
    json.dump({{"code": int(code), "output": output, "modules": sorted(sys.modules)}}, handle)
"""
RUN = REPORT.format(body="from check_mapi.plugin.main import run\n"
                         "code, output = run(sys.argv[1:])")
BASELINE = REPORT.format(body="import argparse\ncode, output = 0, ''")

# Never needed to build the parser or to report an argument error. (typing still comes
# with check_mapi.evaluation to report one.)
NOT_CHEAP = ("shutil", "bz2", "lzma", "ipaddress", "urllib.parse", "shlex", "grp", "pwd",
             "configparser", "traceback", "decimal", "pathlib", "tempfile",
             "xml", "html", "dns", "httpx", "ssl", "socket",
             "check_mapi.transport", "check_mapi.probe", "check_mapi.autodiscover",
             "check_mapi.statefile", "check_mapi.plugin.runner")
# --help and --version stop before the option checks and settings objects, and render no
# status line (typing: ~3.5 ms, a tenth of what --help may cost beyond argparse).
NOT_FOR_HELP = ("check_mapi.cli.options", "check_mapi.cli.mailboxes", "check_mapi.evaluation",
                "check_mapi.output", "typing")
# A probe without Autodiscover, or with it: what neither needs. The IDNA codec (~2 ms,
# loaded inside the first step's time) has nothing to do for an ASCII host name.
IDNA = ("encodings.idna", "stringprep")
NOT_FOR_URL = ("check_mapi.autodiscover", "check_mapi.probe.discover", "check_mapi.statefile",
               "xml", "html", "dns", "shlex", "configparser", "decimal", *IDNA)
NOT_FOR_AUTODISCOVER = ("xml.etree", "html", "dns", "shlex", "configparser", "decimal",
                        *IDNA)


def _names(modules: object, prefixes: tuple[str, ...]) -> list[str]:
    assert isinstance(modules, list)
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def _report(tmp_path: Path, script: str, argv: list[str], *, isolated: bool,
            env: dict[str, str] | None = None) -> dict[str, object]:
    report = tmp_path / "report.json"
    flags = ["-S"] if isolated else []
    extra = {"PYTHONPATH": str(ROOT)} if isolated else {}
    proc = subprocess.run([sys.executable, *flags, "-c", script, str(report), *argv],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **extra, **(env or {})})
    assert proc.stderr == ""
    result: dict[str, object] = json.loads(report.read_text())
    result["output"] = proc.stdout + str(result["output"])  # --help writes to stdout itself
    return result


@pytest.mark.parametrize(("argv", "first_line"), [
    (["--help"], "usage: check_mapi [-h] [-V] [--extra-opts [[SECTION][@FILE]]] [--demo]"),
    (["--version"], f"check_mapi {check_mapi.__version__}"),
    (["-m", "probe@contoso.com", "-w", "bogus"],
     "MAPI UNKNOWN - -w/--warning: invalid range 'bogus' (expected [@][start:][end], e.g. "
     "10, 5:, ~:10, @1:2)"),
    (["--bogus"], "MAPI UNKNOWN - unrecognized arguments: --bogus"),
    (["-m", "probe@contoso.com", "--timeout", "0"],
     "MAPI UNKNOWN - --timeout 0: give more than 0 and at most 3600 seconds")])
def test_cheap_paths_load_only_the_parser_and_the_renderer(tmp_path: Path, argv: list[str],
                                                           first_line: str) -> None:
    baseline = _report(tmp_path, BASELINE, [], isolated=True)["modules"]
    report = _report(tmp_path, RUN, argv, isolated=True)
    assert str(report["output"]).splitlines()[0] == first_line
    assert report["code"] in (0, 3)
    assert isinstance(baseline, list) and isinstance(report["modules"], list)
    extra = sorted(set(report["modules"]) - set(baseline))
    assert "check_mapi.cli.parser" in extra  # the script did run the plugin
    assert _names(extra, NOT_CHEAP) == []
    if argv[0].startswith("--") and argv[0] != "--bogus":
        assert _names(extra, NOT_FOR_HELP) == []


def test_secret_file_errors_and_mailbox_files_load_what_they_need(tmp_path: Path) -> None:
    """The lazy imports still happen where they are needed (and the messages are right)."""
    listing = tmp_path / "mailboxes"
    listing.write_text("probe@contoso.com legacy-dn='/o=Contoso/cn=probe' url=http://x/\n")
    listing.chmod(0o600)
    report = _report(tmp_path, RUN, ["--mailbox-file", str(listing), "-w", "bogus"],
                     isolated=True)
    assert str(report["output"]).startswith("MAPI UNKNOWN - -w/--warning: invalid range")
    assert _names(report["modules"], ("shlex",)) == ["shlex"]
    secret = tmp_path / "password"
    secret.write_text("secret\n")
    secret.chmod(0o644)
    report = _report(tmp_path, RUN, ["-m", "probe@contoso.com", "--password-file",
                                     str(secret)], isolated=True)
    assert "is readable by others" in str(report["output"]).splitlines()[0]
    assert _names(report["modules"], ("pwd", "grp")) != []


def _probe(tmp_path: Path, emulator: Emulator, *args: str) -> dict[str, object]:
    box = emulator.config.by_smtp("probe@contoso.com")
    assert box is not None and box.password is not None
    return _report(tmp_path, RUN, ["-m", box.smtp, "--auth", "basic", *args],
                   isolated=False, env={"CHECK_MAPI_PASSWORD": box.password})


def test_a_url_run_loads_no_autodiscover_xml_or_dns(tmp_path: Path) -> None:
    with Emulator() as emulator:
        box = emulator.config.by_smtp("probe@contoso.com")
        assert box is not None
        report = _probe(tmp_path, emulator, "--url", emulator.mapi_url(box.smtp),
                        "--legacy-dn", box.legacy_dn)
    assert str(report["output"]).startswith("MAPI OK - probe@contoso.com logged on in ")
    assert _names(report["modules"], NOT_FOR_URL) == []
    assert "httpx" in _names(report["modules"], ("httpx",))


def test_an_autodiscover_run_loads_no_element_tree_html_or_dns(tmp_path: Path) -> None:
    with Emulator() as emulator:
        report = _probe(tmp_path, emulator, "--autodiscover-url", emulator.autodiscover_url)
    assert str(report["output"]).startswith("MAPI OK - probe@contoso.com logged on in ")
    assert _names(report["modules"], NOT_FOR_AUTODISCOVER) == []
    loaded = report["modules"]
    assert isinstance(loaded, list)
    assert {"check_mapi.autodiscover.pox", "pyexpat"} <= set(loaded)  # it did parse XML
