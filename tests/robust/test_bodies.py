"""Bounded memory whatever a server sends (issue 14): decompression bombs, a 1 GiB body
after a valid start, and a chunk of ``FFFFFFFFFFFFFFFF`` bytes, at Autodiscover and at each
MAPI step. The plugin runs as a whole process; its peak resident set (``os.wait4``) must
stay under ``PEAK_MIB``, it must end well within -t, with one CRITICAL line naming the step
and what was wrong, nothing on stderr.

The five steps of one kind run at once (a process, an emulator and a relay each).
"""

from __future__ import annotations

import copy
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from ..plugin.conftest import SMTP
from .answers import (
    Recoded,
    absurd_chunk_answer,
    bomb,
    bomb_answer,
    huge_answer,
    refused_coding_answer,
)
from .hostile import STEPS, Answer, Rig, Run, run_plugin

PEAK_MIB = 100
TIMEOUT = 20  # -t: generous; the runs must end long before it (WALL)
WALL = 10.0
CODINGS = ("gzip", "deflate", "gzip, gzip")
# What the status line says after "<step> failed: ": Autodiscover has its own smaller cap.
AUTODISCOVER_REASON = r"HTTP 200: response larger than 512 KiB refused"
MAPI_REASON = r"answer from 127\.0\.0\.1 is larger than 4 MiB \(decoded\): refused"


def run_steps(answer: Answer) -> list[tuple[str, Run]]:
    """The plugin against a relay that answers each step in turn with ``answer``."""
    rigs = [Rig(step, copy.copy(answer)) for step in STEPS]
    try:
        with ThreadPoolExecutor(max_workers=len(rigs)) as pool:
            runs = list(pool.map(lambda rig: run_plugin(
                ["-m", SMTP, "--auth", "basic", "--autodiscover-url",
                 rig.relay.autodiscover_url, "-t", str(TIMEOUT)]), rigs))
    finally:
        for rig in rigs:
            rig.stop()
    return list(zip(STEPS, runs, strict=True))


def problems(step: str, run: Run) -> list[str]:
    reason = AUTODISCOVER_REASON if step == "autodiscover" else MAPI_REASON
    found = []
    if run.peak_mib >= PEAK_MIB:
        found.append(f"peak {run.peak_mib:.0f} MiB")
    if run.elapsed > WALL:
        found.append(f"took {run.elapsed:.1f} s")
    if run.code != 2:
        found.append(f"exit {run.code}")
    if run.stderr:
        found.append("stderr not empty")
    if not re.match(rf"MAPI CRITICAL - {re.escape(SMTP)}: {step} failed: {reason}",
                    run.first_line):
        found.append("status line")
    return [f"{step}: {', '.join(found)}\n  {run}"] if found else []


@pytest.mark.parametrize("coding", CODINGS)
def test_decompression_bomb_at_each_step(coding: str) -> None:
    bomb(coding, True), bomb(coding, False)  # built before the clock starts
    report = [line for step, run in run_steps(bomb_answer(coding))
              for line in problems(step, run)]
    assert not report, "\n".join(report)


@pytest.mark.parametrize("answer", [huge_answer, absurd_chunk_answer],
                         ids=["1-GiB-body", "chunk-FFFFFFFFFFFFFFFF"])
def test_huge_body_at_each_step(answer: Answer) -> None:
    report = [line for step, run in run_steps(answer)
              for line in problems(step, run)]
    assert not report, "\n".join(report)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate", "gzip, gzip",
                                    "deflate, gzip"])
def test_compressed_answers_are_still_understood(coding: str) -> None:
    """A server or proxy that compresses although identity was asked is still read."""
    report = []
    for step, run in run_steps(Recoded(coding)):
        if not run.first_line.startswith("MAPI OK - ") or run.code or run.stderr:
            report.append(f"{step}: {run}")
    assert not report, "\n".join(report)


def test_unasked_coding_is_refused_naming_the_step() -> None:
    reason = r"answer from 127\.0\.0\.1 uses Content-Encoding 'br', which was not asked for"
    report = []
    for step, run in run_steps(refused_coding_answer):
        if not re.match(rf"MAPI CRITICAL - {re.escape(SMTP)}: {step} failed: {reason}",
                        run.first_line) or run.code != 2 or run.stderr:
            report.append(f"{step}: {run}")
    assert not report, "\n".join(report)
