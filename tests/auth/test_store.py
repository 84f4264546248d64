"""The OAuth token store: private (0600 file, 0700 directory, the plugin user's own or
refused), atomic (a reader never sees half a record), locked across processes (no lost
update; a SIGKILLed holder does not block the next check; waiting ends at the deadline),
and never a secret in an error or a repr."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import check_mapi
from check_mapi.auth.store import (
    CORRUPT,
    TokenStore,
    identity_key,
    usable_token,
)
from check_mapi.deadline import Deadline
from check_mapi.errors import ConfigError, ServiceState, TokenStoreError

ROOT = Path(check_mapi.__file__).resolve().parent.parent
ACCESS = "S3ntinel-access-token-eyJ0eXAi"
REFRESH = "S3ntinel-refresh-token-0.AVEA"
SENTINELS = (ACCESS, REFRESH)
KEY = identity_key("https://login.microsoftonline.com/contoso.com",
                   "d3590ed6-52b3-4102-aeff-aad2292ab01c", "probe@contoso.com")
RECORD = {"cache": json.dumps({"RefreshToken": {"x": {"secret": REFRESH}}}),
          "access_token": ACCESS, "expires_on": 2000.0, "refreshed_at": 1000.0,
          "logged_in": {"user": "probe@contoso.com", "at": 900.0}}
FOREIGN_UID = 65534  # nobody
as_root = pytest.mark.skipif(os.getuid() != 0, reason="chown to another user needs root")


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "state", KEY)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def assert_no_secret(err: BaseException, *objects: object) -> None:
    for text in (str(err), repr(err), *map(repr, objects)):
        assert not any(secret in text for secret in SENTINELS), text
    assert err.__cause__ is None  # nothing chained that holds the document
    assert err.__context__ is None or err.__suppress_context__


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """Modes must not depend on the umask of whoever runs the plugin."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# -- layout, modes, round trip -------------------------------------------------------------

@pytest.mark.usefixtures("umask_zero")
def test_round_trip_creates_private_file_and_directories(store: TokenStore,
                                                         tmp_path: Path) -> None:
    assert store.read() is None
    assert not store.state_dir.exists()  # reading creates nothing
    store.write(RECORD)
    assert store.read() == RECORD
    assert (mode(store.state_dir), mode(store.directory), mode(store.path)) == (
        0o700, 0o700, 0o600)
    assert store.directory == tmp_path / "state" / "tokens"
    assert [p.name for p in store.directory.iterdir()] == [store.path.name]  # no temp file
    with store.locked(Deadline.after(1)):
        pass
    assert mode(store.lock_path) == 0o600
    assert store.lock_path.name == store.path.name + ".lock"
    assert "probe" not in store.path.name and len(store.path.stem) == 32
    on_disk = json.loads(store.path.read_text())
    assert on_disk == {**RECORD, "version": 1}


def test_one_file_per_identity(tmp_path: Path) -> None:
    same = identity_key("https://LOGIN.microsoftonline.com/contoso.com/",
                        "D3590ED6-52b3-4102-aeff-aad2292ab01c", "Probe@Contoso.com")
    assert TokenStore(tmp_path, same).path == TokenStore(tmp_path, KEY).path
    others = {TokenStore(tmp_path, identity_key(a, c, u)).path for a, c, u in [
        ("https://login.microsoftonline.com/contoso.com", "other-client", "probe@contoso.com"),
        ("https://login.microsoftonline.com/fabrikam.com", "x", "probe@contoso.com"),
        ("https://login.microsoftonline.com/contoso.com", "x", "other@contoso.com")]}
    assert len(others) == 3 and TokenStore(tmp_path, KEY).path not in others


def test_existing_state_dir_is_kept_as_it_is(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)  # readable by others is fine for the state dir, not writable
    store = TokenStore(state, KEY)
    store.write(RECORD)
    assert (mode(state), mode(store.directory)) == (0o755, 0o700)


def test_rewrite_keeps_mode_and_unknown_fields(store: TokenStore) -> None:
    store.write({**RECORD, "future_field": [1, 2]})
    record = store.read()
    assert record is not None and record["future_field"] == [1, 2]
    record["access_token"] = "new"
    store.write(record)
    assert store.read() == {**RECORD, "future_field": [1, 2], "access_token": "new"}
    assert mode(store.path) == 0o600


# -- refusals: owner, mode, kind ---------------------------------------------------------

def refused(action: object, path: Path, why: str) -> ConfigError:
    assert callable(action)
    with pytest.raises(ConfigError) as info:
        action()
    err = info.value
    assert type(err) is ConfigError and err.state is ServiceState.UNKNOWN
    assert str(path) in str(err) and why in str(err), str(err)
    assert_no_secret(err)
    return err


def test_file_readable_by_others_is_refused(store: TokenStore) -> None:
    store.write(RECORD)
    for loose in (0o644, 0o640, 0o604, 0o660, 0o602):
        store.path.chmod(loose)
        err = refused(store.read, store.path, "accessible by group or others")
        assert str(err).startswith(f"token store refused: file {store.path} is accessible")
        refused(lambda: store.access_token(0), store.path, "accessible by group or others")
        refused(lambda: store.write(RECORD), store.path, "accessible by group or others")
    store.path.chmod(0o600)
    assert store.read() == RECORD


def test_directory_open_to_others_is_refused(store: TokenStore) -> None:
    store.write(RECORD)
    for loose in (0o755, 0o750, 0o711, 0o701, 0o770):
        store.directory.chmod(loose)
        refused(store.read, store.directory, "accessible by group or others")
        refused(lambda: store.write(RECORD), store.directory, "accessible by group or others")
        refused(lambda: store.locked(Deadline.after(1)).__enter__(), store.directory,
                "accessible by group or others")
    store.directory.chmod(0o700)
    store.state_dir.chmod(0o777)  # anyone could swap the tokens directory
    refused(store.read, store.state_dir, "accessible by group or others")
    store.state_dir.chmod(0o700)
    assert store.read() == RECORD


@as_root
@pytest.mark.parametrize("which", ["path", "directory", "state_dir", "lock_path"])
def test_foreign_owner_is_refused(store: TokenStore, which: str) -> None:
    store.write(RECORD)
    with store.locked(Deadline.after(1)):
        pass
    target: Path = getattr(store, which)
    os.chown(target, FOREIGN_UID, -1)
    if which == "lock_path":
        refused(lambda: store.locked(Deadline.after(1)).__enter__(), target,
                "belongs to another user")
        return
    refused(store.read, target, "belongs to another user")
    refused(lambda: store.write(RECORD), target, "belongs to another user")


def test_symlink_and_non_files_are_refused(store: TokenStore, tmp_path: Path) -> None:
    store.write(RECORD)
    elsewhere = tmp_path / "elsewhere.json"
    store.path.rename(elsewhere)
    store.path.symlink_to(elsewhere)
    refused(store.read, store.path, "cannot read token store")
    refused(lambda: store.write(RECORD), store.path, "is not a regular file")
    store.path.unlink()
    store.path.mkdir(mode=0o700)
    refused(store.read, store.path, "is not a regular file")
    store.path.rmdir()
    real = tmp_path / "real-tokens"
    store.directory.rename(real)
    store.directory.symlink_to(real)
    refused(store.read, store.directory, "is not a directory")


def test_unwritable_state_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = TokenStore(blocker / "state", KEY)
    refused(lambda: store.write(RECORD), store.path, "cannot write token store")


# -- corrupt files -----------------------------------------------------------------------

@pytest.mark.parametrize(("content", "what"), [
    (b"", "not JSON"),
    (f'{{"version": 1, "access_token": "{ACCESS}", "cache": "{REFRESH}'.encode(), "not JSON"),
    (b'\xff\xfe{"version": 1}', "not UTF-8"),
    (f'["{ACCESS}"]'.encode(), "not a JSON object"),
    (f'{{"access_token": "{ACCESS}"}}'.encode(), "not a version 1 token store"),
    (b'{"version": 2}', "not a version 1 token store"),
    (b'{"version": 1, "access_token": 5}', "field 'access_token' has the wrong type"),
    (f'{{"version": 1, "expires_on": "{ACCESS}"}}'.encode(),
     "field 'expires_on' has the wrong type"),
    (b'{"version": 1, "expires_on": true}', "field 'expires_on' has the wrong type"),
    (f'{{"version": 1, "cache": ["{REFRESH}"]}}'.encode(), "field 'cache' has the wrong type"),
    (b'{"version": 1, "logged_in": {"user": 1}}', "field 'logged_in' has the wrong type"),
    (b'{"version": 1, "logged_in": "x"}', "field 'logged_in' has the wrong type"),
    (b'{"version": 1, "cache": "' + b"x" * (1 << 20) + b'"}', "larger than 1 MiB"),
])
def test_corrupt_file_is_a_clear_critical(store: TokenStore, content: bytes,
                                          what: str) -> None:
    store.write(RECORD)
    store.path.write_bytes(content)
    for action in (store.read, lambda: store.access_token(0)):
        with pytest.raises(TokenStoreError) as info:
            action()
        err = info.value
        assert str(err) == f"{CORRUPT} ({store.path}: {what})"
        assert str(err).startswith("token store corrupt: run --oauth-login again")
        assert err.state is ServiceState.CRITICAL and not err.locked
        assert_no_secret(err, store)
        assert err.__context__ is None  # not even the decoder's exception, with the text
    store.write(RECORD)  # logging in again repairs it
    assert store.read() == RECORD


# -- the access token without msal ---------------------------------------------------------

def test_access_token_margin(store: TokenStore) -> None:
    assert store.access_token(0) is None  # no store yet
    store.write(RECORD)  # expires_on 2000
    assert store.access_token(1000) == (ACCESS, 2000.0)
    assert store.access_token(1940) == (ACCESS, 2000.0)
    assert store.access_token(1940.5) is None  # less than a minute left
    assert store.access_token(1990, margin=10) == (ACCESS, 2000.0)
    assert store.access_token(2500, margin=0) is None
    assert usable_token({"cache": "x"}, 0) is None  # logged in, no access token yet
    assert usable_token({"access_token": "", "expires_on": 9e9}, 0) is None
    assert usable_token({"access_token": "t", "expires_on": 100}, 0) == ("t", 100.0)
    assert usable_token(None, 0) is None


def test_warm_run_imports_no_msal(store: TokenStore) -> None:
    store.write({**RECORD, "expires_on": time.time() + 3600})
    script = ("import sys\nfrom check_mapi.auth.store import TokenStore\n"
              "found = TokenStore(sys.argv[1], sys.argv[2]).access_token(__import__('time')"
              ".time())\nassert found is not None\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'msal'))")
    proc = subprocess.run([sys.executable, "-c", script, str(store.state_dir), KEY],
                          capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", "[]\n")


def test_write_refuses_what_read_would_call_corrupt(store: TokenStore) -> None:
    with pytest.raises(TypeError, match="'expires_on'") as info:
        store.write({**RECORD, "expires_on": ACCESS})
    assert_no_secret(info.value)
    assert store.read() is None  # nothing written


def test_no_secret_in_reprs(store: TokenStore) -> None:
    store.write(RECORD)
    assert repr(store) == f"TokenStore({str(store.path)!r})"
    assert not any(s in repr(store) for s in SENTINELS)


# -- atomic replace ------------------------------------------------------------------------

def test_readers_never_see_a_partial_record(store: TokenStore) -> None:
    """Records of very different sizes replace each other while threads keep reading."""
    def record(n: int) -> dict[str, object]:
        return {"cache": str(n) * (1 + (n % 7) * 20_000), "access_token": f"t{n}",
                "expires_on": float(n)}

    store.write(record(0))
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            try:
                got = store.read()
            except Exception as err:  # noqa: BLE001 - any failure is the finding
                problems.append(repr(err))
                return
            assert got is not None
            n = int(got["expires_on"])
            if got != record(n):
                problems.append(f"record {n} is not intact")
                return
            reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for n in range(1, 151):
            store.write(record(n))
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert problems == []
    assert reads[0] > 50
    assert store.read() == record(150)
    assert [p.name for p in store.directory.iterdir()] == [store.path.name]


# -- the lock across processes ---------------------------------------------------------------

CHILD = """
import json, os, sys, time
from check_mapi.auth.store import TokenStore
from check_mapi.deadline import Deadline
store = TokenStore(sys.argv[1], sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
def update():
    record = store.read() or {}
    count = json.loads(record.get("cache", "{}")).get("count", 0)
    time.sleep(0.02)  # a refresh takes time: without the lock, updates overlap
    record["cache"] = json.dumps({"count": count + 1})
    record["writers"] = [*record.get("writers", []), os.getpid()]
    store.write(record)
if sys.argv[3] == "locked":
    with store.locked(Deadline.after(60)):
        update()
else:
    update()
"""

HOLDER = """
import sys, time
from check_mapi.auth.store import TokenStore
from check_mapi.deadline import Deadline
with TokenStore(sys.argv[1], sys.argv[2]).locked(Deadline.after(10)):
    print("locked", flush=True)
    time.sleep(120)
"""


def run_together(store: TokenStore, count: int, how: str) -> None:
    """``count`` processes of CHILD, released at once when every one has started."""
    argv = [sys.executable, "-c", CHILD, str(store.state_dir), KEY, how]
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(count)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()  # communicate() closes it
        outcomes = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert [(p.returncode, err) for p, (_, err) in zip(procs, outcomes, strict=True)] == [
        (0, "")] * count


def test_thirty_processes_lose_no_update(store: TokenStore) -> None:
    store.write(RECORD)
    run_together(store, 30, "locked")
    record = store.read()
    assert record is not None
    assert json.loads(record["cache"]) == {"count": 30}
    assert len(set(record["writers"])) == 30
    assert record["access_token"] == ACCESS  # the rest of the record is intact
    assert mode(store.path) == 0o600
    assert sorted(p.name for p in store.directory.iterdir()) == [
        store.path.name, store.lock_path.name]


def test_without_the_lock_updates_are_lost(store: TokenStore) -> None:
    """The control: the race the lock prevents is real in this test's setup."""
    run_together(store, 8, "unlocked")
    record = store.read()
    assert record is not None
    assert json.loads(record["cache"])["count"] < 8


def test_a_killed_holder_does_not_block_the_next_check(store: TokenStore) -> None:
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(store.state_dir), KEY],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=ROOT) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
            started = time.monotonic()
            with pytest.raises(TokenStoreError) as info, store.locked(Deadline.after(0.3)):
                pytest.fail("the lock is held by the other process")
            waited = time.monotonic() - started
            assert 0.3 <= waited < 0.6  # bounded by the deadline
            err = info.value
            assert err.locked and err.state is ServiceState.CRITICAL
            assert re.fullmatch(r"token store locked by another check for 0\.[3-6] s \(.*\)",
                                str(err)) and str(store.path) in str(err)
            assert_no_secret(err, store)
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.communicate(timeout=30)
    assert holder.returncode == -signal.SIGKILL
    started = time.monotonic()
    with store.locked(Deadline.after(10)):
        assert time.monotonic() - started < 0.1  # at once, not after a timeout


def test_lock_within_one_process(store: TokenStore) -> None:
    other = TokenStore(store.state_dir, KEY)
    with store.locked(Deadline.after(1)):
        started = time.monotonic()
        with pytest.raises(TokenStoreError, match="locked by another check"), \
                other.locked(Deadline.after(0.1)):
            pass
        assert time.monotonic() - started < 0.3
        with pytest.raises(TokenStoreError), other.locked(Deadline.after(0)):
            pass  # an expired deadline: one try, no wait
    with other.locked(Deadline.after(0)):  # free: taken even at the deadline
        pass
    with pytest.raises(RuntimeError), store.locked(Deadline.after(1)):
        raise RuntimeError("the refresh failed")
    started = time.monotonic()
    with other.locked(Deadline.after(1)):  # released by the failure
        assert time.monotonic() - started < 0.05
