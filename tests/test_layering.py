"""The layering is a contract: the table of allowed imports, and what a run really loads.

Every import statement in check_mapi (lazy ones inside functions included) is checked
against ``ALLOWED``: which parts of check_mapi a part may import, and which third-party
libraries it may use. Subprocess tests then check what the cheap paths and a Basic run
actually load.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import check_mapi

PACKAGE = Path(check_mapi.__file__).parent
BASE = ("check_mapi.errors", "check_mapi.values")  # every part may use these (and the root)

# part of check_mapi -> the parts of check_mapi it may import (prefixes), top layer first
ALLOWED: dict[str, tuple[str, ...]] = {
    # the benchmark runs check_mapi as processes; in-process only the emulator
    # (and the kernel's time stamps, standard library only, which its proxy reads too)
    "check_mapi.bench": ("check_mapi.bench", "check_mapi.emulator",
                         "check_mapi.transport.stamps"),
    "check_mapi.plugin.demo": ("check_mapi.emulator", "check_mapi.plugin.login",
                               "check_mapi.settings", "check_mapi.auth.oauth"),
    "check_mapi.plugin": ("check_mapi.plugin", "check_mapi.cli", "check_mapi.output",
                          "check_mapi.auth.oauth",
                          "check_mapi.evaluate", "check_mapi.probe.driver",
                          "check_mapi.probe.result", "check_mapi.transport.client",
                          "check_mapi.transport.errors", "check_mapi.settings",
                          "check_mapi.evaluation", "check_mapi.deadline",
                          "check_mapi.resolver"),
    "check_mapi.cli": ("check_mapi.cli", "check_mapi.settings", "check_mapi.metrics",
                       "check_mapi.resolver"),
    "check_mapi.output": ("check_mapi.output", "check_mapi.evaluation"),
    "check_mapi.evaluate": ("check_mapi.evaluate", "check_mapi.probe.result",
                            "check_mapi.transport.facts",
                            "check_mapi.autodiscover.record", "check_mapi.evaluation",
                            "check_mapi.settings", "check_mapi.metrics", "check_mapi.wire"),
    "check_mapi.probe.result": ("check_mapi.autodiscover.record", "check_mapi.resolver",
                                "check_mapi.autodiscover.verdict", "check_mapi.settings",
                                "check_mapi.transport.facts"),
    "check_mapi.transport.facts": (),
    "check_mapi.probe": ("check_mapi.probe", "check_mapi.autodiscover", "check_mapi.auth",
                         "check_mapi.exo", "check_mapi.resolver",
                         "check_mapi.transport.client", "check_mapi.wire",
                         "check_mapi.settings", "check_mapi.deadline"),
    "check_mapi.autodiscover": ("check_mapi.autodiscover", "check_mapi.transport.client",
                                "check_mapi.auth", "check_mapi.statefile",
                                "check_mapi.transport.facts", "check_mapi.resolver",
                                "check_mapi.deadline"),
    "check_mapi.exo": ("check_mapi.exo", "check_mapi.auth.msal_http", "check_mapi.deadline",
                       "check_mapi.statefile", "check_mapi.resolver"),
    "check_mapi.auth": ("check_mapi.auth", "check_mapi.settings", "check_mapi.deadline",
                        "check_mapi.statefile"),
    "check_mapi.transport": ("check_mapi.transport", "check_mapi.wire", "check_mapi.settings",
                             "check_mapi.deadline"),
    "check_mapi.wire": ("check_mapi.wire",),
    "check_mapi.emulator": ("check_mapi.emulator", "check_mapi.wire", "check_mapi.metrics"),
    "check_mapi.settings": ("check_mapi.resolver",),
    "check_mapi.evaluation": (),
    "check_mapi.statefile": (),
    "check_mapi.metrics": (),
    "check_mapi.deadline": (),
    "check_mapi.resolver": (),
    "check_mapi.errors": (),
    "check_mapi.values": (),
    "check_mapi.__main__": ("check_mapi.plugin.main",),
    "check_mapi": (),
}
# third-party library -> the parts that may import it; anything else must be stdlib
THIRD_PARTY: dict[str, tuple[str, ...]] = {
    # and the benchmark's replay script, which measures httpx alone in a child process
    "httpx": ("check_mapi.transport", "check_mapi.auth", "check_mapi.bench.replay"),
    "httpcore": ("check_mapi.transport",),
    "spnego": ("check_mapi.auth", "check_mapi.emulator", "check_mapi.transport"),
    "gssapi": ("check_mapi.auth",),
    "msal": ("check_mapi.auth", "check_mapi.exo.adminapi"),
    "dns": ("check_mapi.autodiscover.discovery",),
    "cryptography": ("check_mapi.transport", "check_mapi.auth", "check_mapi.emulator",
                     "check_mapi.evaluate", "check_mapi.exo.adminapi"),
    "tomli": ("check_mapi.emulator",),
    "jwt": ("check_mapi.emulator",),
    "typing_extensions": ("check_mapi.values",),  # under TYPE_CHECKING only: for mypy
    "certifi": ("check_mapi.transport.tls",),  # httpx's CA bundle, loaded when first used
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str) -> set[str]:
    """Every module an import statement of ``path`` names, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                # ``from .. import x``: x may be a module of that package
                found.update(f"{target}.{a.name}" if _is_module(f"{target}.{a.name}")
                             else target for a in node.names)
            else:
                found.add(node.module or "")
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative).is_dir()


def rule_for(module: str) -> str:
    """The most specific row of ALLOWED for ``module``."""
    rows = [k for k in ALLOWED if module == k or module.startswith(k + ".")]
    assert rows, f"{module} has no row in the layering table"
    return max(rows, key=len)


def violations(module: str, imports: set[str]) -> list[str]:
    allowed = (*ALLOWED[rule_for(module)], *BASE)
    found = []
    for name in imports:
        top = name.split(".")[0]
        if top == "check_mapi":
            if name in ("check_mapi", *BASE) or any(
                    name == a or name.startswith(a + ".") for a in allowed):
                continue
            found.append(f"{module} imports {name}")
        elif top == "__future__" or top in sys.stdlib_module_names:
            continue
        elif not any(module == p or module.startswith(p + ".")
                     for p in THIRD_PARTY.get(top, ())):
            found.append(f"{module} imports {top}")
    return found


def test_every_import_follows_the_table() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    problems = []
    for path in files:
        module = module_name(path)
        problems += violations(module, imported_modules(path, module))
    assert problems == []


def test_the_table_refuses_what_it_must(tmp_path: Path) -> None:
    """The checker itself: an upward import, httpx outside the transport, the emulator."""
    assert violations("check_mapi.cli.options", {"httpx"}) == [
        "check_mapi.cli.options imports httpx"]
    assert violations("check_mapi.cli.parser", {"check_mapi.probe.driver"}) != []
    assert violations("check_mapi.wire.bodies", {"check_mapi.transport.client"}) != []
    assert violations("check_mapi.evaluate.outcome", {"check_mapi.probe.driver"}) != []
    assert violations("check_mapi.plugin.runner", {"check_mapi.emulator"}) != []
    assert violations("check_mapi.probe.driver", {"nagiosplugin"}) != []
    assert violations("check_mapi.plugin.demo", {"check_mapi.emulator"}) == []
    bad = tmp_path / "bad.py"
    bad.write_text("import httpx\nfrom ..probe import x\nfrom . import codes\n")
    assert imported_modules(bad, "check_mapi.wire.bad") >= {"httpx", "check_mapi.probe"}


def test_modules_stay_small() -> None:
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {m: n for m, n in sizes.items() if n > 400} == {}


def test_every_package_says_what_it_owns() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        assert ast.get_docstring(tree), f"{init} has no docstring"


# -- what a run really loads ---------------------------------------------------------------

LOADED = """
import json, sys
from check_mapi.plugin.main import run
code, output = run(sys.argv[2:])
with open(sys.argv[1], "w") as handle:
    json.dump({"code": int(code), "output": output, "modules": sorted(sys.modules)}, handle)
"""
HEAVY = ("httpx", "httpcore", "nagiosplugin", "check_mapi.probe", "check_mapi.transport",
         "check_mapi.evaluate", "check_mapi.autodiscover", "check_mapi.emulator", "msal",
         "spnego", "dns")


def loaded(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> dict[str, object]:
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-c", LOADED, str(report), *argv],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **(env or {})})
    assert proc.stderr == ""
    result: dict[str, object] = json.loads(report.read_text())
    return result


def heavy(modules: object) -> list[str]:
    assert isinstance(modules, list)
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["--explain-config", "--org-mapihttp", "true"],
    [], ["-m", "probe@contoso.com", "-w", "bogus"], ["--url", "http://[::1", "-m", "x@y.z"],
    ["-m", "probe@contoso.com", "--password-file", "/nonexistent"]])
def test_cheap_paths_load_no_network_and_no_nagiosplugin(tmp_path: Path,
                                                         argv: list[str]) -> None:
    report = loaded(tmp_path, *argv)
    assert heavy(report["modules"]) == []
    assert report["code"] in (0, 3)


def test_a_basic_run_loads_no_msal_spnego_dns_or_emulator(tmp_path: Path) -> None:
    from check_mapi.emulator import Emulator

    with Emulator() as emulator:
        box = emulator.config.by_smtp("probe@contoso.com")
        assert box is not None and box.password is not None
        report = loaded(tmp_path, "-m", box.smtp, "--autodiscover-url",
                        emulator.autodiscover_url, "--auth", "basic",
                        env={"CHECK_MAPI_PASSWORD": box.password})
    assert str(report["output"]).startswith("MAPI OK - probe@contoso.com logged on in ")
    modules = report["modules"]
    assert isinstance(modules, list)
    assert [m for m in modules if m.split(".")[0] in ("msal", "spnego", "dns")
            or m.startswith("check_mapi.emulator")] == []
    assert "httpx" in modules  # the run did go through the probe
