"""contrib/ loaded and run by the real Icinga 2 and Nagios 4 (Debian's packages).

Each daemon runs for a few seconds in a private directory with the check scheduled every
second against an in-process emulator; the test reads the check result the daemon wrote.
Without the daemons the tests skip locally; on CI (CI=true) they must run.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from check_mapi.emulator import Emulator

from .conftest import LEGACY_DN, PASSWORD, SMTP, TIME, mapi_url

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
PLUGIN = Path(sys.executable).parent / "check_mapi"


def need(binary: str) -> str:
    path = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.path.exists(p)), None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is not installed (.ci/run installs it)")
        pytest.skip(f"{binary} is not installed")
    return path


def wait_for(predicate: object, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not predicate():  # type: ignore[operator]
        time.sleep(0.2)


TEMPLATE = "STATE::$service.state$\\tOUTPUT::$service.output$\\tPERF::$service.perfdata$"
OK_OUTPUT = re.compile(rf"MAPI OK - {re.escape(SMTP)} logged on in \d+\.\d\d s, Inbox 2 items")


def test_icinga2_runs_the_check_command(emulator: Emulator, tmp_path: Path) -> None:
    icinga2 = need("icinga2")
    dirs = {name: tmp_path / name for name in ("data", "run", "cache", "log", "spool")}
    for path in dirs.values():
        path.mkdir()
    results = tmp_path / "spool" / "results"
    (tmp_path / "icinga2.conf").write_text(f'''
include <itl>
include "{CONTRIB / "icinga2" / "check_mapi.conf"}"
object CheckerComponent "checker" {{ }}
object Host "mail.contoso.com" {{ check_command = "dummy"; enable_active_checks = false }}
object Service "mapi probe" {{
  host_name = "mail.contoso.com"
  check_command = "mapi"
  check_interval = 1s
  retry_interval = 1s
  vars.mapi_command = "{PLUGIN}"
  vars.mapi_mailbox = "{SMTP}"
  vars.mapi_url = "{mapi_url(emulator)}"
  vars.mapi_legacy_dn = "{LEGACY_DN}"
  vars.mapi_password = "{PASSWORD}"
  vars.mapi_critical = 5
  vars.mapi_timeout = 10
}}
object PerfdataWriter "results" {{
  service_perfdata_path = "{results}"
  service_temp_path = "{results}.tmp"
  host_perfdata_path = "{tmp_path}/spool/host"
  host_temp_path = "{tmp_path}/spool/host.tmp"
  service_format_template = "{TEMPLATE}"
  rotation_interval = 1s
}}
''')
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    defines = [f"-DRunAsUser={user}", f"-DRunAsGroup={group}",
               f"-DDataDir={dirs['data']}", f"-DInitRunDir={dirs['run']}",
               f"-DCacheDir={dirs['cache']}", f"-DLogDir={dirs['log']}",
               f"-DSpoolDir={dirs['spool']}"]
    config = ["-c", str(tmp_path / "icinga2.conf"), *defines]
    check = subprocess.run([icinga2, "daemon", "-C", *config], capture_output=True, text=True,
                           timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    daemon = subprocess.Popen([icinga2, "daemon", *config], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    lines: list[str] = []

    def results_written() -> bool:
        # read before shutdown: a rotation within the same second overwrites the file
        lines.extend(ln for p in sorted(tmp_path.glob("spool/results.*")) for ln in p.read_text(
            ).splitlines() if ln.startswith("STATE::"))
        return bool(lines)

    try:
        wait_for(results_written, 30)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    assert lines, f"Icinga 2 wrote no check result: {sorted(tmp_path.glob('spool/*'))}"
    state, output, perf = (field.split("::", 1)[1] for field in lines[0].split("\t"))
    assert state == "OK"
    assert OK_OUTPUT.fullmatch(output.rstrip()), output
    assert re.search(rf"connect_time={TIME}s;;5;0", perf), perf
    assert PASSWORD not in lines[0]


def nagios_object(kind: str, **directives: str) -> str:
    body = "".join(f"    {key} {value}\n" for key, value in directives.items())
    return f"define {kind} {{\n{body}}}\n"


def test_nagios4_runs_the_command(emulator: Emulator, tmp_path: Path) -> None:
    nagios4 = need("nagios4")
    (tmp_path / "checkresults").mkdir()
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    password.chmod(0o600)
    (tmp_path / "resource.cfg").write_text(f"$USER1$={PLUGIN.parent}\n$USER3$={password}\n")
    week = {day: "00:00-24:00" for day in ("monday", "tuesday", "wednesday", "thursday",
                                            "friday", "saturday", "sunday")}
    (tmp_path / "objects.cfg").write_text("".join([
        nagios_object("timeperiod", timeperiod_name="always", alias="always", **week),
        nagios_object("command", command_name="noop", command_line="/bin/true"),
        nagios_object("contact", contact_name="admin", host_notifications_enabled="0",
                      service_notifications_enabled="0", host_notification_period="always",
                      service_notification_period="always", host_notification_options="n",
                      service_notification_options="n", host_notification_commands="noop",
                      service_notification_commands="noop"),
        nagios_object("host", host_name="mail", address="127.0.0.1", check_command="noop",
                      max_check_attempts="1", check_period="always", contacts="admin",
                      notification_period="always", active_checks_enabled="0"),
        *(nagios_object("service", host_name="mail", service_description=name,
                        check_command=command, max_check_attempts="1", check_interval="1",
                        retry_interval="1", check_period="always", notification_period="always",
                        contacts="admin")
          for name, command in (
              ("mapi probe", f"check_mapi!{SMTP}!{mapi_url(emulator)}!{LEGACY_DN}!-c 5"),
              ("mapi autodiscover", f"check_mapi_autodiscover!{SMTP}!--autodiscover-url "
                                    f"{emulator.autodiscover_url} --org-mapihttp true -c 5"))),
    ]))
    (tmp_path / "nagios.cfg").write_text("".join(f"{key}={value}\n" for key, value in {
        "log_file": tmp_path / "nagios.log", "cfg_file": tmp_path / "objects.cfg",
        "resource_file": tmp_path / "resource.cfg", "status_file": tmp_path / "status.dat",
        "object_cache_file": tmp_path / "objects.cache",
        "precached_object_file": tmp_path / "objects.precache",
        "temp_file": tmp_path / "nagios.tmp", "temp_path": tmp_path,
        "lock_file": tmp_path / "nagios.lock", "retain_state_information": 0,
        "state_retention_file": tmp_path / "retention.dat",
        "command_file": tmp_path / "nagios.cmd", "check_external_commands": 0,
        "check_result_path": tmp_path / "checkresults",
        "nagios_user": pwd.getpwuid(os.getuid()).pw_name,
        "nagios_group": grp.getgrgid(os.getgid()).gr_name,
        "interval_length": 1, "max_service_check_spread": 1, "use_syslog": 0,
        "enable_notifications": 0, "process_performance_data": 1,
        "service_perfdata_file": tmp_path / "perf.dat", "service_perfdata_file_mode": "a",
        "service_perfdata_file_template":
            "STATE::$SERVICESTATE$\\tOUTPUT::$SERVICEOUTPUT$\\tPERF::$SERVICEPERFDATA$",
    }.items()) + f"cfg_file={CONTRIB / 'nagios' / 'check_mapi.cfg'}\n")
    verify = subprocess.run([nagios4, "-v", str(tmp_path / "nagios.cfg")], capture_output=True,
                            text=True, timeout=60, check=False)
    assert verify.returncode == 0, verify.stdout
    perf = tmp_path / "perf.dat"
    daemon = subprocess.Popen([nagios4, str(tmp_path / "nagios.cfg")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: perf.exists() and perf.read_text().count("STATE::") >= 2, 30)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    assert perf.exists(), (tmp_path / "nagios.log").read_text()[-2000:]
    lines = [ln for ln in perf.read_text().splitlines() if ln.startswith("STATE::")]
    assert len(lines) >= 2
    for line in lines:
        state, output, data = (field.split("::", 1)[1] for field in line.split("\t"))
        assert state == "OK", output
        assert OK_OUTPUT.fullmatch(output.rstrip()), output
        assert re.search(rf"connect_time={TIME}s;;5;0", data), data
    assert any("autodiscover_time=" in line for line in lines)
