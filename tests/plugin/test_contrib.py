"""contrib/ loaded and run by the real Icinga 2 and Nagios 4 (Debian's packages).

Each daemon runs for a few seconds in a private directory with the check scheduled every
second against an in-process emulator; the test reads the check result the daemon wrote.
Without the daemons the tests skip locally; on CI (CI=true) they must run.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
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


TEMPLATE = ("NAME::$service.name$\\tSTATE::$service.state$\\tOUTPUT::$service.output$"
            "\\tPERF::$service.perfdata$")
OK_OUTPUT = re.compile(rf"MAPI OK - {re.escape(SMTP)} logged on in \d+\.\d\d s, Inbox 2 items")
# Only -vvv prints a line per request: "Execute {<X-ClientInfo GUID>}:<n>: HTTP 200; ..."
REQUEST_LINE = re.compile(r"(Connect|Execute|Disconnect) \{[0-9A-F-]{36}\}:\d+: HTTP 200; ")


def icinga2_defines(tmp_path: Path) -> list[str]:
    """The -D options that let the daemon run unprivileged with every path in ``tmp_path``."""
    dirs = {name: tmp_path / name for name in ("data", "run", "cache", "log", "spool")}
    for path in dirs.values():
        path.mkdir(exist_ok=True)
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    return [f"-DRunAsUser={user}", f"-DRunAsGroup={group}",
            f"-DDataDir={dirs['data']}", f"-DInitRunDir={dirs['run']}",
            f"-DCacheDir={dirs['cache']}", f"-DLogDir={dirs['log']}",
            f"-DSpoolDir={dirs['spool']}"]


def icinga2_validate(icinga2: str, config: Path, *defines: str) -> str:
    """``icinga2 daemon -C`` of ``config``: its output, after asserting that it passed."""
    check = subprocess.run([icinga2, "daemon", "-C", "-c", str(config), *defines],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    return check.stdout


def icinga2_results(icinga2: str, tmp_path: Path, services: str, wanted: set[str]
                    ) -> dict[str, tuple[str, str, str]]:
    """Run the daemon with ``services`` until each service in ``wanted`` has a check
    result: {service name: (state, output, perfdata)} as the PerfdataWriter wrote them."""
    results = tmp_path / "spool" / "results"
    config = tmp_path / "icinga2.conf"
    config.write_text(f"""
const PluginContribDir = "{PLUGIN.parent}"
include <itl>
include "{CONTRIB / "icinga2" / "check_mapi.conf"}"
object CheckerComponent "checker" {{ }}
object Host "mail.contoso.com" {{ check_command = "dummy"; enable_active_checks = false }}
{services}
object PerfdataWriter "results" {{
  service_perfdata_path = "{results}"
  service_temp_path = "{results}.tmp"
  host_perfdata_path = "{tmp_path}/spool/host"
  host_temp_path = "{tmp_path}/spool/host.tmp"
  service_format_template = "{TEMPLATE}"
  rotation_interval = 1s
}}
""")
    defines = icinga2_defines(tmp_path)
    icinga2_validate(icinga2, config, *defines)
    daemon = subprocess.Popen([icinga2, "daemon", "-c", str(config), *defines],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found: dict[str, tuple[str, str, str]] = {}

    def results_written() -> bool:
        # read before shutdown: a rotation within the same second overwrites the file
        for path in sorted(tmp_path.glob("spool/results.*")):
            for record in path.read_text().split("NAME::")[1:]:
                name, state, output, perf = (
                    field.split("::", 1)[-1] for field in record.rstrip("\n").split("\t"))
                found.setdefault(name, (state, output, perf))
        return wanted <= found.keys()

    try:
        wait_for(results_written, 40)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    assert wanted <= found.keys(), f"Icinga 2 wrote no check result for {wanted - found.keys()}"
    return found


def icinga2_service(name: str, emulator: Emulator, **variables: object) -> str:
    """A Service of "mail.contoso.com" checked every second; a variable given as None is
    left out."""
    settings = {"mapi_mailbox": SMTP, "mapi_url": mapi_url(emulator),
                "mapi_legacy_dn": LEGACY_DN, "mapi_password": PASSWORD, "mapi_timeout": 10,
                **variables}
    body = "".join(f"  vars.{key} = {json.dumps(value)}\n" for key, value in settings.items()
                   if value is not None)
    return (f'object Service "{name}" {{\n  host_name = "mail.contoso.com"\n'
            f'  check_command = "mapi"\n  check_interval = 1s\n  retry_interval = 1s\n{body}}}\n')


SECOND = "second@contoso.com"


@pytest.fixture
def two_mailboxes(emulator_factory: Callable[..., Emulator]) -> Emulator:
    return emulator_factory(f'[[mailbox]]\nsmtp = "{SECOND}"\npassword = "{PASSWORD}"\n')


def test_icinga2_runs_the_check_command(two_mailboxes: Emulator, tmp_path: Path) -> None:
    """The command's default path (PluginContribDir) and every verbosity level reach the
    plugin: only mapi_verbose = 3 prints the per-request lines of -vvv. An array of
    mailboxes and a mailbox file each make one many-mailbox run."""
    icinga2 = need("icinga2")
    emulator = two_mailboxes
    mailbox_file = tmp_path / "mailboxes"
    mailbox_file.write_text(f"# one line\n{SMTP} url={mapi_url(emulator)} "
                            f"legacy-dn='{LEGACY_DN}'\n")
    services = "".join(icinga2_service(name, emulator, mapi_critical=5, mapi_verbose=level)
                       for name, level in (("mapi probe", 0), ("mapi -vv", "2"),
                                           ("mapi -vvv", 3), ("mapi true", True)))
    services += icinga2_service("mapi array", emulator, mapi_mailbox=[SMTP, SECOND],
                                mapi_url=None, mapi_legacy_dn=None, mapi_parallel=2,
                                mapi_autodiscover_url=emulator.autodiscover_url)
    services += icinga2_service("mapi file", emulator, mapi_mailbox=None, mapi_url=None,
                                mapi_legacy_dn=None, mapi_mailbox_file=str(mailbox_file),
                                mapi_output="nagios")
    single = {"mapi probe", "mapi -vv", "mapi -vvv", "mapi true"}
    found = icinga2_results(icinga2, tmp_path, services, single | {"mapi array", "mapi file"})
    state, output, perf = found["mapi probe"]
    assert state == "OK", found
    assert OK_OUTPUT.fullmatch(output.rstrip()), output
    assert re.search(rf"connect_time={TIME}s;;5;0", perf), perf
    for name, (state, output, perf) in found.items():
        assert state == "OK", (name, output)
        assert PASSWORD not in output + perf
    for name in single:
        assert OK_OUTPUT.fullmatch(found[name][1].splitlines()[0].rstrip()), found[name]
    quiet, v2, v3, v1 = (found[name][1] for name in ("mapi probe", "mapi -vv", "mapi -vvv",
                                                     "mapi true"))
    assert len(quiet.splitlines()) == 1, quiet
    assert any(line.startswith("connect: OK in ") for line in v1.splitlines()), v1
    assert not any(REQUEST_LINE.match(line) for line in (v1 + "\n" + v2).splitlines()), v2
    assert len(v2.splitlines()) > len(v1.splitlines()), (v1, v2)
    assert sum(bool(REQUEST_LINE.match(line)) for line in v3.splitlines()) == 4, v3
    for name, count in (("mapi array", 2), ("mapi file", 1)):
        state, output, perf = found[name]
        assert output.startswith(f"MAPI OK - {count} of {count} mailboxes OK"), output
        assert f"mailboxes_ok={count};;;0;{count}" in perf, perf
    assert f"{SECOND}::availability=1;;;0;1" in found["mapi array"][2]


SATELLITES = CONTRIB / "icinga2" / "satellites"
# Debian's constants.conf (root:nagios 0640, so the test cannot read it as a user) defines these
CONSTANTS = ('const PluginDir = "/usr/lib/nagios/plugins"\n'
             'const ManubulonPluginDir = "/usr/lib/nagios/plugins"\n'
             'const PluginContribDir = "/usr/lib/nagios/plugins"\n')


def icinga2_objects(cache: Path) -> dict[tuple[str, str], dict[str, object]]:
    """The objects ``daemon -C`` wrote to CacheDir/icinga2.debug (netstrings of JSON):
    {(type, name): properties}."""
    data, objects = (cache / "icinga2.debug").read_bytes(), {}
    while data:
        size, _, data = data.partition(b":")
        record = json.loads(data[:int(size)])
        objects[record["type"], record["properties"]["__name"]] = record["properties"]
        data = data[int(size) + 1:]
    return objects


@pytest.mark.parametrize(("node", "zones", "services"), [
    ("master1.contoso.com", ("internal", "external"), 2),
    ("sat-lan.contoso.com", ("internal",), 1),
    ("sat-dmz.contoso.com", ("external",), 1)])
def test_icinga2_satellites_config(tmp_path: Path, node: str, zones: tuple[str, ...],
                                   services: int) -> None:
    """The satellite example as the master (every zone) and as each satellite (the zones the
    config sync gives it: its own and global-templates) loads it: each zone's check lives in
    that zone, with that zone's vantage and a check_timeout above the plugin's -t."""
    icinga2 = need("icinga2")
    zones_d = tmp_path / "zones.d"
    for zone in zones:
        shutil.copytree(SATELLITES / "zones.d" / zone, zones_d / zone)
    (zones_d / "global-templates").mkdir()
    shutil.copy(CONTRIB / "icinga2" / "check_mapi.conf", zones_d / "global-templates")
    config = tmp_path / "icinga2.conf"
    config.write_text(f'const NodeName = "{node}"\n{CONSTANTS}include <itl>\ninclude <plugins>\n'
                      f'include "{SATELLITES / "zones.conf"}"\n'
                      f'include_zones "check_mapi", "{zones_d}"\n')
    output = icinga2_validate(icinga2, config, *icinga2_defines(tmp_path))
    assert f"Instantiated {services} Service" in output, output
    objects = icinga2_objects(tmp_path / "cache")
    for zone in zones:
        service = objects["Service", f"exchange-{zone}!MAPI mailboxes"]
        host = objects["Host", f"exchange-{zone}"]
        variables = service["vars"]
        assert isinstance(variables, dict)
        assert (service["zone"], host["zone"]) == (zone, zone)
        assert variables["mapi_vantage"] == zone
        assert variables["mapi_mailbox_file"] == f"/etc/check_mapi/mailboxes-{zone}"
        assert float(str(service["check_timeout"])) > float(str(variables["mapi_timeout"]))
    command = objects["CheckCommand", "mapi"]
    assert command["zone"] == "global-templates"
    assert command["vars"] == {"mapi_command": "/usr/lib/nagios/plugins/check_mapi",
                               "mapi_timeout": 30}


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
    mailbox_file = tmp_path / "mailboxes"
    mailbox_file.write_text(f"{SMTP} url={mapi_url(emulator)} legacy-dn='{LEGACY_DN}'\n")
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
                                    f"{emulator.autodiscover_url} --org-mapihttp true -c 5"),
              ("mapi mailboxes", f"check_mapi_mailboxes!{mailbox_file}!--parallel 2 -c 5"))),
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
            "NAME::$SERVICEDESC$\\tSTATE::$SERVICESTATE$\\tOUTPUT::$SERVICEOUTPUT$"
            "\\tPERF::$SERVICEPERFDATA$",
    }.items()) + f"cfg_file={CONTRIB / 'nagios' / 'check_mapi.cfg'}\n")
    verify = subprocess.run([nagios4, "-v", str(tmp_path / "nagios.cfg")], capture_output=True,
                            text=True, timeout=60, check=False)
    assert verify.returncode == 0, verify.stdout
    perf = tmp_path / "perf.dat"
    daemon = subprocess.Popen([nagios4, str(tmp_path / "nagios.cfg")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found: dict[str, tuple[str, str, str]] = {}

    def results_written() -> bool:
        for line in perf.read_text().splitlines() if perf.exists() else ():
            if line.startswith("NAME::"):
                name, state, output, data = (field.split("::", 1)[1]
                                             for field in line.split("\t"))
                found.setdefault(name, (state, output, data))
        return len(found) == 3

    try:
        wait_for(results_written, 30)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    assert len(found) == 3, (tmp_path / "nagios.log").read_text()[-2000:]
    for name in ("mapi probe", "mapi autodiscover"):
        state, output, data = found[name]
        assert state == "OK", output
        assert OK_OUTPUT.fullmatch(output.rstrip()), output
        assert re.search(rf"connect_time={TIME}s;;5;0", data), data
    assert "autodiscover_time=" in found["mapi autodiscover"][2]
    state, output, data = found["mapi mailboxes"]
    assert state == "OK", output
    assert output.startswith("MAPI OK - 1 of 1 mailboxes OK"), output
    assert "mailboxes_ok=1;;;0;1" in data, data
