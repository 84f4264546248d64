"""The codec is pure: check_mapi/wire imports only the standard library and errors."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import check_mapi

WIRE = Path(check_mapi.__file__).parent / "wire"
ALLOWED_PACKAGE_MODULES = {"check_mapi.errors"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    package = "check_mapi.wire"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against check_mapi.wire
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            else:
                found.add(node.module or "")
    return found


def test_wire_imports_only_stdlib_and_errors() -> None:
    files = sorted(WIRE.glob("*.py"))
    assert len(files) >= 10
    offenders = []
    for path in files:
        for module in imported_modules(path):
            top = module.split(".")[0]
            if module.startswith("check_mapi.wire") or module in ALLOWED_PACKAGE_MODULES:
                continue
            if top == "__future__" or top in sys.stdlib_module_names:
                continue
            offenders.append(f"{path.name}: {module}")
    assert offenders == []


def test_the_walker_sees_forbidden_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import httpx\nfrom ..probe import x\nfrom . import codes\n")
    assert imported_modules(bad) == {"httpx", "check_mapi.probe", "check_mapi.wire"}
