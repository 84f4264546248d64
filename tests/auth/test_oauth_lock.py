"""The token store's lock is held for the refresh only (issue 14, 50 concurrent checks):
msal's import (~0.2 s, seconds on a loaded host) happens before the lock is taken, and
counts as local set-up, not as the token step's time."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from check_mapi.auth.oauth import OAuthAuth
from check_mapi.auth.store import TokenStore
from check_mapi.deadline import Deadline
from check_mapi.settings import AuthSpec


class HeldError(Exception):
    """Raised where the lock would be taken: the test stops there."""


def test_msal_is_loaded_before_the_store_lock(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "msal" or n.startswith("msal.")]:
        monkeypatch.delitem(sys.modules, name)  # restored afterwards
    loaded_at_lock: list[bool] = []

    @contextlib.contextmanager
    def locked(store: TokenStore, deadline: Deadline) -> Iterator[None]:
        loaded_at_lock.append("msal" in sys.modules)
        raise HeldError
        yield  # pragma: no cover - a generator for contextmanager

    auth = OAuthAuth(AuthSpec("oauth"), "probe@contoso.com", str(tmp_path))
    monkeypatch.setattr(TokenStore, "locked", locked)
    with pytest.raises(HeldError):
        auth.acquire(None, Deadline.after(5))
    assert loaded_at_lock == [True]
    assert auth.report.setup > 0  # the import, left out of token_time
