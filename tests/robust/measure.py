"""``python measure.py RESULT -- COMMAND...``: run COMMAND, write its peak resident set
(KiB) and exit status to the file RESULT, exit as it did.

Why a go-between: on Linux a process's ``ru_maxrss`` keeps the high-water mark of the
memory it had before ``exec``, and a child forked from the test process starts as a copy of
it (pytest with emulators: 60-200 MB). COMMAND forked from this small interpreter measures
only what COMMAND itself used. Standard library only; stdin, stdout and stderr pass through.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    result, separator, command = argv[0], argv[1], argv[2:]
    if separator != "--" or not command:
        raise SystemExit("usage: measure.py RESULT -- COMMAND...")
    pid = os.posix_spawnp(command[0], command, dict(os.environ))
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w", encoding="utf-8") as out:
        json.dump({"maxrss_kib": usage.ru_maxrss, "code": code}, out)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
