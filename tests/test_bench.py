"""The benchmark (``python -m check_mapi.bench``): its report's shape, its delaying proxy and
its floor replay.

No test here asserts that a budget passes or any timing beyond a lower bound a loaded
machine cannot break: the benchmark is a report, and the machine is shared. What must hold
is that it runs, that every case it was asked for is in the table, that every PASS/FAIL
line parses and that the numbers are real; that the proxy delays and keeps order; and that
the replay rewrites exactly the session cookies and the Host header, without which the
emulator refuses the replayed requests.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from check_mapi.bench import replay
from check_mapi.bench.measure import SPAWNER, Run, interleave, run_process, summarize
from check_mapi.bench.proxy import DelayingProxy
from check_mapi.bench.replay import remember, split_requests, substitute
from check_mapi.bench.report import LINE, Budget
from check_mapi.emulator import Emulator

SUBSET = {"floor": "1. One probe", "startup": "2. Cheap paths", "wan": "3. WAN",
          "emulator": "5. Emulator", "requests": "6. Requests per probe"}


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        yield int(server.server_address[1])
        server.shutdown()


def _exchange(port: int, chunks: list[bytes]) -> tuple[bytes, float]:
    """Send ``chunks`` one by one, read the echo of all of them; bytes and seconds."""
    expected = sum(len(c) for c in chunks)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        for chunk in chunks:
            sock.sendall(chunk)
        received = b""
        while len(received) < expected:
            data = sock.recv(65536)
            assert data, "the proxy closed early"
            received += data
        return received, time.perf_counter() - started


def test_the_proxy_delays_each_way_and_keeps_order(echo: int) -> None:
    chunks = [f"chunk {i:04d};".encode() * (i % 7 + 1) for i in range(300)]
    with DelayingProxy(echo, 0.025) as proxy:
        received, _ = _exchange(proxy.port, chunks)
        _, round_trip = _exchange(proxy.port, [b"ping"])
    assert received == b"".join(chunks)
    assert round_trip >= 0.05  # 25 ms each way: a lower bound only


def test_the_proxy_times_each_connections_first_exchange(echo: int) -> None:
    """From the first request chunk read to the last answer chunk written, before the
    second request: both delays inside it, the second exchange not."""
    with DelayingProxy(echo, 0.025) as proxy, socket.create_connection(
            ("127.0.0.1", proxy.port), timeout=10) as sock:
        for pause, request in ((1.0, b"first"), (0.0, b"second")):
            sock.sendall(request)
            received = b""
            while len(received) < len(request):
                received += sock.recv(65536)
            time.sleep(pause)  # between the exchanges: must not be in the span
        sock.close()
        until = time.monotonic() + 5
        while not proxy.first_exchanges and time.monotonic() < until:
            time.sleep(0.01)
        spans = list(proxy.first_exchanges)
    assert len(spans) == 1
    assert 0.05 <= spans[0] < 1.0  # 25 ms each way inside; the 1 s pause outside


def test_the_recording_relay_keeps_each_connection(echo: int) -> None:
    with DelayingProxy(echo, record=True) as tap:
        _exchange(tap.port, [b"GET / HTTP/1.1\r\n", b"Host: x\r\n\r\n"])
        _exchange(tap.port, [b"second"])
    assert [bytes(r.sent) for r in tap.recordings] == [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"second"]
    assert [bytes(r.received) for r in tap.recordings] == [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"second"]


REQUEST = (b"POST /mapi/emsmdb/?MailboxId=x HTTP/1.1\r\nHost: 127.0.0.1:1111\r\n"
           b"Cookie: MapiContext=old-context; MapiSequence=old-seq; other=kept\r\n"
           b"Content-Length: 5\r\n\r\nhello")


def test_substitute_replaces_session_cookies_and_host_only() -> None:
    jar: dict[str, str] = {}
    remember(jar, ["MapiContext=new-context; path=/mapi/; HttpOnly",
                   "MapiSequence=new-seq; path=/mapi/emsmdb/"])
    out = substitute(REQUEST, jar, "127.0.0.1:2222")
    assert out == (b"POST /mapi/emsmdb/?MailboxId=x HTTP/1.1\r\nHost: 127.0.0.1:2222\r\n"
                   b"Cookie: MapiContext=new-context; MapiSequence=new-seq; other=kept\r\n"
                   b"Content-Length: 5\r\n\r\nhello")
    assert substitute(REQUEST, {}, "127.0.0.1:1111") == REQUEST


def test_split_requests_cuts_at_content_length() -> None:
    plain = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    assert split_requests(REQUEST + plain + REQUEST) == [REQUEST, plain, REQUEST]
    with pytest.raises(ValueError, match="incomplete"):
        split_requests(b"GET / HTTP/1.1\r\n")


def _replay_status(port: int, requests: list[bytes], rewrite: bool) -> list[str]:
    """X-ResponseCode of each request replayed on one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.connect()
    jar: dict[str, str] = {}
    codes = []
    for raw in requests:
        assert connection.sock is not None
        connection.sock.sendall(substitute(raw, jar if rewrite else {}, f"127.0.0.1:{port}"))
        response = http.client.HTTPResponse(connection.sock, method="POST")
        response.begin()
        response.read()
        codes.append(response.getheader("X-ResponseCode") or str(response.status))
        remember(jar, response.headers.get_all("Set-Cookie") or [])
    connection.close()
    return codes


@pytest.fixture(scope="module")
def recorded() -> list[bytes]:
    """The requests of one ``--url`` Basic probe of the default emulator's probe mailbox."""
    with Emulator() as recorded_on:
        box = recorded_on.config.by_smtp("probe@contoso.com")
        assert box is not None and box.password is not None
        with DelayingProxy(int(recorded_on.url.rsplit(":", 1)[1]), record=True) as tap:
            url = recorded_on.mapi_url(box.smtp).replace(recorded_on.url,
                                                         f"http://127.0.0.1:{tap.port}")
            proc = subprocess.run(
                [sys.executable, "-m", "check_mapi", "-m", box.smtp, "--url", url,
                 "--legacy-dn", box.legacy_dn, "--auth", "basic"],
                capture_output=True, text=True, timeout=60, check=False,
                env={**os.environ, "CHECK_MAPI_PASSWORD": box.password})
        assert proc.returncode == 0, proc.stdout
        (requests,) = [split_requests(bytes(r.sent)) for r in tap.recordings]
    return requests


@pytest.mark.parametrize("client", ["stdlib", "httpx"])
def test_the_many_mailbox_floor_replays_sessions_side_by_side(
        recorded: list[bytes], client: str, tmp_path: Path) -> None:
    """replay.py with ``threads``: each recorded connection is a session of its own with
    its own cookies (five copies of one probe's session, two at a time), every answer 200
    and X-ResponseCode 0, every session disconnected."""
    plan = tmp_path / "plan.json"
    with Emulator() as target:
        plan.write_text(json.dumps({
            "host": "127.0.0.1", "port": int(target.url.rsplit(":", 1)[1]), "tls": False,
            "threads": 2, "client": client,
            "connections": [[r.decode("latin-1") for r in recorded]] * 5}))
        proc = subprocess.run([sys.executable, str(Path(replay.__file__)), str(plan)],
                              capture_output=True, text=True, timeout=60, check=False)
        stats = target.stats()
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["statuses"] == [200] * 20
    assert stats.response_codes == {"0": 20}
    assert stats.requests["Connect"] == 5 and stats.open_sessions == 0


def test_a_recorded_probe_replays_only_with_the_new_session_cookies(
        recorded: list[bytes]) -> None:
    """Recorded against one emulator, replayed against another: the old session's cookies
    are refused (X-ResponseCode 10, invalid context), the substituted ones are not."""
    requests = recorded
    with Emulator() as target:
        port = int(target.url.rsplit(":", 1)[1])
        assert _replay_status(port, requests, rewrite=True) == ["0", "0", "0", "0"]
        assert _replay_status(port, requests, rewrite=False) == ["0", "10", "10", "10"]
        assert target.stats().open_sessions == 1  # the refused replay's Connect


def test_run_process_measures_the_child_alone(tmp_path: Path) -> None:
    ok = run_process([sys.executable, "-c", "print('out'); sum(range(10**6))"])
    killed = run_process([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    SPAWNER.close()
    assert (ok.code, ok.stdout, ok.stderr) == (0, "out\n", "")
    assert ok.cpu > 0 and ok.wall > 0 and ok.max_rss_mb > 0
    assert killed.code == -9


def test_interleave_runs_round_robin_and_summaries_hold_the_quartiles() -> None:
    order: list[str] = []

    def variant(name: str) -> Run:
        order.append(name)
        return Run(0.1, 0.1, 1.0, 0, name, "")

    runs = interleave({"a": partial(variant, "a"), "b": partial(variant, "b")}, 3)
    assert order == ["a", "b", "b", "a", "a", "b"] and len(runs["a"]) == 3
    summary = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (summary.median, summary.p25, summary.p75, summary.n) == (3.0, 2.0, 4.0, 5)


def test_a_budget_line_parses() -> None:
    for budget in (Budget("x wall vs floor", 3.7412, 3.0), Budget("rss", 36.6, 150, " MB",
                                                                   strict=True)):
        match = LINE.match(budget.line())
        assert match is not None, budget.line()
        assert match.group(1) == ("PASS" if budget.passed else "FAIL")
    assert Budget("a", 3.0, 3.0).passed and not Budget("a", 150, 150, strict=True).passed


@pytest.mark.slow
def test_the_quick_benchmark_reports_every_case(tmp_path: Path) -> None:
    table_file = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, "-m", "check_mapi.bench", "--quick", "--n", "2", "--cases", *SUBSET,
         "--markdown", str(table_file)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for title in SUBSET.values():
        assert f"| **{title}" in out, title
    assert "did not run" not in out, out
    assert re.search(r"^Measured on: .+, \d+ cores, Python 3\.\d+\.\d+, ", out, re.M)
    lines = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    names = set()
    for line in lines:
        match = LINE.match(line)
        assert match is not None, line
        assert float(match.group(3)) >= 0 and float(match.group(6)) >= 0
        if match.group(4) == "x":
            assert float(match.group(3)) > 0, line
        names.add(match.group(2))
    assert {"`--url` probe, wall vs replay of its 4 requests", "WAN https total_time vs floor",
            "emulator start-up at 100,000 items", "ntlm handshakes per TCP connection",
            "`--help` wall vs import argparse"} <= names
    rows = [r for r in out.splitlines() if r.startswith("| ") and not r.startswith("| **")]
    assert len(rows) > 20
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 6, row
        for number in re.findall(r"(?<![\w.])(\d+\.\d+) (?:s|ms|MB)\b", cells[1]):
            assert float(number) > 0, row
        assert cells[5] in ("PASS", "FAIL", "-"), row
    assert table_file.read_text().splitlines()[0] == out.splitlines()[0]
