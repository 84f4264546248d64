"""Cases 1-3: one probe against its floor, the cheap paths, and a probe over a WAN.

The floor is what the same requests cost with the standard library alone (``replay.py``),
in the same interpreter of the same venv, so that the ratio is check_mapi's own cost:
its imports, its objects, its client library. Both sides are whole processes, run
round-robin.
"""

from __future__ import annotations

import re

from check_mapi.emulator import Emulator

from .harness import Harness, config_text, parse_json, perfdata, require_ok, start_emulator
from .harness import url_args as mapi_args
from .measure import Run, cpus, interleave, summarize, walls
from .proxy import DelayingProxy
from .report import Budget, CaseResult, ratio_text

WAN_DELAY = 0.025  # each way: 50 ms round trip


def _ad_url(port: int, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{port}/autodiscover/autodiscover.xml"


def _port(emulator: Emulator) -> int:
    return int(emulator.url.rsplit(":", 1)[1])


def _versus(result: CaseResult, what: str, runs: list[Run], *, floor: list[Run],
            floor_name: str, limit: float | None) -> None:
    """A wall-time row judged against ``limit`` and its CPU row, both versus the floor."""
    wall, floor_wall = walls(runs), walls(floor)
    ratio = wall.median / floor_wall.median
    budget = Budget(f"{what}, wall vs {floor_name}", ratio, limit) if limit else None
    result.add(f"{what}: wall", wall.text(), f"{floor_name}: {floor_wall.text()}",
               ratio_text(ratio), budget)
    cpu, floor_cpu = cpus(runs), cpus(floor)
    result.add(f"{what}: CPU", cpu.text(), f"{floor_name}: {floor_cpu.text()}",
               ratio_text(cpu.median / floor_cpu.median))


def case_floor(h: Harness) -> CaseResult:
    """(1) A cold ``--url`` Basic probe and an Autodiscover one against their replays."""
    result = CaseResult("floor", "1. One probe vs the standard-library floor (loopback, Basic)")
    text = config_text()
    url_rec = h.record(text, lambda emu, port: h.probe_args(*mapi_args(emu, port=port)))
    ad_rec = h.record(text, lambda emu, port: h.probe_args("--autodiscover-url", _ad_url(port)))
    emulator = start_emulator(text)
    try:
        url_plan = h.write_plan("url", url_rec, _port(emulator))
        ad_plan = h.write_plan("autodiscover", ad_rec, _port(emulator))
        runs = interleave({
            "url": lambda: h.check_mapi(*h.probe_args(*mapi_args(emulator))),
            "url floor": lambda: h.floor(url_plan),
            "autodiscover": lambda: h.check_mapi(
                *h.probe_args("--autodiscover-url", emulator.autodiscover_url)),
            "autodiscover floor": lambda: h.floor(ad_plan)}, h.n)
    finally:
        emulator.stop()
    require_ok(runs)
    counts = (sum(len(c) for c in url_rec), sum(len(c) for c in ad_rec))
    _versus(result, "`--url` probe", runs["url"], floor=runs["url floor"],
            floor_name=f"replay of its {counts[0]} requests", limit=3.0)
    _versus(result, "Autodiscover probe", runs["autodiscover"],
            floor=runs["autodiscover floor"],
            floor_name=f"replay of its {counts[1]} requests", limit=3.0)
    result.add("`--url` probe: peak RSS", summarize([r.max_rss_mb for r in runs["url"]])
               .text("MB", 1), "replay: " + summarize(
                   [r.max_rss_mb for r in runs["url floor"]]).text("MB", 1))
    return result


def case_startup(h: Harness) -> CaseResult:
    """(2) ``--help`` and an argument error against ``python -c 'import argparse'``."""
    result = CaseResult("startup", "2. Cheap paths vs `python -c 'import argparse'`")
    runs = interleave({
        "help": lambda: h.check_mapi("--help"),
        "argument error": lambda: h.check_mapi("-m", "probe@contoso.com", "-w", "bogus"),
        "argparse": lambda: h.run_python("-c", "import argparse")}, h.n)
    require_ok(runs, {"help": 3, "argument error": 3})
    base = walls(runs["argparse"])
    for name, label in (("help", "`--help`"), ("argument error", "argument error (`-w bogus`)")):
        wall = walls(runs[name])
        ratio = wall.median / base.median
        result.add(f"{label}: wall", wall.text(), f"argparse: {base.text()}", ratio_text(ratio),
                   Budget(f"{label} wall vs import argparse", ratio, 2.0))
    return result


def case_wan(h: Harness) -> CaseResult:
    """(3) check_mapi's own total_time vs the floor's through a 25 ms-each-way proxy."""
    result = CaseResult("wan", "3. WAN: 25 ms each way (delaying TCP proxy), `--url` Basic")
    text = config_text()
    rec = h.record(text, lambda emu, port: h.probe_args(*mapi_args(emu, port=port)))
    plain, tls = start_emulator(text), start_emulator(text, h.tls)
    try:
        with DelayingProxy(_port(plain), WAN_DELAY) as near, \
                DelayingProxy(_port(tls), WAN_DELAY) as far:
            plain_plan = h.write_plan("wan", rec, near.port)
            tls_plan = h.write_plan("wan-tls", rec, far.port, cafile=h.tls[0])
            runs = interleave({
                "http": lambda: h.check_mapi(*h.probe_args(*mapi_args(plain, port=near.port),
                                                           "-v")),
                "http floor": lambda: h.floor(plain_plan),
                "https": lambda: h.check_mapi(*h.probe_args(
                    *mapi_args(tls, port=far.port), "--ca-file", str(h.tls[0]), "-v")),
                "https floor": lambda: h.floor(tls_plan)}, h.n)
    finally:
        plain.stop()
        tls.stop()
    require_ok(runs)
    for scheme in ("http", "https"):
        total = summarize([perfdata(r, "total_time") for r in runs[scheme]])
        floor = summarize([parse_json(r)["total_time"] for r in runs[f"{scheme} floor"]])
        ratio = total.median / floor.median
        result.add(f"{scheme}: reported total_time", total.text(),
                   f"floor through the proxy: {floor.text()}", ratio_text(ratio),
                   Budget(f"WAN {scheme} total_time vs floor", ratio, 1.05))
        span = summarize([_wall_span(r) for r in runs[scheme]])
        result.add(f"{scheme}: the probe's wall span (-v: the plugin's work included)",
                   span.text(), f"floor through the proxy: {floor.text()}",
                   ratio_text(span.median / floor.median))
        result.add(f"{scheme}: process wall", walls(runs[scheme]).text(),
                   f"floor: {walls(runs[f'{scheme} floor']).text()}")
    result.notes.append("WAN: total_time is check_mapi's own perfdata: its steps' own "
                        "times added up (TCP connect, TLS handshake, every request to the "
                        "arrival of its answer; not the plugin's work between requests); "
                        "the floor times the span of its replay (TCP connect, TLS handshake, "
                        "every recorded request answered), its little work between requests "
                        "included. The process wall rows hold everything.")
    return result


WALL_SPAN = re.compile(r"^total: [0-9.]+ s in the steps \(total_time\), ([0-9.]+) s with ",
                       re.MULTILINE)


def _wall_span(run: Run) -> float:
    """The probe's wall-clock span from the long output's ``total:`` line (``-v``)."""
    found = WALL_SPAN.search(run.stdout)
    if found is None:
        raise RuntimeError(f"no total: line in {run.stdout[:300]!r}")
    return float(found.group(1))
