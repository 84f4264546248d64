"""The package as administrators get it: an sdist and a wheel built by ``python -m build``,
the wheel installed into a clean virtual environment, and ``check_mapi --demo`` run from it.

Why: the README's quick start is an editable install of the working tree, which hides a
module missing from the wheel, test files shipped into production, or an import that only
works because the checkout is on the path. The build runs on a copy of the working tree
(so concurrent runs never share ``build/`` or ``*.egg-info``) and builds the wheel from
the sdist, which proves the sdist is complete. pip fetches the build backend and the
dependencies from its cache or index. Slow (tens of seconds), still part of the default run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import check_mapi

ROOT = Path(__file__).resolve().parent.parent
VERSION = check_mapi.__version__
SDIST_REQUIRED = {"README.md", "LICENSE", "setup.cfg", "pyproject.toml", "PKG-INFO"}
SDIST_ALLOWED_TOP = SDIST_REQUIRED | {"MANIFEST.in", "check_mapi", "check_mapi.egg-info",
                                      "tests", "contrib"}
DEMO_FIRST_LINE = re.compile(
    r"^MAPI OK - probe@contoso\.com logged on in \d+\.\d\d s, Inbox 3 items \| ")
# Working-tree entries that are never sources: virtual environments, caches, build output.
ROOT_SKIP = {"build", "dist", "check_mapi.egg-info", "__pycache__"}

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Artifacts:
    """What one ``python -m build`` produced, next to the tree it was built from."""

    source: Path
    wheel: Path
    sdist: Path


def _clean_env() -> dict[str, str]:
    """The environment minus what would let the checkout or this venv leak into a child."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(argv: list[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=_clean_env(), text=True,
                          capture_output=True, timeout=timeout, check=False)


def _ignore(directory: str, names: list[str]) -> set[str]:
    """copytree filter: at the root, dot entries (.git, .venv, .ci/venv, caches) and build
    output; everywhere, byte code."""
    skip = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))}
    if Path(directory).resolve() == ROOT:
        skip |= {n for n in names if n.startswith(".") or n in ROOT_SKIP}
    return skip


def _files(folder: Path) -> set[str]:
    """Relative paths of the files under folder (byte code and caches excluded)."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """Copy the working tree, then build the sdist and, from it, the wheel."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "src"
    shutil.copytree(ROOT, source, ignore=_ignore)
    out = base / "dist"
    proc = _run([sys.executable, "-m", "build", "--outdir", out, source], cwd=base, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert sorted(p.name for p in out.iterdir()) == [
        f"check_mapi-{VERSION}-py3-none-any.whl", f"check_mapi-{VERSION}.tar.gz"]
    return Artifacts(source, out / f"check_mapi-{VERSION}-py3-none-any.whl",
                     out / f"check_mapi-{VERSION}.tar.gz")


def test_wheel_holds_the_package_only(artifacts: Artifacts) -> None:
    names = set(zipfile.ZipFile(artifacts.wheel).namelist())
    dist_info = f"check_mapi-{VERSION}.dist-info/"
    assert {n for n in names if not n.startswith(("check_mapi/", dist_info))} == set()
    package = {n.removeprefix("check_mapi/") for n in names if n.startswith("check_mapi/")}
    assert package == _files(artifacts.source / "check_mapi")
    assert "py.typed" in package
    entry_points = zipfile.ZipFile(artifacts.wheel).read(f"{dist_info}entry_points.txt")
    assert "check_mapi = check_mapi.plugin.main:main" in entry_points.decode()


def test_sdist_holds_sources_tests_and_contrib(artifacts: Artifacts) -> None:
    prefix = f"check_mapi-{VERSION}/"
    with tarfile.open(artifacts.sdist) as tar:
        names = {m.name.removeprefix(prefix) for m in tar.getmembers() if m.isfile()}
    assert {n for n in names if "__pycache__" in n or n.endswith(".pyc")} == set()
    assert names >= SDIST_REQUIRED
    assert {n.split("/")[0] for n in names} <= SDIST_ALLOWED_TOP
    for folder in ("check_mapi", "tests", "contrib"):
        shipped = {n.removeprefix(f"{folder}/") for n in names if n.startswith(f"{folder}/")}
        assert shipped == _files(artifacts.source / folder), folder


def test_wheel_in_a_clean_venv_runs_the_demo(artifacts: Artifacts, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made = _run([sys.executable, "-m", "venv", venv], cwd=elsewhere, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    pip = _run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", artifacts.wheel],
               cwd=elsewhere, timeout=600)
    assert pip.returncode == 0, pip.stdout[-4000:] + pip.stderr[-4000:]

    demo = _run([venv / "bin" / "check_mapi", "--demo"], cwd=elsewhere, timeout=60)
    assert (demo.returncode, demo.stderr) == (0, ""), demo.stdout + demo.stderr
    assert DEMO_FIRST_LINE.match(demo.stdout.splitlines()[0]), demo.stdout

    where = _run([venv / "bin" / "python", "-c",
                  "import check_mapi, sysconfig; print(check_mapi.__file__); "
                  "print(sysconfig.get_paths()['purelib']); print(check_mapi.__version__)"],
                 cwd=elsewhere, timeout=60)
    assert where.returncode == 0, where.stderr
    module, purelib, version = where.stdout.splitlines()
    assert Path(purelib).resolve().is_relative_to(venv.resolve())
    assert Path(module).resolve() == Path(purelib).resolve() / "check_mapi" / "__init__.py"
    assert not Path(module).resolve().is_relative_to(ROOT)
    assert version == VERSION
