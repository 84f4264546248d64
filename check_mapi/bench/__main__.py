"""``python -m check_mapi.bench [--quick] [--cases ...] [--n N] [--markdown FILE]``.

Progress goes to stderr, the table and the PASS/FAIL lines to stdout. The exit status is
0 even when a budget fails (the benchmark reports; a run on a busy laptop is no verdict on
the code), 1 with ``--strict`` when one does, 2 when the set-up itself fails.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from .cases_emulator import case_emulator, case_requests
from .cases_many import case_many
from .cases_probe import case_floor, case_startup, case_wan
from .harness import Harness
from .install import prepared
from .measure import SPAWNER
from .report import Budget, CaseResult, budget_lines, machine_line, markdown

CASES: dict[str, Callable[[Harness], CaseResult]] = {
    "floor": case_floor, "startup": case_startup, "wan": case_wan, "many": case_many,
    "emulator": case_emulator, "requests": case_requests}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m check_mapi.bench",
        description="Benchmark check_mapi (a wheel of this tree in a non-editable venv) "
                    "against its budgets (issue 12).")
    parser.add_argument("--quick", action="store_true",
                        help="n=5 and fewer repetitions of the slow cases (a smoke test)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES),
                        metavar="CASE", help=f"cases to run (default all: {', '.join(CASES)})")
    parser.add_argument("--n", type=int, default=None,
                        help="runs per variant (default 20, --quick 5)")
    parser.add_argument("--markdown", type=Path, metavar="FILE",
                        help="also write the table to FILE")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a budget fails")
    args = parser.parse_args(argv)
    if args.n is None:
        args.n = 5 if args.quick else 20
    if args.n < 1:
        parser.error("--n must be at least 1")
    return args


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def run_case(name: str, harness: Harness) -> CaseResult:
    """One case; a case that breaks is reported as a failed budget, not a traceback."""
    started = time.perf_counter()
    progress(f"case {name} ...")
    try:
        result = CASES[name](harness)
    except Exception as error:  # noqa: BLE001 - the report goes on with the other cases
        progress("".join(traceback.format_exception_only(error)).strip())
        result = CaseResult(name, f"{name}: did not run")
        result.add(f"{name}: error", str(error).splitlines()[0][:200], "-", "-",
                   Budget(f"{name} case errors", 1, 0, ""))
    progress(f"case {name} done in {time.perf_counter() - started:.1f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    progress("building the wheel and preparing its venv ...")
    try:
        with contextlib.ExitStack() as stack:
            venv = stack.enter_context(prepared())
            progress(f"check_mapi under test: {venv / 'bin' / 'check_mapi'}")
            work = stack.enter_context(tempfile.TemporaryDirectory(prefix="check_mapi-bench-"))
            stack.callback(SPAWNER.close)
            harness = Harness(venv, Path(work), args.n, args.quick)
            results = [run_case(name, harness) for name in args.cases]
    except (OSError, RuntimeError) as error:  # building or installing failed
        print(f"bench: {error}", file=sys.stderr)
        return 2
    table = markdown(results, machine_line(args.n))
    lines = budget_lines(results)
    print(table)
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text(table + "\n" + "\n".join(lines) + "\n")
    return 1 if args.strict and any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
