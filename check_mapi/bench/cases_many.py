"""Case 4: 200 mailboxes in one process, each request ~20 ms away, at --parallel 1, 8, 32.

The latency comes from the delaying proxy (10 ms each way), and every parallel probe
waits for it independently: the ideal wall time is ``200 x requests x 20 ms / parallel``
plus one process start. Anything above that is CPU: the plugin's, and the emulator's and
the proxy's, which run in the benchmark's process on the same machine. To tell them apart,
the same requests (recorded from a run of the plugin) are also replayed 32 sessions at a
time without check_mapi: with the standard library, whose wall time is what the emulator
and the proxy allow, and with httpx alone, which is what the plugin's HTTP library costs.

The per-mailbox ``connect_time`` the plugin reports should be the same at every
parallelism (the request's own time); if it grows with --parallel, the plugin counts time
its threads waited for the CPU. Part of it grows for a reason outside the plugin: the
emulator answers 32 requests at once more slowly than one. So the proxy also times each
connection's first exchange (Connect) as the wire saw it, and the budget compares
reported to observed: that ratio must not grow with --parallel.
"""

from __future__ import annotations

import re
import shlex
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path

from check_mapi.emulator import Emulator

from .harness import Harness, config_text, require_ok, start_emulator, url_args
from .measure import Run, cpus, interleave, summarize, walls
from .proxy import DelayingProxy
from .report import Budget, CaseResult, ratio_text

MAILBOXES = 200
DELAY = 0.010  # each way
PARALLEL = (1, 8, 32)
WALL_BUDGET = 1.5  # x the ideal, at PARALLEL[-1]
# the same recorded requests replayed PARALLEL[-1] sessions at a time (replay.py): with the
# standard library alone, and with httpx and nothing of check_mapi
FLOORS = {"stdlib": "the standard library", "httpx": "httpx"}
CONNECT_TIME = re.compile(r"::connect_time=([0-9.]+)s")


def mailbox_file(h: Harness, emulator: Emulator, port: int, count: int,
                 name: str = "mailboxes") -> Path:
    """``count`` mailboxes, each with its URL through ``port`` and its LegacyDN."""
    lines = []
    for i in range(count):
        smtp = f"box{i:03d}@contoso.com"
        url, legacy_dn = url_args(emulator, smtp, port)[1::2]
        lines.append(f"{smtp} url={shlex.quote(url)} legacy-dn={shlex.quote(legacy_dn)}")
    path = h.work / f"{name}-{count}"
    path.write_text("\n".join(lines) + "\n")
    return path


def connect_times(run: Run) -> list[float]:
    return [float(x) for x in CONNECT_TIME.findall(run.stdout)]


def case_many(h: Harness) -> CaseResult:
    result = CaseResult("many", f"4. {MAILBOXES} mailboxes in one process, "
                                f"{DELAY * 2000:.0f} ms per request")
    n = 1 if h.quick else 3
    text = config_text(mailboxes=MAILBOXES, items=3)
    recorded = h.record(text, lambda emu, port: [
        "--mailbox-file", str(mailbox_file(h, emu, port, MAILBOXES, "recorded")),
        "--auth", "basic", "--password-file", str(h.password_file),
        "--parallel", str(PARALLEL[-1]), "-t", "60"])
    emulator = start_emulator(text)
    server_cpu: dict[tuple[int, int], list[float]] = defaultdict(list)
    proxy_cpu: dict[tuple[int, int], list[float]] = defaultdict(list)
    observed: dict[int, list[float]] = defaultdict(list)  # the proxy's Connect spans
    try:
        with DelayingProxy(int(emulator.url.rsplit(":", 1)[1]), DELAY) as proxy:
            files = {count: mailbox_file(h, emulator, proxy.port, count)
                     for count in (1, MAILBOXES)}

            def run(count: int, parallel: int) -> Run:
                before, proxy_before = time.process_time(), proxy.cpu_seconds()
                proxy.first_exchanges.clear()
                done = h.check_mapi("--mailbox-file", str(files[count]), "--auth", "basic",
                                    "--password-file", str(h.password_file), "--parallel",
                                    str(parallel), "-t", "170", timeout=200)
                server_cpu[(count, parallel)].append(time.process_time() - before)
                proxy_cpu[(count, parallel)].append(proxy.cpu_seconds() - proxy_before)
                if count == MAILBOXES:
                    observed[parallel].extend(_spans(proxy, count))
                return done

            emulator.reset_stats()
            single = run(1, 1)
            requests = emulator.stats().total_requests
            variants: dict[str, Callable[[], Run]] = {"single": partial(run, 1, 1)}
            variants.update({f"P{p}": partial(run, MAILBOXES, p) for p in PARALLEL})
            def floor(plan: Path) -> Run:
                proxy.first_exchanges.clear()
                done = h.floor(plan)
                _spans(proxy, MAILBOXES)  # its Connects are not the next plugin run's
                return done

            for client in FLOORS:
                plan = h.write_plan(f"many-{client}", recorded, proxy.port,
                                    threads=PARALLEL[-1], client=client)
                variants[client] = partial(floor, plan)
            runs = interleave(variants, n)
    finally:
        emulator.stop()
    runs["single"].append(single)
    require_ok(runs)
    _report(result, runs, requests, observed)
    _floor_rows(result, runs, requests, sum(len(c) for c in recorded))
    for parallel in PARALLEL:
        result.add(f"--parallel {parallel}: emulator + proxy CPU (benchmark process)",
                   summarize(server_cpu[(MAILBOXES, parallel)]).text(),
                   f"of which the proxy: {summarize(proxy_cpu[(MAILBOXES, parallel)]).text()}")
    result.notes.append(
        f"Many mailboxes: {n} run(s) per variant (a --parallel 1 run takes ~"
        f"{MAILBOXES * requests * DELAY * 2:.0f} s); ideal = {MAILBOXES} x {requests} requests "
        f"x {DELAY * 2000:.0f} ms / parallel + one process start (the single-mailbox run's "
        f"wall minus its own {requests} round trips). \"Must not inflate\": the reported "
        f"connect_time over the proxy's view of the same Connect (from the kernel's arrival "
        f"time of the request to writing the last byte of the answer, delays and the "
        f"emulator's queueing included) may grow at most 1.5x from --parallel 1 to "
        f"{PARALLEL[-1]}; the raw growth of connect_time, the emulator's slowdown under "
        f"load included, is shown beside it. The replay rows send the requests of one "
        f"recorded --parallel {PARALLEL[-1]} run again, {PARALLEL[-1]} sessions at a time, "
        f"each with the cookies of its own Connect, through the same proxy: with the "
        f"standard library alone, and with httpx alone.")
    return result


def _spans(proxy: DelayingProxy, count: int) -> list[float]:
    """The proxy's Connect spans of the run just ended (its last connections close a
    moment after the plugin's exit)."""
    until = time.monotonic() + 2
    while len(proxy.first_exchanges) < count and time.monotonic() < until:
        time.sleep(0.01)
    return list(proxy.first_exchanges)


def _ideal(runs: dict[str, list[Run]], requests: int, parallel: int) -> float:
    """Every mailbox's round trips, ``parallel`` at a time, plus one process start (the
    single-mailbox run's wall minus its own round trips)."""
    start = max(walls(runs["single"]).median - requests * DELAY * 2, 0.0)
    return MAILBOXES * requests * DELAY * 2 / parallel + start


def _report(result: CaseResult, runs: dict[str, list[Run]], requests: int,
            observed: dict[int, list[float]]) -> None:
    single_wall, single_cpu = walls(runs["single"]), cpus(runs["single"])
    result.add("1 mailbox (file of one), wall / CPU",
               f"{single_wall.text()} / {single_cpu.text()}", f"{requests} requests")
    medians: dict[int, float] = {}
    for parallel in PARALLEL:
        series = runs[f"P{parallel}"]
        ideal = _ideal(runs, requests, parallel)
        wall, cpu = walls(series), cpus(series)
        ratio = wall.median / ideal
        judged = parallel == PARALLEL[-1]
        result.add(f"--parallel {parallel}: wall", wall.text(), f"ideal {ideal:.3f} s",
                   ratio_text(ratio),
                   Budget(f"{MAILBOXES} mailboxes --parallel {parallel} wall vs ideal",
                          ratio, WALL_BUDGET) if judged else None)
        cpu_ratio = cpu.median / single_cpu.median
        result.add(f"--parallel {parallel}: CPU ({cpu.median / MAILBOXES * 1000:.1f} ms "
                   "per mailbox)", cpu.text(), f"1 mailbox: {single_cpu.text()}",
                   ratio_text(cpu_ratio),
                   Budget(f"{MAILBOXES} mailboxes --parallel {parallel} CPU vs one mailbox",
                          cpu_ratio, 10.0) if judged else None)
        rss = summarize([r.max_rss_mb for r in series])
        result.add(f"--parallel {parallel}: peak RSS", rss.text("MB", 1), "-", "-",
                   Budget(f"{MAILBOXES} mailboxes --parallel {parallel} peak RSS",
                          rss.median, 150, " MB", strict=True) if judged else None)
        times = [t for r in series for t in connect_times(r)]
        if len(times) < MAILBOXES * len(series):
            raise RuntimeError(f"--parallel {parallel}: {len(times)} connect times reported")
        medians[parallel] = statistics.median(times)
    _connect_rows(result, medians, observed)


def _floor_rows(result: CaseResult, runs: dict[str, list[Run]], requests: int,
                replayed: int) -> None:
    """What the same requests cost at --parallel 32 without check_mapi: whether the wall
    budget can be met at all on this machine, with the HTTP library the plugin uses."""
    ideal = _ideal(runs, requests, PARALLEL[-1])
    plugin = walls(runs[f"P{PARALLEL[-1]}"]).median
    ratios = {}
    for client, name in FLOORS.items():
        wall, cpu = walls(runs[client]), cpus(runs[client])
        ratios[client] = wall.median / ideal
        result.add(f"{name}: replay of the same {replayed} requests, {PARALLEL[-1]} "
                   f"sessions at a time: wall / CPU", f"{wall.text()} / {cpu.text()}",
                   f"ideal {ideal:.3f} s; check_mapi {plugin:.3f} s",
                   ratio_text(ratios[client]))
    floor = ratios["stdlib"]
    result.add(f"can this machine meet the --parallel {PARALLEL[-1]} wall budget?",
               "yes" if floor <= WALL_BUDGET else
               f"no: the same requests without check_mapi already take {floor:.2f}x the "
               "ideal (the emulator and the proxy share its cores)",
               f"check_mapi vs httpx alone: {plugin / walls(runs['httpx']).median:.2f}x")


def _connect_rows(result: CaseResult, reported: dict[int, float],
                  observed: dict[int, list[float]]) -> None:
    """Reported connect_time against the proxy's view of the same exchange: the budget is
    on how that ratio grows with --parallel; the raw growth is shown beside it."""
    accounting: dict[int, float] = {}
    for parallel in PARALLEL:
        if not observed[parallel]:
            raise RuntimeError(f"--parallel {parallel}: the proxy timed no Connect")
        wire = statistics.median(observed[parallel])
        accounting[parallel] = reported[parallel] / wire
        result.add(f"--parallel {parallel}: median connect_time, reported / on the wire",
                   f"{reported[parallel] * 1000:.1f} ms / {wire * 1000:.1f} ms",
                   f"{len(observed[parallel])} Connects timed by the proxy",
                   ratio_text(accounting[parallel]))
    for parallel in PARALLEL[1:]:
        judged = parallel == PARALLEL[-1]
        result.add(f"--parallel {parallel}: median reported connect_time",
                   f"{reported[parallel] * 1000:.1f} ms",
                   f"--parallel 1: {reported[1] * 1000:.1f} ms",
                   ratio_text(reported[parallel] / reported[1]))
        growth = accounting[parallel] / accounting[1]
        result.add(f"--parallel {parallel}: reported / on the wire, vs --parallel 1",
                   ratio_text(accounting[parallel]), f"--parallel 1: "
                   f"{ratio_text(accounting[1])}", ratio_text(growth),
                   Budget(f"connect_time (reported / on the wire) at --parallel {parallel} "
                          "vs --parallel 1", growth, 1.5) if judged else None)
