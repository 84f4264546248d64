"""Cases 5 and 6: the emulator's own scaling, and what a probe costs the server.

(5) The Inbox request is timed by itself: a session opened by replaying check_mapi's
recorded Connect and logon Execute, then its recorded Inbox Execute sent again and again
over the same connection, round-robin across emulators with 10, 1 000 and 100 000 Inbox
items, so the client's share is the same tiny constant for all of them. (6) Requests,
TCP connections and authentication handshakes per probe come from the emulator's
counters, and what a Basic run imports from ``python -X importtime``.
"""

from __future__ import annotations

import http.client
import re
import time

from check_mapi.emulator import Emulator

from .harness import SMTP, Harness, config_text, require_ok, start_emulator, url_args
from .measure import Run, Summary, summarize
from .replay import remember, substitute
from .report import Budget, CaseResult, ratio_text

SIZES = (10, 1000, 100_000)


class InboxClient:
    """One MAPI session on one connection, from recorded requests."""

    def __init__(self, port: int, requests: list[bytes]) -> None:
        kinds = [re.search(rb"(?im)^x-requesttype:\s*(\w+)", r) for r in requests]
        names = [k.group(1).decode().lower() if k else "" for k in kinds]
        self._requests = requests
        self._connect = names.index("connect")
        self._inbox = len(names) - 1 - names[::-1].index("execute")
        self._disconnect = names.index("disconnect")
        self._host = f"127.0.0.1:{port}"
        self._jar: dict[str, str] = {}
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self._conn.connect()
        for index in range(self._connect, self._inbox):  # Connect, logon
            self._send(index)

    def _send(self, index: int) -> None:
        raw = substitute(self._requests[index], self._jar, self._host)
        assert self._conn.sock is not None
        self._conn.sock.sendall(raw)
        response = http.client.HTTPResponse(self._conn.sock, method="POST")
        response.begin()
        response.read()
        if response.status != 200 or response.getheader("X-ResponseCode") != "0":
            raise RuntimeError(f"the emulator answered {response.status} "
                               f"X-ResponseCode {response.getheader('X-ResponseCode')}")
        remember(self._jar, response.headers.get_all("Set-Cookie") or [])

    def inbox(self) -> float:
        """Seconds for one Inbox Execute, sent to its answer's last byte."""
        started = time.perf_counter()
        self._send(self._inbox)
        return time.perf_counter() - started

    def close(self) -> None:
        self._send(self._disconnect)
        self._conn.close()


def _ready(requests: list[bytes], size: int) -> tuple[Emulator, InboxClient, float, float]:
    """Start an emulator with ``size`` items and answer one Inbox request: the emulator,
    its client, seconds to listening, and seconds to the first Inbox answer (work an
    emulator defers to its first request counts as start-up)."""
    started = time.perf_counter()
    emulator = start_emulator(config_text(items=size))
    listening = time.perf_counter() - started
    try:
        client = InboxClient(int(emulator.url.rsplit(":", 1)[1]), requests)
        client.inbox()
    except BaseException:
        emulator.stop()
        raise
    return emulator, client, listening, time.perf_counter() - started


def case_emulator(h: Harness) -> CaseResult:
    result = CaseResult("emulator", "5. Emulator: Inbox request (5 rows) and start-up")
    (requests,) = h.record(config_text(), lambda emu, port: h.probe_args(
        *url_args(emu, port=port)))
    listening: dict[int, list[float]] = {size: [] for size in SIZES}
    ready: dict[int, list[float]] = {size: [] for size in SIZES}
    times: dict[int, list[float]] = {size: [] for size in SIZES}
    emulators, clients = [], []
    try:
        for size in SIZES:
            emulator, client, listen, first = _ready(requests, size)
            emulators.append(emulator)
            clients.append(client)
            listening[size].append(listen)
            ready[size].append(first)
        for _ in range(h.n):
            for size, client in zip(SIZES, clients, strict=True):
                times[size].append(client.inbox())
        for client in clients:
            client.close()
    finally:
        for emulator in emulators:
            emulator.stop()
    for _ in range(0 if h.quick else 2):  # more start-ups of the largest, one at a time
        emulator, client, listen, first = _ready(requests, SIZES[-1])
        client.close()
        emulator.stop()
        listening[SIZES[-1]].append(listen)
        ready[SIZES[-1]].append(first)
    base = summarize(times[SIZES[0]])
    for size in SIZES:
        inbox = summarize(times[size])
        ratio = inbox.median / base.median
        result.add(f"Inbox request, {size:,} items", _ms(inbox),
                   f"{SIZES[0]} items: {_ms(base)}", ratio_text(ratio),
                   Budget(f"emulator Inbox request at {size:,} items vs {SIZES[0]}", ratio, 2.0)
                   if size == SIZES[-1] else None)
    for size in (SIZES[0], SIZES[-1]):
        up = summarize(ready[size])
        result.add(f"start-up to the first Inbox answer, {size:,} items", up.text(),
                   f"of which listening: {summarize(listening[size]).text()}", "-",
                   Budget(f"emulator start-up at {size:,} items", up.median, 1.0, " s",
                          strict=True) if size == SIZES[-1] else None)
    result.notes.append(
        "Emulator: Inbox requests are timed in-process over one keep-alive connection "
        f"(n={h.n} per size, round-robin across sizes); start-up runs from loading the "
        "configuration to the first Inbox answer (Connect and logon included), so work "
        f"deferred to the first request counts; {1 if h.quick else 3} start-up(s) at "
        f"{SIZES[-1]:,} items.")
    return result


def _ms(value: Summary) -> str:
    return f"{value.median * 1000:.2f} ms ({value.p25 * 1000:.2f}-{value.p75 * 1000:.2f})"


def case_requests(h: Harness) -> CaseResult:
    result = CaseResult("requests", "6. Requests per probe (Autodiscover + MAPI, loopback)")
    methods = {
        "basic": ["--auth", "basic", "--password-file", str(h.password_file)],
        "ntlm": ["--auth", "ntlm", "--password-file", str(h.password_file)],
        "bearer": ["--auth", "bearer", "--token-file", str(h.token_file)]}
    probes = 2
    for method, auth in methods.items():
        emulator = start_emulator(config_text(methods=(method,)))
        try:
            args = ["-m", SMTP, *auth, "--autodiscover-url", emulator.autodiscover_url]
            runs = {method: [h.check_mapi(*args) for _ in range(probes)]}
            stats = emulator.stats()
            imports = h.run_python("-X", "importtime", "-m", "check_mapi", *args)
        finally:
            emulator.stop()
        require_ok(runs)
        per = {"requests": stats.total_requests / probes,
               "connections": stats.tcp_connections / probes,
               "handshakes": stats.auth_handshakes / probes,
               "challenges": stats.auth_challenges / probes}
        result.add(f"{method}: per probe", (
            f"{per['requests']:g} requests ({_kinds(stats.requests, probes)}), "
            f"{per['connections']:g} TCP connection(s), {per['handshakes']:g} auth "
            f"handshake(s), {per['challenges']:g} 401 challenge(s)"))
        if method == "basic":
            result.add("basic: requests per probe", f"{per['requests']:g}", "-", "-",
                       Budget("basic probe requests (Autodiscover + 4)", per["requests"], 5, ""))
            result.add("basic: TCP connections per probe", f"{per['connections']:g}", "-", "-",
                       Budget("basic probe TCP connections", per["connections"], 1, ""))
        heavy = _heavy_imports(imports)
        result.add(f"{method}: msal/pyspnego modules imported", str(len(heavy)),
                   ", ".join(heavy[:3]) or "-", "-",
                   Budget(f"{method} run imports msal/pyspnego modules", len(heavy), 0, "")
                   if method == "basic" else None)
        if method == "ntlm":
            ratio = per["handshakes"] / per["connections"]
            result.add("ntlm: handshakes per TCP connection", f"{ratio:g}", "-", "-",
                       Budget("ntlm handshakes per TCP connection", ratio, 1, ""))
        result.add(f"{method}: sessions left open", str(stats.open_sessions), "-", "-",
                   Budget(f"{method} sessions left open", stats.open_sessions, 0, ""))
    return result


def _kinds(requests: dict[str, int], probes: int) -> str:
    return ", ".join(f"{k} {v / probes:g}" for k, v in sorted(requests.items()))


def _heavy_imports(run: Run) -> list[str]:
    if run.code != 0:
        raise RuntimeError(f"the -X importtime run failed: {run.stdout.strip()[:300]}")
    found = []
    for line in run.stderr.splitlines():
        name = line.rsplit("|", 1)[-1].strip()
        if name.split(".")[0] in ("msal", "spnego"):
            found.append(name)
    return found
