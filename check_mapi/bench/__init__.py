"""The performance benchmark of issue 12: ``python -m check_mapi.bench``.

It builds a wheel of this source tree, installs it into a cached non-editable venv, starts
the emulator in-process, runs every case as whole check_mapi processes interleaved with
their comparison (a standard-library replay of the same requests, ``import argparse``, an
ideal time), and prints one PASS/FAIL line per budget and a Markdown table. It imports
only the emulator and the standard library: the probe runs as a child process, never
in-process, because a check is a fresh process in production.
"""

from __future__ import annotations
