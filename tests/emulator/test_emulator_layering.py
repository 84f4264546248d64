"""The emulator uses the codec through its public names only, and no other part of the plugin."""

from __future__ import annotations

import ast
from pathlib import Path

import check_mapi.emulator
import check_mapi.wire

EMULATOR = Path(check_mapi.emulator.__file__).parent
ALLOWED = {"check_mapi.wire", "check_mapi.errors", "check_mapi.metrics", "check_mapi.values"}


def imports(path: Path, package: str = "check_mapi.emulator") -> list[tuple[str, str | None]]:
    """(module, name) for each imported name; name None for ``import module``."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            for alias in node.names:
                if node.module is None:  # "from .. import metrics": a module
                    found.append((f"{module}.{alias.name}", None))
                else:
                    found.append((module, alias.name))
    return found


def offences(path: Path) -> list[str]:
    bad = []
    for module, name in imports(path):
        if not module.startswith("check_mapi") or module.startswith("check_mapi.emulator"):
            continue
        if module not in ALLOWED:
            bad.append(f"{path.name}: {module}")
        elif module == "check_mapi.wire" and name not in (None, *check_mapi.wire.__all__):
            bad.append(f"{path.name}: check_mapi.wire.{name}")
    return bad


def test_emulator_imports_only_public_wire_names_errors_and_metrics() -> None:
    files = sorted(EMULATOR.glob("*.py"))
    assert len(files) >= 10
    assert [bad for path in files for bad in offences(path)] == []


def test_the_walker_sees_private_and_foreign_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from ..wire._buffer import Reader\nfrom ..wire import props, RopId\n"
                   "from ..probe import x\nfrom .. import metrics, runner\nimport check_mapi.cli\n"
                   "from . import store\nimport spnego\n")
    assert offences(bad) == ["bad.py: check_mapi.wire._buffer", "bad.py: check_mapi.wire.props",
                             "bad.py: check_mapi.probe", "bad.py: check_mapi.runner",
                             "bad.py: check_mapi.cli"]


def test_every_public_wire_name_exists() -> None:
    assert all(hasattr(check_mapi.wire, name) for name in check_mapi.wire.__all__)
