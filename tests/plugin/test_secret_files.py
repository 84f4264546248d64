"""Secret files in the layouts administrators use: real files, real modes, real owners.

Accepted: owner-only, and ``root:<the plugin's group> 0640`` (the ``resource.cfg`` way).
Refused, each with one UNKNOWN line naming file, mode, owner:group and the fix: anything
others can read, a group that is not the plugin's effective group, group write, another
user's file, and anything that is not a regular file (refused before it is opened, so a
FIFO cannot hang the check), or larger than 64 KiB.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from check_mapi.cli.secrets import (
    SECRET_FILE_CAP,
    check_private,
    read_capped,
    read_secret_file,
)
from check_mapi.emulator import Emulator
from check_mapi.errors import ConfigError
from check_mapi.plugin.main import run

from .conftest import LEGACY_DN, PASSWORD, SMTP, mapi_url

AS_ROOT = os.geteuid() == 0


def write(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def owner(path: Path) -> str:
    info = path.stat()
    return f"{user(info.st_uid)}:{group(info.st_gid)}"


def refusal(path: Path, what: str = "password file") -> str:
    with pytest.raises(ConfigError) as info:
        read_secret_file(str(path), what)
    return str(info.value)


def other_gid() -> int:
    """A group that is not this process's effective group, which the file's owner may
    give a file: any group when root; else a supplementary group of this user."""
    if AS_ROOT:
        return next(g.gr_gid for g in grp.getgrall() if g.gr_gid != os.getegid())
    spare = [g for g in os.getgroups() if g != os.getegid()]
    if not spare:
        pytest.skip("not root and no supplementary group: cannot make a file whose group "
                    "is not this user's effective group")
    return spare[0]


def plugin(emulator: Emulator, password_file: Path) -> tuple[int, str]:
    code, output = run(["--auth", "basic", "-m", SMTP, "--url", mapi_url(emulator),
                        "--legacy-dn", LEGACY_DN, "--password-file", str(password_file)])
    return int(code), output


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHECK_MAPI_PASSWORD", raising=False)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640, 0o440, 0o700, 0o650])
def test_accepted_layouts_log_on(tmp_path: Path, emulator: Emulator, mode: int) -> None:
    """Owner-only, and group-readable by this user's own effective group (tmp files get
    it): the check logs on with the first line of the file (CRLF and all)."""
    secret = write(tmp_path / "pw", f"{PASSWORD}\r\nsecond line ignored\n", mode)
    assert secret.stat().st_gid == os.getegid()
    code, output = plugin(emulator, secret)
    assert code == 0, output
    assert output.startswith(f"MAPI OK - {SMTP} logged on in ")


def test_root_nagios_0640_as_resource_cfg(tmp_path: Path) -> None:
    """The layout the README recommends: root-owned, the plugin's group, 0640."""
    secret = write(tmp_path / "pw", PASSWORD + "\n", 0o640)
    if AS_ROOT:
        os.chown(secret, 0, os.getegid())  # root: also what a non-root plugin would see
    assert secret.stat().st_uid in (0, os.geteuid())
    assert read_secret_file(str(secret), "password file") == PASSWORD


def test_symlink_is_judged_by_its_target(tmp_path: Path) -> None:
    target = write(tmp_path / "pw", PASSWORD + "\n", 0o600)
    link = tmp_path / "link"
    link.symlink_to(target)
    assert read_secret_file(str(link), "password file") == PASSWORD
    target.chmod(0o644)
    assert refusal(link) == (f"password file {link} is readable by others (mode 0644, "
                             f"{owner(target)}); chmod 600 it")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "missing")
    assert refusal(dangling) == (f"cannot read password file {dangling}: "
                                 "No such file or directory")


@pytest.mark.parametrize(("mode", "verb"), [
    (0o644, "readable"), (0o604, "readable"), (0o400 | 0o004, "readable"),
    (0o602, "accessible"), (0o601, "accessible"),
])
def test_others_never(tmp_path: Path, mode: int, verb: str) -> None:
    secret = write(tmp_path / "pw", PASSWORD + "\n", mode)
    assert refusal(secret) == (f"password file {secret} is {verb} by others "
                               f"(mode {mode:04o}, {owner(secret)}); chmod 600 it")


def test_group_write_refused(tmp_path: Path) -> None:
    secret = write(tmp_path / "pw", PASSWORD + "\n", 0o660)
    assert refusal(secret) == (f"password file {secret} is writable by group "
                               f"{group(os.getegid())} (mode 0660, {owner(secret)}); "
                               "chmod 600 it")


def test_group_other_than_ours_refused(tmp_path: Path) -> None:
    """A supplementary group does not count: its other members could read the file."""
    secret = write(tmp_path / "pw", PASSWORD + "\n", 0o640)
    gid = other_gid()
    os.chown(secret, -1, gid)
    ours = group(os.getegid())
    assert refusal(secret) == (
        f"password file {secret} is readable by group {group(gid)} (mode 0640, "
        f"{user(os.geteuid())}:{group(gid)}), which is not this user's group ({ours}); "
        f"chmod 600 it or chgrp {ours} it")
    secret.chmod(0o660)
    assert refusal(secret) == (f"password file {secret} is writable by group {group(gid)} "
                               f"(mode 0660, {owner(secret)}); chmod 600 it")
    secret.chmod(0o600)  # the group no longer matters
    assert read_secret_file(str(secret), "password file") == PASSWORD


@pytest.mark.skipif(not AS_ROOT, reason="giving a file to another user needs root")
def test_another_users_file_refused(tmp_path: Path) -> None:
    secret = write(tmp_path / "pw", PASSWORD + "\n", 0o600)
    os.chown(secret, 65534, os.getegid())  # nobody: not root, not this user
    me = user(os.geteuid())
    assert refusal(secret) == (f"password file {secret} is owned by {user(65534)} "
                               f"(mode 0600, {owner(secret)}), not by root or this user "
                               f"({me}); chown {me} it")


def test_special_files_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, "token file") == (
        f"token file {tmp_path} is a directory, not a regular file")
    assert refusal(Path("/dev/zero")) == (
        "password file /dev/zero is a character device, not a regular file")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    assert refusal(fifo) == f"password file {fifo} is a FIFO, not a regular file"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        assert refusal(tmp_path / "sock") == (
            f"password file {tmp_path / 'sock'} is a socket, not a regular file")
    with pytest.raises(ConfigError, match="is a FIFO, not a regular file"):
        check_private(str(fifo), "password file")


def test_fifo_does_not_hang_the_plugin(tmp_path: Path) -> None:
    """As a subprocess with a deadline: a FIFO nobody writes would block a plain open()."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    proc = subprocess.run([sys.executable, "-m", "check_mapi", "-m", SMTP, "--url",
                           "https://mail.contoso.com/mapi/emsmdb/?MailboxId=x@contoso.com",
                           "--legacy-dn", LEGACY_DN, "--password-file", str(fifo)],
                          capture_output=True, text=True, timeout=30, check=False,
                          env={k: v for k, v in os.environ.items()
                               if k != "CHECK_MAPI_PASSWORD"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        3, f"MAPI UNKNOWN - password file {fifo} is a FIFO, not a regular file\n", "")


@pytest.mark.parametrize(("size", "accepted"), [(SECRET_FILE_CAP, True),
                                                (SECRET_FILE_CAP + 1, False)])
def test_size_cap(tmp_path: Path, size: int, accepted: bool) -> None:
    body = PASSWORD + "\n"
    secret = write(tmp_path / "pw", body + "#" * (size - len(body)), 0o600)
    assert secret.stat().st_size == size
    if accepted:
        assert read_secret_file(str(secret), "password file") == PASSWORD
    else:
        assert refusal(secret) == f"password file {secret} is larger than 64 KiB"


def test_size_cap_holds_when_the_size_lies() -> None:
    """/proc files claim size 0; the read stops at the cap all the same."""
    kallsyms = Path("/proc/kallsyms")
    if not kallsyms.is_file() or not os.access(kallsyms, os.R_OK):
        pytest.skip("/proc/kallsyms is not readable here")
    assert kallsyms.stat().st_size == 0
    with pytest.raises(ConfigError) as info:
        read_capped(str(kallsyms), "password file", SECRET_FILE_CAP)
    assert str(info.value) == "password file /proc/kallsyms is larger than 64 KiB"


def test_refusals_are_one_unknown_line(tmp_path: Path) -> None:
    """Through the plugin: exit 3, exactly one line, nothing of the secret."""
    secret = write(tmp_path / "pw", PASSWORD + "\n", 0o640)
    os.chown(secret, -1, other_gid())
    code, output = run(["-m", SMTP, "--url", "https://mail.contoso.com/mapi/emsmdb/",
                        "--legacy-dn", LEGACY_DN, "--password-file", str(secret)])
    assert int(code) == 3
    assert output.startswith(f"MAPI UNKNOWN - password file {secret} is readable by group ")
    assert output.count("\n") == 1
    assert PASSWORD not in output


@contextlib.contextmanager
def running_as(uid: int, gid: int, supplementary: tuple[int, ...] = ()) -> Iterator[None]:
    """This process really runs as uid:gid (effective ids) for a moment: the kernel, not a
    stub, decides what it may open. Root only."""
    groups = os.getgroups()
    os.setgroups(list(supplementary))
    os.setegid(gid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged user can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="check_mapi-secrets-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(not AS_ROOT, reason="running as another user needs root")
@pytest.mark.parametrize(("mode", "gid", "answer"), [
    (0o640, "daemon", None),  # the resource.cfg layout: accepted
    (0o440, "daemon", None),
    (0o600, "daemon", "cannot read password file {path}: Permission denied"),
    (0o644, "daemon", "password file {path} is readable by others (mode 0644, root:{daemon});"
                      " chmod 640 it"),
    (0o644, "root", "password file {path} is readable by others (mode 0644, root:root); "
                    "chmod 640 it and chgrp {daemon} it"),
    (0o660, "daemon", "password file {path} is writable by group {daemon} (mode 0660, "
                      "root:{daemon}); chmod 640 it"),
    (0o640, "root", "password file {path} is readable by group root (mode 0640, root:root), "
                    "which is not this user's group ({daemon}); chgrp {daemon} it"),
])
def test_root_owned_file_read_by_the_monitoring_user(shared_dir: Path, mode: int, gid: str,
                                                     answer: str | None) -> None:
    """The check as an unprivileged daemon user (nobody:nogroup here, nagios in real life)
    and a root-owned file: every refusal's fix leaves a file that user can still read."""
    daemon_uid, daemon_gid = 65534, 65534
    daemon = group(daemon_gid)
    secret = write(shared_dir / "pw", PASSWORD + "\n", mode)
    os.chown(secret, 0, daemon_gid if gid == "daemon" else 0)
    with running_as(daemon_uid, daemon_gid):
        try:
            got = read_secret_file(str(secret), "password file")
        except ConfigError as err:
            got = str(err)
    assert got == (PASSWORD if answer is None else answer.format(path=secret, daemon=daemon))


@pytest.mark.skipif(not AS_ROOT, reason="running as another user needs root")
def test_supplementary_group_is_not_enough(shared_dir: Path) -> None:
    """The daemon user is also in group daemon (1), so the kernel would let it read a
    root:daemon 0640 file, and so would every other member of that group: refused."""
    secret = write(shared_dir / "pw", PASSWORD + "\n", 0o640)
    os.chown(secret, 0, 1)
    with running_as(65534, 65534, supplementary=(1,)):
        assert os.access(secret, os.R_OK)
        assert refusal(secret) == (
            f"password file {secret} is readable by group {group(1)} (mode 0640, "
            f"root:{group(1)}), which is not this user's group ({group(65534)}); "
            f"chgrp {group(65534)} it")
