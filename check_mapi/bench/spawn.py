"""A small process that starts the measured children, so that their peak RSS is theirs.

Linux carries a process's peak RSS across ``exec``: a child forked from the benchmark
(tens of MB, with its emulators) would report at least the benchmark's own peak. This
script runs as a separate interpreter without ``site`` (a few MB), reads one JSON job per
line on stdin, forks and execs it, and answers with the child's wall time and rusage from
``os.wait4``. Standard library only; the benchmark runs it by path.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def run(job: dict[str, object]) -> dict[str, float | int]:
    argv = [str(a) for a in job["argv"]]  # type: ignore[attr-defined]
    env = {str(k): str(v) for k, v in job["env"].items()}  # type: ignore[attr-defined]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: its files, its folder, then the program
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            out = os.open(str(job["out"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            err = os.open(str(job["err"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            for source, target in ((null, 0), (out, 1), (err, 2)):
                os.dup2(source, target)
            os.chdir(str(job["cwd"]))
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
    signal.setitimer(signal.ITIMER_REAL, float(job["timeout"]))  # type: ignore[arg-type]
    _, status, usage = os.wait4(pid, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    return {"wall": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime,
            "max_rss_kb": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}


def main() -> int:
    for line in sys.stdin:
        sys.stdout.write(json.dumps(run(json.loads(line))) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
