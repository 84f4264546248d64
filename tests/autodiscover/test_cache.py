"""The Autodiscover cache file: atomic, private, fresh, or ignored with a reason."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from check_mapi.autodiscover.cache import (
    CacheEntry,
    cache_path,
    drop,
    load,
    save,
)
from check_mapi.autodiscover.pox import MapiHttpUrls, PoxAnswer
from check_mapi.settings import default_state_dir

ENTRY = CacheEntry("https://autodiscover.contoso.com/autodiscover/autodiscover.xml",
                   "probe@contoso.com", PoxAnswer(
                       action="settings", display_name="Probe", legacy_dn="/o=Contoso/cn=probe",
                       smtp="probe@contoso.com", mapi_http=MapiHttpUrls(
                           "1", "https://in/mapi/emsmdb/?MailboxId=x", None,
                           "https://in/mapi/nspi/?MailboxId=x", None),
                       legacy=("EXHTTP",), microsoft_online=False), 1000.0)


def test_round_trip(tmp_path: Path) -> None:
    path = cache_path(str(tmp_path / "state"), "Probe@Contoso.com", None)
    assert path == cache_path(str(tmp_path / "state"), "probe@contoso.com", None)
    assert path != cache_path(str(tmp_path / "state"), "probe@contoso.com", "https://x/")
    assert save(path, ENTRY) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert load(path, 60, 1030.0) == (ENTRY, None)
    no_mapi = CacheEntry(ENTRY.url, ENTRY.address, PoxAnswer(action="settings",
                                                             legacy=("EXCH",)), 1000.0)
    assert save(path, no_mapi) is None
    assert load(path, 60, 1000.0) == (no_mapi, None)
    drop(path)
    assert load(path, 60, 1000.0) == (None, None)
    drop(path)  # already gone: fine


@pytest.mark.parametrize(("now", "note"), [
    (1061.0, "cached answer is 61 s old (--autodiscover-cache 60)"),
    (990.0, "cached answer is -10 s old (--autodiscover-cache 60)"),
])
def test_stale(tmp_path: Path, now: float, note: str) -> None:
    path = tmp_path / "a.json"
    save(path, ENTRY)
    assert load(path, 60, now) == (None, note)


@pytest.mark.parametrize("text", ["not json", '{"version": 2}', '{"version": 1}', "[]",
                                  '{"version": 1, "url": 1, "address": "a", "saved": 1, '
                                  '"answer": {"mapi_http": null, "legacy": []}}'])
def test_foreign_content_is_ignored(tmp_path: Path, text: str) -> None:
    path = tmp_path / "a.json"
    path.write_text(text)
    path.chmod(0o600)
    assert load(path, 60, 0) == (None, f"{path} is not a cache file of this version; ignored")


def test_loose_or_odd_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    save(path, ENTRY)
    path.chmod(0o644)
    assert load(path, 60, 1000) == (None, f"file {path} is accessible by group or others; "
                                          "ignored")
    path.unlink()
    os.symlink(tmp_path / "elsewhere.json", path)
    entry, note = load(path, 60, 1000)
    assert entry is None
    assert note is not None and note.startswith(f"cannot read {path}: ")
    path.unlink()
    path.mkdir()
    path.chmod(0o700)
    entry, note = load(path, 60, 1000)
    assert entry is None and note is not None


def test_unwritable_state_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    note = save(blocker / "sub" / "a.json", ENTRY)
    assert note is not None and note.startswith(f"cannot write {blocker / 'sub' / 'a.json'}: ")


def test_default_state_dir() -> None:
    assert default_state_dir({"MP_STATE_PATH": "/var/lib/mp"}) == "/var/lib/mp/check_mapi"
    assert default_state_dir({"NAGIOS_PLUGIN_STATE_DIRECTORY": "/var/x"}) == "/var/x/check_mapi"
    assert default_state_dir({"XDG_CACHE_HOME": "/c"}) == "/c/check_mapi"
    assert default_state_dir({}).endswith("/.cache/check_mapi")
