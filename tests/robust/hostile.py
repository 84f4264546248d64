"""A loopback relay that answers ONE step of a probe with a hostile answer, and the plugin
run as a monitoring core runs it, with its peak memory and wall time measured.

``HostileRelay`` is ``tests.plugin.stall.StallingRelay`` (one request per connection, so
the n-th connection is the n-th request, ``STEP_INDEX``) with one more behaviour: at the
connection ``hostile_at`` it reads the request and writes what ``answer(request)`` yields
instead of forwarding it, until the plugin hangs up. Every other request is forwarded to
an emulator that advertises the relay as its MAPI base URL.

``run_plugin`` starts ``python -m check_mapi`` in a subprocess through ``measure.py``, which
reaps it with ``os.wait4``: that child's own peak resident set (``ru_maxrss``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from check_mapi.emulator import Emulator, loads

from ..plugin.conftest import BASE, PASSWORD
from ..plugin.stall import STEP_INDEX, Seen, StallingRelay, _read_request, _Reader, _Request

Answer = Callable[[_Request], Iterable[bytes]]
MEASURE = str(Path(__file__).with_name("measure.py"))
HANG = 60.0  # a run still alive after this is killed: the suite never hangs
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
STEPS = tuple(STEP_INDEX)  # autodiscover, connect, logon, inbox, disconnect


class HostileRelay(StallingRelay):
    """``HostileRelay(step, answer)``: ``answer`` replaces the server's at ``step`` (None:
    every request is forwarded)."""

    def __init__(self, step: str | None, answer: Answer) -> None:
        super().__init__()
        self.hostile_at = -1 if step is None else STEP_INDEX[step]
        self.answer = answer
        self.requests: list[_Request] = []

    def _serve(self, client: socket.socket, index: int, accepted_at: float) -> None:
        if index != self.hostile_at:
            super()._serve(client, index, accepted_at)
            return
        try:
            request = _read_request(_Reader(client))
            self._note(Seen(index, accepted_at, "hostile", request.method, request.path,
                            request.request_type))
            with self._lock:
                self.requests.append(request)
            for data in self.answer(request):
                if self._stop.is_set():
                    return
                client.sendall(data)
        except (OSError, ValueError):  # the plugin hung up: what a cap should do
            with self._lock:
                self.errors += 1
        finally:
            self._release(client)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    elapsed: float
    peak_mib: float  # the child's peak resident set
    raw: bytes = b""  # stdout as written

    @property
    def first_line(self) -> str:
        lines = self.stdout.splitlines()
        return lines[0] if lines else ""

    def __str__(self) -> str:
        return (f"exit {self.code}, {self.elapsed:.2f} s, {self.peak_mib:.0f} MiB\n"
                f"stdout: {self.stdout[:2000]!r}\nstderr: {self.stderr[-2000:]!r}")


def plugin_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without proxies or plugin secrets; the password in it."""
    env = {key: value for key, value in os.environ.items()
           if key.lower() not in PROXY_VARIABLES and not key.upper().startswith("CHECK_MAPI_")}
    env["CHECK_MAPI_PASSWORD"] = PASSWORD
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def run_plugin(argv: Sequence[str], env: Mapping[str, str] | None = None,
               prefix: Sequence[str] = ()) -> Run:
    """``python -m check_mapi *argv`` (after ``prefix``, e.g. an ``unshare`` command), its
    output, wall time and peak memory (measured by ``measure.py``, see there why)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as scratch:
        result = os.path.join(scratch, "usage.json")
        started = time.monotonic()
        process = subprocess.Popen(
            [*prefix, sys.executable, MEASURE, result, "--", sys.executable, "-m",
             "check_mapi", *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            env=dict(env if env is not None else plugin_env()), start_new_session=True)
        try:
            process.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        elapsed = time.monotonic() - started
        try:
            with open(result, encoding="utf-8") as usage:
                peak = json.load(usage)["maxrss_kib"] / 1024
        except (OSError, ValueError):
            peak = float("nan")  # killed: the run fails on its exit code anyway
        out.seek(0)
        err.seek(0)
        raw = out.read()
        return Run(process.returncode, raw.decode("utf-8", "backslashreplace"),
                   err.read().decode("utf-8", "backslashreplace"), elapsed, peak, raw)


def emulator_toml(relay_url: str, base: str = BASE) -> str:
    """The plugin tests' mailbox (or ``base``, a variant of it); Autodiscover advertises
    the relay as the MAPI base URL."""
    advertised = f'internal_url = "{relay_url}"\nexternal_url = "{relay_url}"\n'
    return base.replace("[server]\n", "[server]\n" + advertised, 1)


class Rig:
    """An emulator behind a ``HostileRelay``; ``stop()`` ends both."""

    def __init__(self, step: str | None, answer: Answer = lambda r: iter(()),
                 base: str = BASE) -> None:
        self.relay = HostileRelay(step, answer)
        try:
            self.emulator = Emulator(loads(emulator_toml(self.relay.url, base))).start()
        except BaseException:
            self.relay.stop()
            raise
        self.relay.start(self.emulator.url)
        if hasattr(answer, "upstream"):  # an answer that asks the emulator itself
            answer.upstream = self.relay._upstream

    def stop(self) -> None:
        self.relay.stop()
        self.emulator.stop()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
