"""``-t N`` is a hard upper bound for the whole plugin process, whatever a server does, at
every step of the probe.

Each run is the plugin as a monitoring core starts it (``python -m check_mapi`` in a
subprocess, the password in the environment), pointed at a ``StallingRelay`` in front of
an emulator that advertises the relay as its MAPI base URL. The relay, or the emulator's
own ``pending_forever`` fault, stalls one step in one of five ways:

- ``tcp``: the connection is accepted and then nothing is read or sent;
- ``tls``: the TCP connection is accepted and the TLS handshake never happens;
- ``processing``: a 200 head and ``PROCESSING`` (Autodiscover: the start of an XML
  document), then silence;
- ``trickle``: the real answer, one byte per second;
- ``pending``: the emulator's ``PROCESSING`` and then ``PENDING`` keep-alives forever
  (Autodiscover has no keep-alive stream: there the emulator never answers at all).

Whatever the stall, the plugin must end within -t, say ``<step> failed: timed out`` in
the ``--timeout-state`` state, with the perfdata measured so far, nothing on stderr, and
still send Disconnect once Connect succeeded. The five steps of one mode run at once
(five subprocesses, each with its own emulator and relay) so that a mode costs about -t;
a run whose start-up used up the budget before it reached its stalled step is checked for
what holds for any time-out and then run again alone (see ``check_mode``).
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from check_mapi.emulator import Emulator, loads

from ..conftest import Tls
from .conftest import BASE, PASSWORD, SMTP, fault_toml
from .stall import REQUESTS, STEP_INDEX, StallingRelay

TIMEOUT = 3  # the plugin's -t, seconds
# The plugin promises to end within -t; the margin is not time it may use but slack for a
# loaded CI machine (2 cores starting five interpreters at once, process exit).
MARGIN = 0.5
HANG = 30.0  # a run still alive after this many seconds is killed: the suite never hangs
SETTLE = 1.0  # at most this long for a Disconnect the plugin sent just before it exited
STEPS = tuple(STEP_INDEX)  # autodiscover, connect, logon, inbox, disconnect
MODES = ("tcp", "tls", "processing", "trickle", "pending")
STATES = {"critical": ("CRITICAL", 2), "warning": ("WARNING", 1), "unknown": ("UNKNOWN", 3)}
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
FOREVER_MS = 3_600_000


@dataclass(frozen=True)
class RelayTls:
    ca_file: Path
    server: ssl.SSLContext


@dataclass
class Rig:
    """One emulator behind one relay; ``step`` is where the relay or the emulator stalls."""

    mode: str | None
    step: str | None
    relay: StallingRelay
    emulator: Emulator

    @property
    def reached(self) -> bool:
        """Whether the stall hit the plugin at its step (not earlier or later)."""
        if self.mode == "pending":  # the emulator knows a step by its request
            return self.emulator.stats().faults_applied > 0
        return self.relay.stalled

    def conclusive(self, run: Run) -> bool:
        """Did ``run`` meet the stall at its step? Not when the budget ran out before (start-up
        on a loaded machine), seen at the relay or in a status line naming an earlier step."""
        assert self.step is not None
        named = re.search(r": (\w+) failed: ", run.first_line)
        earlier = named is not None and named.group(1) in STEPS and (
            STEPS.index(named.group(1)) < STEPS.index(self.step))
        return self.reached and not earlier

    def stop(self) -> None:
        self.relay.stop()
        self.emulator.stop()


@dataclass(frozen=True)
class Run:
    step: str | None
    code: int
    stdout: str
    stderr: str
    started: float  # time.monotonic() just before Popen
    elapsed: float  # seconds from Popen to the process's exit

    @property
    def first_line(self) -> str:
        lines = self.stdout.splitlines()
        return lines[0] if lines else ""


class Rigs:
    """Builds rigs; stops them all at the end of the test (also when it failed)."""

    def __init__(self, tls: RelayTls) -> None:
        self.tls = tls
        self.started: list[Rig] = []

    def make(self, mode: str | None, step: str | None, *, tls: bool = False) -> Rig:
        relay_mode = None if mode == "pending" else mode
        relay = StallingRelay(relay_mode, STEP_INDEX[step] if relay_mode and step else None,
                              tls=self.tls.server if tls or mode == "tls" else None)
        fault = pending_fault(step) if mode == "pending" and step else ""
        try:
            emulator = Emulator(loads(emulator_toml(relay.url) + fault)).start()
        except BaseException:
            relay.stop()
            raise
        rig = Rig(mode, step, relay.start(emulator.url), emulator)
        self.started.append(rig)
        return rig

    def stop(self) -> None:
        for rig in self.started:
            rig.stop()


def emulator_toml(relay_url: str) -> str:
    """The plugin tests' mailbox; Autodiscover advertises the relay as the MAPI base URL."""
    assert "[server]\n" in BASE
    advertised = f'internal_url = "{relay_url}"\nexternal_url = "{relay_url}"\n'
    return BASE.replace("[server]\n", "[server]\n" + advertised, 1)


def pending_fault(step: str) -> str:
    if step == "autodiscover":  # a POX answer has no PENDING stream: it never comes instead
        return fault_toml(step=step, latency_ms=FOREVER_MS)
    return fault_toml(step=step, pending_forever=True)


def plugin_env() -> dict[str, str]:
    """The caller's environment without proxies or plugin secrets; the password in it."""
    env = {key: value for key, value in os.environ.items()
           if key.lower() not in PROXY_VARIABLES and not key.upper().startswith("CHECK_MAPI_")}
    env["CHECK_MAPI_PASSWORD"] = PASSWORD
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def plugin(rig: Rig, *extra: str, tls: RelayTls, timeout: int = TIMEOUT) -> Run:
    argv = [sys.executable, "-m", "check_mapi", "-m", SMTP, "--auth", "basic",
            "--autodiscover-url", rig.relay.autodiscover_url, "-t", str(timeout), *extra]
    if rig.relay.url.startswith("https:"):
        argv += ["--ca-file", str(tls.ca_file)]
    started = time.monotonic()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=plugin_env())
    try:
        stdout, stderr = process.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    elapsed = time.monotonic() - started
    return Run(rig.step, process.returncode, stdout, stderr, started, elapsed)


def open_sessions_settled(emulator: Emulator) -> int:
    """Open sessions, once a Disconnect already on its way has had SETTLE to arrive."""
    deadline = time.monotonic() + SETTLE
    while (count := emulator.stats().open_sessions) and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def expects_no_open_session(mode: str, step: str) -> bool:
    """After a stall at ``step``, must no session be left open?

    Not after a stall at Disconnect itself; and a trickled Connect made a session whose
    cookies the plugin never received, so it cannot disconnect it.
    """
    return step != "disconnect" and not (mode == "trickle" and step == "connect")


def perf_value(items: list[str], label: str) -> bool:
    return any(re.fullmatch(rf"{label}=\d+(?:\.\d+)?s(?:;.*)?", item) for item in items)


def problems(run: Run, step: str, state: str, *, reached: bool) -> list[str]:
    """What is wrong with a run stalled at ``step``. When the plugin ran out of time before
    it reached the step (``reached`` False: start-up ate the budget on a loaded machine),
    only what holds whatever step timed out is checked."""
    word, code = STATES[state]
    found: list[str] = []
    if run.elapsed > TIMEOUT + MARGIN:
        found.append(f"took {run.elapsed:.2f} s, more than -t {TIMEOUT} + {MARGIN} s")
    if run.stderr:
        found.append(f"stderr not empty: {run.stderr[-400:]!r}")
    first = run.first_line
    failed = step if reached else r"\S+"
    if not re.match(rf"MAPI {word} - {re.escape(SMTP)}: {failed} failed: timed out", first):
        found.append(f"status line is not '{word} ... {failed} failed: timed out'")
    if run.code != code:
        found.append(f"exit code {run.code}, not {code}")
    if first.count("|") != 1:
        found.append(f"{first.count('|')} '|' in the first line, not exactly one")
    if " | " not in first:
        found.append("no perfdata")
    else:
        items = first.split(" | ", 1)[1].split()
        if "availability=0;;;0;1" not in items:
            found.append("no availability=0;;;0;1")
        for label in ("total_time", f"{step}_time") if reached else ():
            if not perf_value(items, label):
                found.append(f"no {label} value")
    return found


def verdict(rig: Rig, run: Run, state: str) -> list[str]:
    """The problems of one run, as report lines (none when all is well)."""
    assert rig.mode is not None and rig.step is not None
    reached = rig.conclusive(run)
    found = problems(run, rig.step, state, reached=reached)
    if reached and expects_no_open_session(rig.mode, rig.step):
        sessions = open_sessions_settled(rig.emulator)
        if sessions:
            found.append(f"{sessions} session(s) left open: no Disconnect after the stall")
    if not found:
        return []
    first = rig.relay.first_connection()
    start_up = f"first request after {first - run.started:.2f} s" if first else "no request"
    return [f"{rig.mode} at {rig.step} ({run.elapsed:.2f} s, exit {run.code}, {start_up}): "
            f"{'; '.join(found)}\n    first line: {run.first_line!r}\n"
            f"    relay: {rig.relay.log()}"]


def check_mode(rigs: Rigs, mode: str, state: str = "critical") -> None:
    """All five steps stalled in ``mode``, one subprocess each, all at once.

    A run that timed out before it reached its stalled step (five interpreters starting at
    once on a loaded machine can use up much of -t) is held to what holds for any time-out,
    and its step is run again alone, where it must reach the step and pass every check.
    """
    extra = () if state == "critical" else ("--timeout-state", state)
    started = [rigs.make(mode, step) for step in STEPS]
    with ThreadPoolExecutor(max_workers=len(started)) as pool:
        runs = list(pool.map(lambda rig: plugin(rig, *extra, tls=rigs.tls), started))
    report: list[str] = []
    again: list[str] = []
    for rig, run in zip(started, runs, strict=True):
        report += verdict(rig, run, state)
        if not rig.conclusive(run):
            assert rig.step is not None
            again.append(rig.step)
    for step in again:
        rig = rigs.make(mode, step)
        run = plugin(rig, *extra, tls=rigs.tls)
        report += verdict(rig, run, state)
        if not rig.conclusive(run):
            report.append(f"{mode} at {step}: even alone the plugin did not get to {step} "
                          f"({run.first_line.split(' | ')[0]!r}; relay: {rig.relay.log()})")
    rigs.stop()
    assert not report, "\n".join(report)


@pytest.fixture(scope="module")
def relay_tls(tls: Tls) -> RelayTls:
    """The shared test CA for the plugin (``--ca-file``), a server context for the relays."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(tls.cert_pem), str(tls.key_pem))
    return RelayTls(tls.ca_pem, server)


@pytest.fixture
def rigs(relay_tls: RelayTls) -> Iterator[Rigs]:
    made = Rigs(relay_tls)
    yield made
    made.stop()


@pytest.mark.parametrize("mode", MODES)
def test_time_budget_is_a_hard_bound(rigs: Rigs, mode: str,
                                     capfd: pytest.CaptureFixture[str]) -> None:
    check_mode(rigs, mode)
    assert capfd.readouterr().err == ""  # the relays and emulators said nothing either


@pytest.mark.parametrize(("mode", "state"), [("pending", "warning"), ("tcp", "unknown")])
def test_timeout_state_applies_to_every_step(rigs: Rigs, mode: str, state: str) -> None:
    check_mode(rigs, mode, state)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_relay_passes_requests_through(rigs: Rigs, scheme: str,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    """Without a stall the probe succeeds through the relay, one connection per request, in
    the order the stall indexes rely on."""
    rig = rigs.make(None, None, tls=scheme == "https")
    run = plugin(rig, tls=rigs.tls, timeout=10)
    assert run.code == 0, run.stdout
    assert re.match(rf"MAPI OK - {re.escape(SMTP)} logged on in \d+\.\d\d s", run.first_line)
    assert run.stderr == ""
    seen = sorted(rig.relay.seen, key=lambda s: s.index)
    assert [(s.index, s.action, s.request_type) for s in seen] == [
        (index, "forwarded", kind) for index, kind in enumerate(REQUESTS)], rig.relay.log()
    assert rig.relay.answered == set(range(len(REQUESTS)))
    stats = rig.emulator.stats()
    assert stats.tcp_connections == 5
    assert stats.open_sessions == 0
    rigs.stop()
    assert rig.relay.errors == 0
    assert capfd.readouterr().err == ""


def raw_request(path: str, request_type: str = "") -> bytes:
    extra = f"X-RequestType: {request_type}\r\n" if request_type else ""
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n{extra}"
            "Connection: keep-alive\r\n\r\nbody").encode()


def received(sock: socket.socket, seconds: float) -> bytes:
    """Whatever arrives within ``seconds`` (EOF ends it sooner)."""
    data = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            part = sock.recv(65536)
        except TimeoutError:
            break
        if not part:
            break
        data += part
    return data


@pytest.mark.parametrize("mode", ["tcp", "tls", "processing", "trickle"])
def test_relay_stalls_as_specified(rigs: Rigs, mode: str) -> None:
    """The harness itself, without the plugin: each stall does what the docstring says at
    the chosen connection only, and stop() closes the held connection."""
    rig = rigs.make(mode, "connect")  # stall_at 1: connection 0 passes through
    autodiscover = raw_request("/autodiscover/autodiscover.xml")
    client = ssl.create_default_context(cafile=str(rigs.tls.ca_file)) if mode == "tls" else None
    connections = []
    for _ in range(2):
        sock = socket.create_connection(("127.0.0.1", rig.relay.port), timeout=5)
        connections.append(client.wrap_socket(sock, server_hostname="127.0.0.1",
                                              do_handshake_on_connect=False) if client else sock)
    first, stalled = connections
    if client is not None:
        first.do_handshake()  # type: ignore[attr-defined]
    first.sendall(autodiscover)
    answer = received(first, 5)  # unauthenticated: the emulator's 401, then EOF
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:100]
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.count(b"\r\nconnection:") == 1 and b"\r\nconnection: close" in head
    assert b"keep-alive:" not in head
    if mode == "tls":
        stalled.settimeout(0.5)
        with pytest.raises(TimeoutError):
            stalled.do_handshake()  # type: ignore[attr-defined]
    else:
        stalled.sendall(raw_request("/mapi/emsmdb/?MailboxId=x", "Connect"))
        data = received(stalled, 1.5 if mode == "trickle" else 0.5)
        if mode == "tcp":
            assert data == b""
        elif mode == "processing":
            assert data.startswith(b"HTTP/1.1 200 OK\r\n")
            for field in (b"Content-Type: application/mapi-http", b"X-ResponseCode: 0",
                          b"Transfer-Encoding: chunked", b"X-RequestType: Connect"):
                assert field in data
            assert data.endswith(b"\r\n\r\nC\r\nPROCESSING\r\n\r\n")
            assert rig.emulator.stats().requests.get("Connect", 0) == 0  # never forwarded
        else:  # one byte at once, then one per second: 2 in 1.5 s
            assert data == b"HT"
            assert rig.emulator.stats().requests.get("Connect", 0) == 1  # forwarded
    assert rig.relay.stalled  # the stall hit connection 1, after a whole answer on 0
    rig.relay.stop()
    assert received(stalled, 2) == b""  # closed by stop(), not left dangling
    for sock in connections:
        sock.close()
