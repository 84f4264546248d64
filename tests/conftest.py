"""Fixtures shared by every test directory: the one way to start an emulator (``start``,
backed by ``Emulators``) and the one TLS certificate authority (``tls``).

Per-directory conftests keep only their own configuration text and thin wrappers over these
(tests/plugin's ``emulator_factory``, tests/emulator's ``emu``)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import trustme

from check_mapi.emulator import Emulator, loads


@dataclass(frozen=True)
class Tls:
    """PEM files of a test CA and of a certificate it issued for 127.0.0.1 and localhost."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path

    def context(self) -> ssl.SSLContext:
        """A client context that trusts this CA (and only it)."""
        return ssl.create_default_context(cafile=str(self.ca_pem))


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """The test CA: one per session, its files in a temporary folder."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    paths = Tls(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(paths.ca_pem))
    cert.cert_chain_pems[0].write_to_path(str(paths.cert_pem))
    cert.private_key_pem.write_to_path(str(paths.key_pem))
    return paths


class Emulators:
    """Starts emulators on loopback and stops every one it started.

    ``emulators(toml_text, tls=None, port=0, **emulator_kwargs)`` starts one (``tls``: serve
    HTTPS with the test certificate; ``port`` 0: a free one; the rest goes to ``Emulator``);
    ``emulators[i]`` is the i-th started. ``stop_all()``, or leaving a ``with`` block, stops
    them: the ``start`` fixture for one test, ``with Emulators() as start:`` in a fixture of
    a wider scope.
    """

    def __init__(self) -> None:
        self._started: list[Emulator] = []

    def __call__(self, toml_text: str, tls: Tls | None = None, port: int = 0,
                 **emulator_kwargs: Any) -> Emulator:
        if tls is not None:
            emulator_kwargs = {"tls_cert": tls.cert_pem, "tls_key": tls.key_pem,
                               **emulator_kwargs}
        emulator = Emulator(loads(toml_text), port=port, **emulator_kwargs)
        self._started.append(emulator.start())
        return emulator

    def __getitem__(self, index: int) -> Emulator:
        return self._started[index]

    def __len__(self) -> int:
        return len(self._started)

    def stop_all(self) -> None:
        while self._started:
            self._started.pop().stop()

    def __enter__(self) -> Emulators:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop_all()


@pytest.fixture
def start() -> Iterator[Emulators]:
    """``start(toml_text, tls=None, port=0, **emulator_kwargs) -> Emulator``, for one test:
    every emulator it started is stopped afterwards."""
    with Emulators() as emulators:
        yield emulators
