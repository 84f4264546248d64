"""Runs the plugin: arguments -> plan -> probe -> output, with the last-resort guard.

Anticipated failures are MapiErrors and become a state with a one-line reason; anything
else is a bug, reported as UNKNOWN without a Python class name in the status line (the
traceback follows only with ``-v``). Library warnings and stray stderr writes are
swallowed: Icinga merges stderr into the plugin output.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Sequence
from types import FrameType

from . import resolver
from .config import Plan, expand_extra_opts, resolve
from .errors import ConfigError, ServiceState
from .plugin import render
from .probe import run_probe


class _BackstopError(Exception):
    """Raised by SIGALRM when even our own deadlines did not end the probe."""


def run(parser: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[int, str]:
    """The whole plugin run: (exit code, output)."""
    verbose = sum(a.count("v") for a in argv if a.startswith("-") and set(a[1:]) == {"v"}
                  ) + sum(1 for a in argv if a == "--verbose")
    with _quiet():
        try:
            return _run(parser, argv)
        except ConfigError as err:
            return ServiceState.UNKNOWN, f"MAPI UNKNOWN - {err}\n"
        except _BackstopError as err:
            return ServiceState.CRITICAL, f"MAPI CRITICAL - {err}\n"
        except Exception as err:  # noqa: BLE001 - the last-resort guard for bugs
            detail = "".join(traceback.format_exception(err)) if verbose else ""
            return ServiceState.UNKNOWN, (f"MAPI UNKNOWN - internal error: {err or 'no details'}"
                                          f"\n{detail}")


def _run(parser: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[int, str]:
    expanded = expand_extra_opts(argv, os.environ)
    args = parser.parse_args(expanded)
    if args.explain_config:  # before the probe's checks: needs no mailbox, URL or network
        return _explain_config(args)
    if args.demo:
        from .demo import demo_options  # the emulator is only imported for --demo

        with demo_options(args.mailbox) as endpoint:
            return _probe(resolve(parser.parse_args([*expanded, *endpoint]), os.environ))
    return _probe(resolve(args, os.environ))


def _explain_config(args: argparse.Namespace) -> tuple[int, str]:
    """``--explain-config``: what the MAPI over HTTP settings resolve to, and why."""
    if args.org_mapihttp is None and args.topology is None:
        raise ConfigError("--explain-config needs --org-mapihttp or --topology")
    resolution = resolver.resolve(args.org_mapihttp, args.mailbox_mapihttp,
                                  args.block_external, args.topology)
    lines = resolver.explain(resolution, args.vantage)
    return ServiceState.OK, "".join(f"{line}\n" for line in lines)


def _probe(plan: Plan) -> tuple[int, str]:
    with _alarm(plan.probe.timeout + 2):
        result = run_probe(plan.probe, plan.auth)
    output, code = render(result, plan.thresholds, plan.verbose, plan.show_subjects)
    return code, output


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """A backstop for a probe stuck outside any socket read (main thread only)."""
    def expired(signum: int, frame: FrameType | None) -> None:
        raise _BackstopError(f"check aborted after {seconds:.0f} s")

    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, expired) if usable else None
    if usable:
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if usable:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield
    sys.stderr.flush()
