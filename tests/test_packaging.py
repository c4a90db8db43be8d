"""Runtime dependencies are exactly what the installed package imports.

Every third-party module imported anywhere in the package (at the top or inside a function)
must come from a runtime dependency, or be an optional one that the code probes first
(``OPTIONAL``); every runtime dependency must be imported by the package.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = [ROOT / d for d in ("exo", "model", "impl", "proofs", "spec", "spec/declarative",
                                     "libos", "kit", "wire", "cli")]

DISTRIBUTION = {"z3": "z3-solver", "hypothesis": "hypothesis", "click": "click",
                "rich": "rich", "matplotlib": "matplotlib", "crosshair": "crosshair-tool",
                "sphinx": "sphinx", "myst_parser": "myst-parser", "distributed": "distributed"}
"""Import name -> distribution name, for the third-party modules the package may use."""

OPTIONAL = {"matplotlib": "bench", "sphinx": "site", "myst_parser": "site",
            "distributed": "cluster"}
"""Imported only after a probe (``exo.cli.bench.plot_available``,
``exo.kit.cluster.missing_extra``); installed by this extra."""


def _requirement_names(reqs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower() for r in reqs}


def imported_top_levels(folders: list[Path] = PACKAGE_DIRS) -> dict[str, set[str]]:
    """Every top-level module the package's files import -> the files importing it."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in folder.glob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(path.name)
    return found


def third_party(found: dict[str, set[str]]) -> set[str]:
    local = {"exo"}
    return {m for m in found if m not in sys.stdlib_module_names and m not in local}


def test_runtime_dependencies_are_exactly_the_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"])
    used = third_party(imported_top_levels())
    unknown = used - DISTRIBUTION.keys()
    assert not unknown, f"imports with no known distribution: {unknown}"
    needed = {DISTRIBUTION[m] for m in used if m not in OPTIONAL}
    assert needed <= runtime, f"imported but not a runtime dependency: {needed - runtime}"
    assert runtime <= needed, f"runtime dependency never imported: {runtime - needed}"
    extras = project["optional-dependencies"]
    for module, extra in OPTIONAL.items():
        assert DISTRIBUTION[module] in _requirement_names(extras[extra])


def test_the_check_sees_function_level_imports(tmp_path: Path) -> None:
    """The scan can fail: an import inside a function is found."""
    (tmp_path / "m.py").write_text("def f() -> None:\n    import crosshair.core\n")
    assert third_party(imported_top_levels([tmp_path])) == {"crosshair"}
