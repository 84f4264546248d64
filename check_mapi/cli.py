"""Command line of the ``check_mapi`` plugin.

The logon probe itself arrives with its own issue; until then the command answers
``--version`` and ``--help`` and reports UNKNOWN, as a plugin must for anything it
cannot check.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .errors import ServiceState


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 (CRITICAL to a monitoring core) on errors: make that UNKNOWN."""

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            sys.stdout.write(message)
        sys.exit(ServiceState.UNKNOWN)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(ServiceState.UNKNOWN, f"MAPI UNKNOWN - {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="check_mapi",
                     description="Log on to an Exchange mailbox over MAPI over HTTP.")
    parser.add_argument("-V", "--version", action="version",
                        version=f"check_mapi {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    build_parser().parse_args(argv)
    sys.stdout.write("MAPI UNKNOWN - the logon probe is not part of this version yet\n")
    sys.exit(ServiceState.UNKNOWN)
