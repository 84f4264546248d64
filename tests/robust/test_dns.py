"""Name resolution is bounded by -t (issue 14): a DNS server that never answers.

``getaddrinfo`` has no timeout of its own and glibc waits ``timeout:5 attempts:2`` per
server; the transport resolves in a helper thread and waits no longer than the deadline
(``transport.network._lookup``). To make the lookup of the plugin really go unanswered,
the plugin runs in private mount and network namespaces (``unshare``): there
/etc/resolv.conf is bind-mounted to one naming 127.0.0.1, where ``dns_sink.py`` holds a
UDP socket that never replies. glibc has no unprivileged way to choose the name server
(``RES_OPTIONS`` sets options, ``LOCALDOMAIN`` the search list): without the namespaces
(no ``unshare``, or no user namespaces for a non-root user) the test is skipped; CI runs
as root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..plugin.conftest import GUID, LEGACY_DN, SMTP
from .hostile import run_plugin

TIMEOUT = 3
MARGIN = 1.0  # start-up of two interpreters in the namespace, process exit
SINK = str(Path(__file__).with_name("dns_sink.py"))
NAME = "mapi.unanswered.example"  # not in /etc/hosts: asked of the name server


def namespace_prefix(resolv_conf: Path) -> list[str]:
    """The command that runs the rest in the namespaces, or skip the test."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip") or "/usr/sbin/ip"
    if unshare is None or not os.path.exists(ip):
        pytest.skip("needs unshare(1) and ip(8)")
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    prefix = [unshare, *user, "--mount", "--net", "sh", "-c",
              f'{ip} link set lo up && mount --bind "$0" /etc/resolv.conf && exec "$@"',
              str(resolv_conf), sys.executable, SINK]
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30,
                           check=False)
    if probe.returncode != 0:
        pytest.skip(f"no private namespaces here: {probe.stderr.decode()[-200:]}")
    return prefix


URL = f"http://{NAME}/mapi/emsmdb/?MailboxId={GUID}@contoso.com"
CASES = {  # argv after -m, and what the status line says after the mailbox
    "mapi": (["--url", URL, "--legacy-dn", LEGACY_DN, "--allow-basic-over-http"],
             "connect failed: timed out"),
    "autodiscover": (["--state-dir", "{tmp}"], "autodiscover failed: "),
}


@pytest.mark.parametrize("case", CASES)
def test_unanswered_name_lookup_ends_within_the_budget(case: str, tmp_path: Path) -> None:
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("nameserver 127.0.0.1\noptions timeout:30 attempts:5\n")
    prefix = namespace_prefix(resolv_conf)
    extra, said = CASES[case]
    argv = ["-m", SMTP, "--auth", "basic", *(a.format(tmp=tmp_path) for a in extra),
            "-t", str(TIMEOUT)]
    run = run_plugin(argv, prefix=prefix)
    assert run.elapsed < TIMEOUT + MARGIN, run
    assert re.match(rf"MAPI CRITICAL - {re.escape(SMTP)}: {said}", run.first_line), run
    assert run.code == 2 and not run.stderr, run
