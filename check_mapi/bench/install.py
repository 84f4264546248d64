"""The check_mapi under test: a wheel of this source tree in a non-editable virtual env.

Why not the development venv: an editable install adds a path hook that costs every
Python start ~35 ms which no administrator pays. The wheel is built from a copy of the
tree (so ``build/`` never lands in the checkout) with a fixed ``SOURCE_DATE_EPOCH``, which
makes it byte-for-byte reproducible: the venv lives under
``$XDG_CACHE_HOME/check_mapi-bench/<sha256 of the wheel>`` and a second run of an unchanged
tree reuses it (pip takes the dependencies from its cache or the package index once).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
TREE_FILES = ("pyproject.toml", "setup.cfg", "README.md", "LICENSE", "MANIFEST.in")
EPOCH = "315532800"  # 1980-01-01, the oldest time a zip file can hold
COMPLETE = "check_mapi-bench-complete"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus what would let the checkout or the calling venv leak in."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP",
                        "PYTHONDONTWRITEBYTECODE", "CHECK_MAPI_PASSWORD"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "check_mapi-bench"


def build_wheel(workdir: Path, root: Path = ROOT) -> Path:
    """Copy the sources to ``workdir`` and build the wheel there; return its path."""
    source = workdir / "src"
    source.mkdir()
    for name in TREE_FILES:
        if (root / name).exists():
            shutil.copy2(root / name, source / name)
    shutil.copytree(root / "check_mapi", source / "check_mapi",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"))
    out = workdir / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)],
         workdir, "building the wheel")
    (wheel,) = out.glob("*.whl")
    return wheel


def install(wheel: Path) -> tuple[Path, IO[str]]:
    """The venv for ``wheel``, created unless a complete one is cached, and its lock file,
    held shared until the caller closes it (so that no other run prunes it meanwhile)."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:20]
    venv = cache_home() / digest
    venv.parent.mkdir(parents=True, exist_ok=True)
    lock = open(venv.parent / f"{digest}.lock", "w")  # noqa: SIM115 - held by the caller
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent run waits, then reuses it
        if not (venv / COMPLETE).exists():
            shutil.rmtree(venv, ignore_errors=True)
            _run([sys.executable, "-m", "venv", str(venv)], venv.parent, "creating the venv")
            _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                  str(wheel)], venv.parent, "installing the wheel")
            (venv / COMPLETE).write_text(wheel.name + "\n")
        fcntl.flock(lock, fcntl.LOCK_SH)
    except BaseException:
        lock.close()
        raise
    prune(keep=venv)
    return venv, lock


def prune(keep: Path, newest: int = 3) -> None:
    """Remove cached venvs of older trees beyond the ``newest`` few (never one in use:
    a run holds its venv's lock shared)."""
    venvs = sorted((p for p in keep.parent.iterdir() if (p / COMPLETE).exists() and p != keep),
                   key=lambda p: (p / COMPLETE).stat().st_mtime, reverse=True)
    for old in venvs[newest - 1:]:
        with open(old.parent / f"{old.name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a run is installing or reading it
            shutil.rmtree(old, ignore_errors=True)
        (old.parent / f"{old.name}.lock").unlink(missing_ok=True)


@contextlib.contextmanager
def prepared() -> Iterator[Path]:
    """Build the wheel of this tree; yield the (possibly cached) venv holding it."""
    with tempfile.TemporaryDirectory(prefix="check_mapi-bench-build-") as work:
        venv, lock = install(build_wheel(Path(work)))
    with lock:
        yield venv


def _run(argv: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(argv, cwd=cwd, env=clean_env(SOURCE_DATE_EPOCH=EPOCH), text=True,
                          capture_output=True, timeout=900, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{tail}")


